"""The one loader of compiled kernels: ``load(name)`` returns a Numba kernel module, or None
where the caller uses that module's NumPy twin. One policy for every kernel family (conv
col2im, Winograd transforms, depthwise, ReLU / pooling / Adam loops): a module is imported
on first use and kept; it is None when Numba is missing, or when the environment variable
``CONVOLVE_KERNELS`` is 'numpy' (read on each call; 'numba' or 'auto', the default, load).

Both tiers give the same results (each kernel is tested against its twin); compiled code
is cached on disk by Numba.
"""

from __future__ import annotations

import importlib
import os

MODULES = {
    "loops": "convolve.functional._numba_loops",
    "conv_col2im": "convolve.functional.conv.engines._col2im_kernels",
    "winograd": "convolve.functional.conv.engines._winograd_kernels",
    "depthwise": "convolve.functional.conv.engines._depthwise_kernels",
    "fused": "convolve.functional._fused_numba",
}
_loaded = {}  # name -> module, or False when it cannot be imported (Numba missing)


def mode() -> str:
    """'numpy' when CONVOLVE_KERNELS asks for the NumPy twins, else 'numba'."""
    value = os.environ.get("CONVOLVE_KERNELS", "auto").strip().lower()
    return "numpy" if value == "numpy" else "numba"


def load(name: str):
    """The compiled kernel module ``name`` (a key of MODULES), or None: use the NumPy twin."""
    if name not in MODULES:
        raise ValueError(f"_backend.load: unknown kernel module {name!r}, expected one of "
                         f"{sorted(MODULES)}")
    if mode() == "numpy":
        return None
    mod = _loaded.get(name)
    if mod is None:
        try:
            mod = importlib.import_module(MODULES[name])
        except ImportError:
            mod = False
        _loaded[name] = mod
    return mod or None


def available(name: str) -> bool:
    """Whether ``load(name)`` gives a compiled module now."""
    return load(name) is not None
