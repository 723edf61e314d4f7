"""Sweeps: run independent trials (model x seed x size, any list of configs) in parallel.

``map_trials(fn, configs)`` returns ``[fn(c) for c in configs]``, computed

* under an MPI launcher with more than one rank (``mpiexec -n N python sweep.py``): on an
  ``mpi4py.futures.MPICommExecutor`` over the ranks given (rank 0 hands out the trials, the
  other N-1 ranks run them); every rank returns the full list;
* otherwise: on a local ``concurrent.futures.ProcessPoolExecutor`` (``max_workers``
  processes; 1 runs serially in this process).

Each trial must seed itself from its config (e.g. ``convolve.manual_seed(config['seed'])``):
then the results are identical to a serial run, whatever ran them and in which order.
``fn`` and the configs must be picklable (a module-level function, plain data).
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from . import comm as _comm

__all__ = ["map_trials"]


def _check(fn, configs, max_workers) -> list:
    if not callable(fn):
        raise TypeError(f"map_trials: fn must be callable, received {type(fn).__name__}")
    configs = list(configs)
    if max_workers is not None and (isinstance(max_workers, bool)
                                    or not isinstance(max_workers, int) or max_workers < 1):
        raise ValueError(f"map_trials: max_workers must be an int >= 1 or None, received "
                         f"{max_workers!r}")
    return configs


def _mpi_map(fn, configs: list) -> list:
    from mpi4py.futures import MPICommExecutor

    results = None
    with MPICommExecutor(_comm.comm(), root=0) as pool:
        if pool is not None:  # rank 0; the others serve trials until the block ends
            results = list(pool.map(fn, configs))
    return _comm.broadcast_object(results)


def map_trials(fn, configs, max_workers: int | None = None) -> list:
    """``[fn(c) for c in configs]``, in parallel (see the module docstring)."""
    configs = _check(fn, configs, max_workers)
    _comm.init()
    if _comm.world_size() > 1:
        return _mpi_map(fn, configs)
    workers = min(max_workers or os.cpu_count() or 1, max(len(configs), 1))
    if workers == 1:
        return [fn(c) for c in configs]
    ctx = multiprocessing.get_context("spawn")  # no fork of a process holding BLAS threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(pool.map(fn, configs))
