"""Allocator tuning: keep freed activation memory in the process instead of returning it.

A training step allocates and frees the same large arrays (activations, column
blocks, gradients) every iteration. With glibc's defaults, arrays over the mmap
threshold are mapped fresh and unmapped on free, and the heap top is trimmed, so
every step pays thousands of page faults (measured: a quarter of a LeNet-5 step
at batch 128 was kernel time zeroing new pages). PyTorch avoids this with its
own allocators; here we ask glibc to serve such arrays from its heap and keep
freed memory for reuse. Peak RSS is unchanged (a step's working set is reused);
memory freed after a peak is kept by the process rather than given back.

Applied once on ``import convolve`` on glibc systems; set the environment
variable ``CONVOLVE_MALLOC_TUNING=0`` to leave the allocator alone.
"""

from __future__ import annotations

import ctypes
import os
import sys

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 256 << 20  # larger allocations are still mapped (and unmapped on free)
TRIM_THRESHOLD = 1 << 30  # free memory at the heap top kept before any is returned

_applied = None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds (once); True when they are in effect.

    A no-op returning False off Linux, on a libc without ``mallopt`` (e.g. musl), or
    when ``CONVOLVE_MALLOC_TUNING`` is set to 0.
    """
    global _applied
    if _applied is None:
        _applied = _apply()
    return _applied


def _apply() -> bool:
    if os.environ.get("CONVOLVE_MALLOC_TUNING", "1").strip() in ("0", "false", "no"):
        return False
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    ok = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
    return bool(mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1 and ok)
