"""Running on ranks: ``convolve train --workers N`` and sweeps (:func:`map_trials`).

Outside an MPI launcher, ``--workers N`` (N > 1) re-runs the same command under the
``mpiexec`` that the ``convolve[mpi]`` extra installs next to the Python executable
(``mpiexec -n N python -m convolve.cli train ...``). Under a launcher (``mpiexec -n N
convolve train ...``, ``srun convolve train ...``) the ranks given are used, and ``--workers``,
if passed, must match their number. Each rank trains on its shard of every global batch
(``--batch-size`` is the global batch, so the steps are those of one process with that batch);
rank 0 alone prints, logs and writes checkpoints. The sample order does not depend on the
number of ranks, so a checkpoint written with N workers resumes with M.

The train subcommand's own code is not duplicated: on a rank it runs with a data-parallel
``fit`` passed in (see ``_distributed_fit``), and ranks other than 0 get a scratch ``--out``
and no stdout.

Sweeps: ``map_trials(fn, configs)`` returns ``[fn(c) for c in configs]``, computed

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

import contextlib
import importlib.util
import multiprocessing
import os
import subprocess
import sys
import tempfile
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import comm as _comm

__all__ = ["find_mpiexec", "map_trials", "relaunch_command", "to_distributed_loader",
           "with_workers"]


def find_mpiexec() -> str | None:
    """The extra's mpiexec next to this Python, if it and mpi4py are installed."""
    exe = Path(sys.executable).with_name("mpiexec")
    if not exe.exists() or importlib.util.find_spec("mpi4py") is None:
        return None
    return str(exe)


def relaunch_command(mpiexec: str, workers: int, args) -> list:
    """The command line that re-runs ``args`` (a parsed ``train`` namespace) on N ranks."""
    cmd = [mpiexec, "-n", str(workers), sys.executable, "-m", "convolve.cli", args.command]
    for key, value in vars(args).items():
        if key in ("run", "command", "workers") or value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        cmd += [flag] if value is True else [flag, str(value)]
    return cmd


def with_workers(run):
    """Wrap the train subcommand's ``run(args)`` with the handling of ``--workers``."""
    def wrapped(args):
        from ..cli import CLIError

        workers = getattr(args, "workers", None)
        if workers is not None and workers < 1:
            raise CLIError(f"--workers must be >= 1, received {workers}")
        if _comm.launched_under_mpi():
            size = _comm.init(use_mpi=True)
            if workers is not None and workers != size:
                raise CLIError(f"--workers {workers} but the MPI launcher started {size} "
                               f"ranks; drop --workers or make them match")
            return _ranked(run, args) if size > 1 else run(args)
        if workers is None or workers == 1:
            return run(args)
        mpiexec = find_mpiexec()
        if mpiexec is None:
            raise CLIError(f"--workers {workers} needs MPI: pip install convolve[mpi] "
                           f"(mpi4py and its mpiexec were not found next to {sys.executable})")
        return subprocess.run(relaunch_command(mpiexec, workers, args), check=False).returncode
    return wrapped


def _ranked(run, args) -> int:
    """Run the train subcommand on this rank; any exception ends every rank, naming this one."""
    try:
        with _lead_only_output(args):
            return run(args, fit=_distributed_fit)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every failure must end the whole job
        _comm.abort(f"{type(err).__name__}: {' '.join(str(err).split())}")
        return 1


@contextlib.contextmanager
def _lead_only_output(args):
    """Ranks other than 0 print nothing and write their run files to a scratch folder that
    is deleted afterwards, so rank 0 alone logs and writes checkpoints in ``--out``."""
    if _comm.rank() == 0:
        yield
        return
    with tempfile.TemporaryDirectory(prefix=f"convolve-rank{_comm.rank()}-") as scratch, \
            open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        saved, args.out = args.out, scratch
        try:
            yield
        finally:
            args.out = saved


def to_distributed_loader(loader):
    """The DistributedLoader with a DataLoader's dataset and settings (global batch)."""
    from .parallel import DistributedLoader, check_world

    if isinstance(loader, DistributedLoader) or not hasattr(loader, "dataset"):
        return loader
    try:
        check_world("convolve train", len(loader.dataset), loader.batch_size,
                    _comm.world_size())
    except ValueError as err:
        from ..cli import CLIError

        raise CLIError(str(err)) from None
    return DistributedLoader(loader.dataset, batch_size=loader.batch_size,
                             shuffle=loader.shuffle, drop_last=loader.drop_last,
                             seed=loader.seed, transform=loader.transform, dtype=loader.dtype)


def _distributed_fit(model, data, *args, optimizer=None, callbacks=(), **kwargs):
    """:func:`convolve.train.fit`, data-parallel: the model is wrapped in
    DistributedDataParallel (its optimizer attached), the training loader becomes the
    DistributedLoader of the same data, DistributedMetrics comes first, and ranks other than
    0 log and show nothing."""
    from .. import train
    from .parallel import DistributedDataParallel, DistributedMetrics

    ddp = DistributedDataParallel(model)
    if optimizer is None or isinstance(optimizer, str):
        optimizer = train.make_optimizer(optimizer or "adam", ddp.parameters())
    ddp.attach(optimizer)
    if _comm.rank() != 0:
        kwargs.update(verbose=0, log_path=None)
    kwargs["extra"] = dict(kwargs.get("extra") or {}, workers=_comm.world_size())
    return train.fit(ddp, to_distributed_loader(data), *args, optimizer=optimizer,
                     callbacks=[DistributedMetrics(), *callbacks], **kwargs)


# ------------------------------------------------------------------------------- sweeps
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
