"""BLAS thread control (threadpoolctl), shared by the CLI, the lab and the examples.

The matrices of small CNNs are small: on a 2-core machine shared with other processes,
more than one BLAS thread often thrashes, so the command line defaults to one.
"""

from __future__ import annotations

import contextlib


def blas_threads(n: int | None):
    """A context limiting BLAS/OpenMP threads to ``n``; ``None`` leaves them alone."""
    if n is None:
        return contextlib.nullcontext()
    if int(n) < 1:
        raise ValueError(f"blas_threads: n must be a positive int or None, received {n!r}")
    from threadpoolctl import threadpool_limits

    return threadpool_limits(int(n))


def blas_thread_counts() -> list:
    """The thread counts of the BLAS libraries loaded in this process."""
    from threadpoolctl import threadpool_info

    return sorted({i["num_threads"] for i in threadpool_info()})
