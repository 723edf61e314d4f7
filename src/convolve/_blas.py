"""BLAS thread control for single calls: ``single_blas(fn)`` runs fn on one BLAS thread.

Mid-sized GEMMs (those of LeNet-sized fully-connected layers) gain little from a second
BLAS thread on a quiet machine, and on a busy one a multi-threaded BLAS call waits for
every one of its threads: measured on a 2-core machine shared with another process,
LeNet's fully-connected layers took 50x longer (55 ms per training step instead of 1).
"""

from __future__ import annotations

import os

_state = {"pid": None, "libs": []}


def _libs():
    """threadpoolctl's BLAS lib controllers (cached per process; [] without threadpoolctl)."""
    if _state["pid"] != os.getpid():  # a forked child looks again
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            libs = []
        else:
            libs = ThreadpoolController().select(user_api="blas").lib_controllers
        _state.update(pid=os.getpid(), libs=libs)
    return _state["libs"]


def blas_thread_count() -> int:
    """The largest thread count of the loaded BLAS libraries (1 without threadpoolctl)."""
    return max([c.num_threads for c in _libs()] or [1])


def single_blas(fn):
    """fn() with BLAS limited to one thread (about 2 us to switch there and back)."""
    libs = _libs()
    saved = [c.num_threads for c in libs]
    if all(n == 1 for n in saved):
        return fn()
    for c in libs:
        c.set_num_threads(1)
    try:
        return fn()
    finally:
        for c, n in zip(libs, saved):
            c.set_num_threads(n)
