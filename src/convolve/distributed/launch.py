"""Running on ranks: ``convolve train --workers N`` and sweeps (:func:`map_trials`).

Outside an MPI launcher, ``--workers N`` (N > 1) re-runs the same command under the
``mpiexec`` that the ``convolve[mpi]`` extra installs next to the Python executable
(``mpiexec -n N python -m convolve.cli train ...``). Under a launcher (``mpiexec -n N
convolve train ...``, ``srun convolve train ...``) the ranks given are used, and ``--workers``,
if passed, must match their number. Each rank trains on its shard of every global batch
(``--batch-size`` is the global batch, so the steps are those of one process with that batch);
rank 0 alone prints, logs and writes checkpoints. The sample order does not depend on the
number of ranks, so a checkpoint written with N workers resumes with M.

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

import argparse
import importlib.util
import multiprocessing
import os
import subprocess
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from . import comm as _comm

__all__ = ["find_mpiexec", "map_trials", "relaunch_command", "with_workers"]


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
            return _ranked(args) if size > 1 else run(args)
        if workers is None or workers == 1:
            return run(args)
        mpiexec = find_mpiexec()
        if mpiexec is None:
            raise CLIError(f"--workers {workers} needs MPI: pip install convolve[mpi] "
                           f"(mpi4py and its mpiexec were not found next to {sys.executable})")
        return subprocess.run(relaunch_command(mpiexec, workers, args), check=False).returncode
    return wrapped


def _ranked(args) -> int:
    """Run the training on this rank; any exception ends every rank, naming this one."""
    from ..threads import blas_threads

    try:
        with blas_threads(args.threads or None):
            return _train(args)
    except SystemExit:
        raise
    except BaseException as err:  # noqa: BLE001 - every failure must end the whole job
        _comm.abort(f"{type(err).__name__}: {' '.join(str(err).split())}")
        return 1


def _data(cli, opts: dict, model_shape: tuple, split):
    from ..data import ArrayDataset
    from ..data.transforms import RandomTranslate
    from .parallel import DistributedLoader, check_world

    x_train = cli._fit_shape(split.x_train, model_shape, opts["data"])
    x_test = cli._fit_shape(split.x_test, model_shape, opts["data"])
    try:
        check_world("convolve train", len(x_train), opts["batch_size"], _comm.world_size())
    except ValueError as err:
        raise cli.CLIError(str(err)) from None
    shift = opts["translate"]
    augment = RandomTranslate(shift, spatial_dims=len(model_shape) - 1) if shift else None
    loader = DistributedLoader(ArrayDataset(x_train, split.y_train),
                               batch_size=opts["batch_size"], shuffle=True, seed=opts["seed"],
                               transform=augment)
    return x_train, x_test, loader


def _train(args) -> int:
    from .. import cli
    from .. import random as crandom
    from ..callbacks import EarlyStopping, ModelCheckpoint
    from ..train import fit, make_optimizer
    from .parallel import DistributedDataParallel, DistributedMetrics

    ckpt = cli._checkpoint(args.resume) if args.resume else None
    opts = cli._train_options(args, ((ckpt or {}).get("extra") or {}).get("cli", {}))
    split = cli._load_split(opts["data"], opts["limit"])
    crandom.manual_seed(opts["seed"])
    model = cli._model_from(ckpt) if ckpt is not None else cli._build(
        argparse.Namespace(**opts), split.x_train.shape[1:], split.num_classes)
    shape = tuple(model.spec["input_shape"])
    x_train, x_test, loader = _data(cli, opts, shape, split)
    ddp = DistributedDataParallel(model)
    kw = {"weight_decay": opts["weight_decay"]} if opts["weight_decay"] else {}
    optimizer = ddp.attach(make_optimizer(opts["optimizer"], ddp.parameters(), lr=opts["lr"],
                                          **kw))
    scheduler = cli._make_scheduler(opts["scheduler"], optimizer, opts["lr"], opts["epochs"],
                                    len(loader))
    name = Path(opts["config"]).stem if opts["config"] else opts["model"]
    out = Path(args.out) if args.out else (Path(ckpt["path"]).parent if ckpt
                                           else Path("runs") / f"{name}-{opts['data']}")
    lead = _comm.rank() == 0
    callbacks = [DistributedMetrics()] + ([ModelCheckpoint(out)] if lead else [])
    if args.patience is not None:
        callbacks.append(EarlyStopping(patience=args.patience))
    extra = {"cli": opts, "workers": _comm.world_size(),
             "data": {"name": opts["data"], "input_shape": list(shape),
                      "num_classes": split.num_classes, "pixel_mean": float(x_train.mean())}}
    history = fit(ddp, loader, (x_test, split.y_test), optimizer=optimizer,
                  epochs=opts["epochs"], batch_size=opts["batch_size"], scheduler=scheduler,
                  callbacks=callbacks, verbose=0 if args.quiet or not lead else 1,
                  seed=opts["seed"], log_path=out / "log.jsonl" if lead else None,
                  resume=ckpt["path"] if ckpt else None, extra=extra)
    if lead:
        (out / "history.json").write_text(history.to_json())
        if history.epochs:
            last = history.epochs[-1]
            print(f"done on {_comm.world_size()} ranks: {len(history)} epochs, test accuracy "
                  f"{last['val_accuracy']:.2%}, test loss {last['val_loss']:.4f}; "
                  f"checkpoints in {out}")
    return 0 if history.stop_reason is None or "early stopping" in history.stop_reason else 1


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
