"""Compiled single-pass loops (Numba) for ReLU, 2x2 max pooling and Adam, tiered like a JIT.

NumPy does these in several (strided) passes; a Numba loop does each in one (measured
2-8x faster on LeNet/CIFAR layer shapes, 10-20% of a LeNet training step). The first
``WARM_CALLS`` eligible calls in a process run the NumPy code, so a short script or the
first training step never waits to compile or load these loops (Numba's import and LLVM
start-up take ~0.5 s, compiling them on a cold cache ~1-2 s more; the compiled code is
cached on disk). Then the loops are loaded and used. Both tiers give the same results
(see ``_numba_loops.py``). Without Numba everything stays on NumPy. (The conv engine
loads its own loops, ``_conv_kernels.py``, through ``_im2col.py``.)

``MODE`` (from the environment variable ``CONVOLVE_KERNELS``): 'auto' (tiered, the
default), 'numba' (from the first call) or 'numpy' (never).
"""

from __future__ import annotations

import importlib
import os

MODE = os.environ.get("CONVOLVE_KERNELS", "auto").strip().lower()
WARM_CALLS = 24  # eligible calls served by NumPy before the loops are loaded (auto mode)

_state = {"calls": 0, "module": None}  # module: None (not loaded), False (unavailable)


def kernels():
    """The module of compiled loops when this call should use them, else None."""
    mod = _state["module"]
    if mod is None:
        if MODE == "numpy" or MODE not in ("auto", "numba"):
            return None
        _state["calls"] += 1
        if MODE == "auto" and _state["calls"] <= WARM_CALLS:
            return None
        mod = _state["module"] = _load()
    if mod is False or MODE == "numpy":
        return None
    return mod


def _load():
    try:
        return importlib.import_module("._numba_loops", __package__)
    except ImportError:
        return False
