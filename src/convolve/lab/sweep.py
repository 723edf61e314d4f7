"""Running the trials of a sweep (one per seed) over an executor: the seam for parallelism.

:func:`map_trials` maps a trial function over trial specs with any
``concurrent.futures.Executor``-like object (``executor.map``), or serially in this process
when there is none; :func:`run_trials` picks a ``ProcessPoolExecutor`` of ``workers``
processes. A multi-machine executor (e.g. one built on MPI) plugs in as ``executor=``: each
spec is a plain dict of JSON-able values, each result a dict of lists, numbers and arrays.

Every trial seeds everything it uses from its spec and runs BLAS with the spec's thread
count, so the results do not depend on the executor, the worker count or the order.
"""

from __future__ import annotations

import os


def default_workers() -> int:
    """The number of cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def workers_for(workers, n_trials: int, executor=None) -> int:
    """How many processes :func:`run_trials` will use (1 means serial, in this process)."""
    if executor is not None:
        return int(getattr(executor, "_max_workers", 0) or 0) or n_trials
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"compare: workers must be an int >= 1, received {workers!r}")
    return max(1, min(workers, n_trials))


def run_trial(spec: dict) -> dict:
    """One trial (one seed of one comparison); a module-level function, so it pickles."""
    from .comparison import run_seed

    return run_seed(**spec)


def map_trials(fn, specs: list, executor=None) -> list:
    """``[fn(s) for s in specs]``, through ``executor.map`` when given (results in order)."""
    if executor is None:
        return [fn(s) for s in specs]
    return list(executor.map(fn, specs))


def run_trials(specs: list, *, workers=None, executor=None, fn=run_trial) -> list:
    """Run every trial: on ``executor`` if given, else through
    :func:`convolve.distributed.map_trials` (the ranks of an MPI launcher, or ``workers``
    local worker processes; None: the number of cores; serially for one)."""
    if executor is not None:
        return map_trials(fn, specs, executor)
    from ..distributed import map_trials as spread

    return spread(fn, specs, max_workers=workers_for(workers, len(specs)))
