"""Picks the module of fused kernels (BatchNorm, SGD): the Numba loops (``_fused_numba.py``)
or their NumPy twins (``_fused_numpy.py``), which have the same signatures.

The policy is the one kernel loader's (``_backend.py``: ``CONVOLVE_KERNELS``), so one
environment variable switches every kernel; ``kernels(backend)`` forces one.
"""

from __future__ import annotations

from . import _backend, _fused_numpy


def kernels(backend: str | None = None):
    """The fused-kernel module: ``backend`` 'numba' or 'numpy', or None for the policy
    (Numba when it loads)."""
    if backend is None:
        return _backend.load("fused") or _fused_numpy
    if backend not in ("numba", "numpy"):
        raise ValueError(f"_fused.kernels: backend must be 'numba', 'numpy' or None, "
                         f"received {backend!r}")
    return (_backend.load("fused") if backend == "numba" else None) or _fused_numpy
