"""The one chunked-parallel map of the conv engines: batch chunks of a planned size, run on
the plan's number of threads (the caller's included) with BLAS on one thread meanwhile,
plus the per-thread work arrays the chunks reuse and the in-order sum of partial results.

BLAS thread counts are read and switched through ``convolve._blas`` (the one controller).
"""

from __future__ import annotations

import functools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..._blas import blas_thread_count, single_blas

__all__ = ["batch_chunks", "blas_thread_count", "map_chunks", "scratch", "sum_partials"]

SCRATCH_KEEP = 32 << 20  # per-thread work arrays up to this size are reused between calls

_local = threading.local()
_pool_lock = threading.Lock()
_executors = {}  # (pid, threads) -> ThreadPoolExecutor


def scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A reusable per-thread work array of the given shape (contents undefined).

    Arrays over SCRATCH_KEEP bytes are allocated afresh and not kept.
    """
    size = math.prod(shape)
    if size * np.dtype(dtype).itemsize > SCRATCH_KEEP:
        return np.empty(shape, dtype=dtype)
    buf = getattr(_local, name, None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        setattr(_local, name, buf)
    return buf[:size].reshape(shape)


def batch_chunks(n: int, per_sample: int, chunk_bytes: int) -> list:
    """Batch slices of about ``chunk_bytes`` of work arrays each (an even count when more
    than one, so two threads share them evenly)."""
    count = -(-n * max(per_sample, 1) // max(chunk_bytes, 1))
    count = min(n, count + count % 2) if count > 1 else 1
    step = -(-n // count) if n else 1
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def map_chunks(fn, chunks: list, threads: int = 1) -> list:
    """[fn(c) for c in chunks], on ``threads`` threads (the caller included) when > 1.

    Threads pull chunks off a shared counter, so a stalled worker cannot hold up the
    call; helpers that never started are cancelled. Meanwhile BLAS runs single-threaded
    (a multi-threaded BLAS call leaves OpenBLAS workers spinning, which then compete with
    the chunk threads). One parallel call at a time: a concurrent caller runs serially.
    """
    threads = min(threads, len(chunks))
    if threads < 2 or not _pool_lock.acquire(blocking=False):
        return single_blas(lambda: [fn(c) for c in chunks])
    try:
        key = (os.getpid(), threads)  # a forked child must not reuse the parent's threads
        if key not in _executors:
            _executors[key] = ThreadPoolExecutor(threads - 1, thread_name_prefix="convolve-conv")
        return single_blas(lambda: _pull_chunks(_executors[key], threads - 1, fn, chunks))
    finally:
        _pool_lock.release()


def _pull_chunks(executor, helpers: int, fn, chunks: list) -> list:
    """Run fn on every chunk from this thread and ``helpers`` executor threads."""
    results, errors = [None] * len(chunks), []
    counter, lock = iter(range(len(chunks))), threading.Lock()

    def work():
        while not errors:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                results[i] = fn(chunks[i])
            except Exception as exc:  # noqa: BLE001 - re-raised by the caller
                errors.append(exc)

    futures = [executor.submit(work) for _ in range(helpers)]
    work()
    for f in futures:
        if not f.cancel():
            f.result()
    if errors:
        raise errors[0]
    return results


def sum_partials(parts: list):
    """The sum of per-chunk partial results in chunk order (added into the first, which
    must be a fresh array), or None when there are none."""
    if not parts or parts[0] is None:
        return None
    return functools.reduce(lambda a, b: np.add(a, b, out=a), parts)
