"""Picks the module of fused kernels: the Numba loops (``_fused_numba.py``) or their NumPy
twins (``_fused_numpy.py``), which have the same signatures.

The policy is ``_kernels``'s (``CONVOLVE_KERNELS``: auto, numba or numpy; in auto mode
the first calls of a process stay on NumPy so short scripts never wait for Numba), so one
environment variable switches every kernel; ``kernels(backend)`` forces one.
"""

from __future__ import annotations

import importlib

from . import _fused_numpy, _kernels

_loaded: dict = {}


def kernels(backend: str | None = None):
    """The fused-kernel module: ``backend`` 'numba' or 'numpy', or None for the policy."""
    if backend is None:
        backend = "numba" if _kernels.kernels() is not None else "numpy"
    if backend == "numpy":
        return _fused_numpy
    if backend != "numba":
        raise ValueError(f"_fused.kernels: backend must be 'numba', 'numpy' or None, "
                         f"received {backend!r}")
    if "numba" not in _loaded:
        try:
            _loaded["numba"] = importlib.import_module("._fused_numba", __package__)
        except ImportError:
            _loaded["numba"] = _fused_numpy
    return _loaded["numba"]
