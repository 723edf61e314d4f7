"""Splitting one op over the BLAS thread count, robust to a busy machine.

``parallel_map(fn, parts)`` runs ``fn`` on each part on up to ``thread_count()`` threads
(the calling thread included), with BLAS single-threaded meanwhile. The caller takes
parts too, from the same queue as the workers, so when the other cores are busy and a
worker is not scheduled, the caller simply does the remaining parts itself instead of
waiting: no slower than serial code, give or take a part. (Multi-threaded BLAS on a small
matrix, by contrast, waits for every one of its threads; measured on a 2-core machine
shared with another process, LeNet's fully-connected GEMMs took 50x longer.)

``fn`` should spend its time in NumPy / BLAS / ``nogil`` Numba code, which release the GIL.
"""

from __future__ import annotations

import itertools
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_state = {"pid": None, "blas": None, "pool": None, "workers": 0}
_busy = threading.Lock()  # one parallel region at a time; others run serially


def _blas():
    """threadpoolctl's BLAS lib controllers (cached per process; [] without threadpoolctl)."""
    if _state["pid"] != os.getpid():  # a forked child starts afresh
        _state.update(pid=os.getpid(), pool=None, workers=0)
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _state["blas"] = []
        else:
            _state["blas"] = ThreadpoolController().select(user_api="blas").lib_controllers
    return _state["blas"]


def thread_count() -> int:
    """Threads an op may use: BLAS's current thread count (1 without BLAS control)."""
    return max([c.num_threads for c in _blas()] or [1])


def parallel_map(fn, parts: list) -> list:
    """[fn(p) for p in parts], on up to thread_count() threads with BLAS single-threaded."""
    threads = min(len(parts), thread_count())
    if threads < 2 or not _busy.acquire(blocking=False):
        return [fn(p) for p in parts]
    try:
        blas = _blas()
        saved = [c.num_threads for c in blas]
        for c in blas:
            c.set_num_threads(1)
        try:
            return _run(fn, parts, threads)
        finally:
            for c, n in zip(blas, saved):
                c.set_num_threads(n)
    finally:
        _busy.release()


def single_blas(fn):
    """fn() with BLAS limited to one thread (for GEMMs too small to gain from more)."""
    blas = _blas()
    saved = [c.num_threads for c in blas]
    if saved == [1] * len(blas):
        return fn()
    for c in blas:
        c.set_num_threads(1)
    try:
        return fn()
    finally:
        for c, n in zip(blas, saved):
            c.set_num_threads(n)


def _run(fn, parts: list, threads: int) -> list:
    results = [None] * len(parts)
    lock = threading.Lock()
    todo = iter(range(len(parts)))

    def take_parts():
        while True:
            with lock:
                i = next(todo, None)
            if i is None:
                return
            results[i] = fn(parts[i])

    if _state["workers"] < threads - 1:
        _state["pool"] = ThreadPoolExecutor(threads - 1, thread_name_prefix="convolve-op")
        _state["workers"] = threads - 1
    futures = [_state["pool"].submit(take_parts) for _ in range(threads - 1)]
    take_parts()
    for f in futures:
        if not f.cancel():  # started: wait for its part (a cancelled one never ran)
            f.result()
    return results


def split(n: int, parts: int) -> list:
    """``parts`` contiguous slices of range(n), as even as possible (none empty)."""
    parts = max(1, min(parts, n))
    bounds = [n * i // parts for i in range(parts + 1)]
    return [slice(a, b) for a, b in itertools.pairwise(bounds)]
