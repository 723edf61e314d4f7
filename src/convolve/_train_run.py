"""What ``convolve train`` runs: its settings, the held-out validation split, the run.

The training data is split (stratified by class, seeded with ``--seed``) into the part that
is trained on and a ``--val-split`` part (default 0.1) that alone drives model selection:
``best.safetensors`` and early stopping follow ``val_loss``. The test split is evaluated
once, after training, on the selected (best) weights, and reported apart: ``test_*`` in the
last line of ``log.jsonl``, in ``history.json`` and in the final printed line. The split
sizes go to the log's first line and into every checkpoint (``extra['split']``). With
``--val-split 0`` nothing is held out and selection follows the training loss (a note says
so).

Resuming (``--resume``): a run folder resumes from its ``last.safetensors`` (the latest epoch, never ``best``); a
checkpoint file resumes from that file. Temporary files that a killed write left in the
run folder are removed first. Every setting given together with ``--resume`` is either
applied or refused with a one-line error, so the checkpoint only ever records what was
really used:

- applied: ``--epochs`` (total epochs; with a learning-rate schedule only the planned
  number), ``--lr`` (set on the restored optimizer; refused with a schedule, which owns the
  learning rate) and ``--patience`` (early stopping replays the run's history with it);
  also ``--out``, ``--threads`` and ``-q``, which do not change the training;
- refused when they differ from the run's: ``--model``, ``--config``, ``--data``,
  ``--optimizer``, ``--weight-decay``, ``--scheduler``, ``--batch-size`` (it fixes the data
  order and the schedule's steps), ``--seed``, ``--translate``, ``--limit`` and
  ``--val-split`` (they fix the data, the validation split and the random streams).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from . import _data_cli as dcli
from ._fileio import atomic_write, remove_stale_temps
from .callbacks import Callback, EarlyStopping, ModelCheckpoint
from .cli import TRAIN_DEFAULTS, CLIError, _build, _model_from

__all__ = ["APPLIED", "RUN_FILES", "ResumeError", "SetLearningRate", "reconcile",
           "resume_checkpoint", "run_train", "val_part"]


def _train_options(args, ckpt) -> dict:
    if ckpt is not None:
        stored = dict((ckpt.get("extra") or {}).get("cli", {}))
        stored.setdefault("normalize", "none")  # runs from before normalisation had none
        opts = reconcile(args, stored, TRAIN_DEFAULTS)
    else:
        opts = {k: d if getattr(args, k) is None else getattr(args, k)
                for k, d in TRAIN_DEFAULTS.items()}
        if args.model is not None and args.config is None:
            opts["config"] = None
    if opts["batch_size"] < 1 or opts["lr"] <= 0:
        raise CLIError("--batch-size and --lr must be positive")
    if opts["epochs"] < 0 or opts["translate"] < 0 or (opts["patience"] or 0) < 0:
        raise CLIError("--epochs, --translate and --patience must be >= 0")
    if not 0.0 <= opts["val_split"] < 1.0:
        raise CLIError(f"--val-split must be in [0, 1), received {opts['val_split']}")
    planned = ((ckpt or {}).get("extra") or {}).get("cli", {}).get("epochs", opts["epochs"])
    if opts["scheduler"] != "none" and opts["epochs"] != planned:
        raise CLIError(f"the {opts['scheduler']} schedule of this run was planned for {planned} "
                       f"epochs; resume with --epochs {planned}")
    return opts


def _holdout(x, y, opts: dict):
    """(train, val) arrays: a stratified, seeded --val-split of the training data (x may be
    a lazy array-like: it is only indexed, never copied whole)."""
    from .data import stratified_split, take

    if not opts["val_split"]:
        return (x, y), None
    keep, held = (np.sort(i) for i in stratified_split(y, opts["val_split"], opts["seed"]))
    if len(keep) == 0 or len(held) == 0:
        raise CLIError(f"--val-split {opts['val_split']} of {len(y)} training samples leaves "
                       f"{len(keep)} to train on and {len(held)} to validate on")
    return (take(x, keep), y[keep]), (take(x, held), y[held])


def _make_scheduler(name: str, optimizer, lr: float, epochs: int, steps: int):
    from .optim import lr_scheduler as S

    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=lr, epochs=max(epochs, 1), steps_per_epoch=steps)
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=max(epochs, 1))
    if name == "step":
        return S.StepLR(optimizer, step_size=max(epochs // 3, 1), gamma=0.1)
    return None


def run_train(args, fit=None) -> int:
    """Run `convolve train` (the options are described in :mod:`convolve.cli`); ``fit``
    replaces :func:`convolve.train.fit` (the data-parallel fit of ``--workers``)."""
    from . import random as crandom
    from .train import make_optimizer

    if fit is None:
        from .train import fit

    ckpt = resume_checkpoint(args.resume, args.out) if args.resume else None
    opts = _train_options(args, ckpt)
    res = dcli.load(opts, opts["limit"], download=getattr(args, "download", False))
    crandom.manual_seed(opts["seed"])
    if ckpt is not None:
        model = _model_from(ckpt)
    else:
        model = _build(argparse.Namespace(**opts), res.x_train.shape[1:], res.num_classes)
    shape = tuple(model.spec["input_shape"])
    _check_outputs(model, shape, res.num_classes, opts)
    out = Path(args.out) if args.out else (Path(ckpt["path"]).parent if ckpt else Path(
        "runs") / f"{_run_name(opts)}-{dcli.data_label(opts['data'])}")
    if ckpt is None:
        _check_fresh(out, getattr(args, "overwrite", False))
    loader, val, test, record = _data(res, shape, opts)
    dcli.announce(res, {"train": len(loader.dataset), "val": 0 if val is None else
                        len(val[1]), "test": len(res.y_test)}, args.quiet)
    kw = {"weight_decay": opts["weight_decay"]} if opts["weight_decay"] else {}
    optimizer = make_optimizer(opts["optimizer"], model.parameters(), lr=opts["lr"], **kw)
    scheduler = _make_scheduler(opts["scheduler"], optimizer, opts["lr"], opts["epochs"],
                                len(loader))
    monitor = "val_loss" if val is not None else "loss"
    history = fit(model, loader, val, test=test, optimizer=optimizer, epochs=opts["epochs"],
                  batch_size=opts["batch_size"], scheduler=scheduler,
                  callbacks=_callbacks(opts, out, monitor, ckpt is not None and args.lr),
                  verbose=0 if args.quiet else 1, seed=opts["seed"], log_path=out / "log.jsonl",
                  resume=ckpt["path"] if ckpt else None,
                  extra=_extra(opts, res, record, loader, val))
    atomic_write(out / "history.json", history.to_json())
    print(_done_line(history, monitor, out))
    return 0 if history.stop_reason is None or "early stopping" in history.stop_reason else 1


def _run_name(opts: dict) -> str:
    return Path(opts["config"]).stem if opts["config"] else opts["model"]


def _check_outputs(model, shape: tuple, classes: int, opts: dict) -> None:
    """The model must end in one output per class (a dry run of one sample, no gradients)."""
    from .models import output_shape

    got = output_shape(model, shape)
    if got != (classes,):
        what = f"--config {opts['config']}" if opts["config"] else f"--model {opts['model']}"
        raise CLIError(f"{what} ends in outputs of shape {got}, but the data has {classes} "
                       f"classes: its last layer needs {classes} outputs")


def _check_fresh(out: Path, overwrite: bool) -> None:
    """A new run never overwrites another run's files silently."""
    found = [f for f in RUN_FILES if (out / f).exists()]
    if found and not overwrite:
        raise CLIError(f"{out} already holds a run ({', '.join(found)}); pass --resume {out} "
                       f"to continue it, --overwrite to replace it, or another --out")


def _data(res, shape: tuple, opts: dict):
    """(train loader, val (x, y) or None, test (x, y), the checkpoint's data record): the
    model's inputs, normalised with the training part's per-channel statistics (computed
    batch by batch after the validation hold-out) unless --normalize none."""
    from .data import ArrayDataset, DataLoader
    from .data.arrays import channel_stats
    from .data.transforms import RandomTranslate

    (x_train, y_train), val = _holdout(res.x_train, res.y_train, opts)
    mean, std = channel_stats(x_train)
    normalize = opts["normalize"] != "none"
    stats = (mean, std) if normalize else None

    def view(x):
        return dcli.inputs(x, shape, opts["data"], stats)

    shift = opts["translate"]
    augment = RandomTranslate(shift, spatial_dims=len(shape) - 1) if shift else None
    loader = DataLoader(ArrayDataset(view(x_train), y_train), batch_size=opts["batch_size"],
                        shuffle=True, seed=opts["seed"], transform=augment)
    val = None if val is None else (view(val[0]), val[1])
    record = dcli.data_record(res, shape, mean, std, normalize)
    return loader, val, (view(res.x_test), res.y_test), record


def _callbacks(opts: dict, out: Path, monitor: str, new_lr) -> list:
    if monitor == "loss":
        print("convolve: note: --val-split 0: no held-out data; best.safetensors and early "
              "stopping follow the training loss", file=sys.stderr)
    callbacks = [ModelCheckpoint(out, monitor=monitor, restore_best=True)]
    if opts["patience"] is not None:
        callbacks.append(EarlyStopping(monitor=monitor, patience=opts["patience"]))
    if new_lr:  # resumed with --lr: set it on the restored optimizer
        callbacks.append(SetLearningRate(opts["lr"]))
    return callbacks


def _extra(opts: dict, res, record: dict, loader, val) -> dict:
    """What every checkpoint records: the settings used, the data, the split sizes and
    where the test part came from ("own": the data's; "stratified": --test-split of it)."""
    sizes = {"train": len(loader.dataset), "val": 0 if val is None else len(val[1]),
             "test": len(res.y_test)}
    split = {"val_split": opts["val_split"], "seed": opts["seed"], **sizes,
             "test_from": res.test_from}
    if res.test_from == "stratified":
        split["test_split"] = res.test_split
    return {"cli": opts, "data": record, "split": split}


def _done_line(history, monitor: str, out: Path) -> str:
    """The final line: the selected epoch's validation numbers, then the one test result."""
    test = history.test
    chosen = next((e for e in history.epochs if e["epoch"] == test["model_epoch"]), None)
    picked = "no epoch trained" if chosen is None else (
        f"epoch {chosen['epoch']} chosen by {monitor}" + (
            f": val_loss {chosen['val_loss']:.4f} val_acc {chosen['val_accuracy']:.2%}"
            if chosen["val_loss"] is not None else f": loss {chosen['loss']:.4f}"))
    return (f"done: {len(history)} epoch{'' if len(history) == 1 else 's'}, {picked}; test (evaluated once): "
            f"test_loss {test['test_loss']:.4f} test_acc {test['test_accuracy']:.2%}; "
            f"checkpoints in {out}")


def val_part(ckpt: dict, name: str, limit):
    """The validation samples of the run that wrote ``ckpt``, rebuilt from its settings
    (its data options, test split, seed and limit: the same samples, lazily)."""
    from .data import take

    opts = ((ckpt["extra"] or {}).get("cli") or {})
    if not opts.get("val_split") or opts.get("data") != name:
        raise CLIError(f"{ckpt['path']} records no held-out validation split of {name}; "
                       f"use --split test or train")
    res = dcli.load(dcli.run_options(ckpt), opts.get("limit"), name=name)
    _, (x, y) = _holdout(res.x_train, res.y_train, opts)
    if limit is None:
        return x, y
    keep = np.arange(min(limit, len(y)))
    return take(x, keep), y[keep]


# ------------------------------------------------------------------------------ resuming
APPLIED = ("epochs", "lr", "patience")
RUN_FILES = ("last.safetensors", "best.safetensors", "log.jsonl", "history.json")


class ResumeError(ValueError):
    """A setting given with --resume that the resumed run cannot honour."""


def resume_checkpoint(path, out=None) -> dict:
    """The checkpoint to resume: ``path`` itself, or a run folder's ``last.safetensors``.
    Stale temporary files of the run's files are removed from its folder (and ``out``)."""
    from .io import load_checkpoint

    p = Path(path)
    if p.is_dir():
        p = p / "last.safetensors"
    if not p.is_file():
        raise FileNotFoundError(f"--resume: no checkpoint at {p} (a run folder resumes from "
                                f"its last.safetensors)")
    for folder in {p.parent, Path(out) if out else p.parent}:
        remove_stale_temps(folder, RUN_FILES)
    return load_checkpoint(p)


def _flag(key: str) -> str:
    return "--" + key.replace("_", "-")


def _refuse(key: str, given, before) -> None:
    before = "default (not given)" if before is None else before
    raise ResumeError(f"{_flag(key)} {given} differs from the resumed run's {before}: a resumed "
                      f"run keeps its {key.replace('_', ' ')} (start a new run to change it)")


def reconcile(args, stored: dict, defaults: dict) -> dict:
    """The resumed run's settings: the stored ones, with the applied settings of ``args``
    (None = not given) and a ResumeError for any other setting that differs."""
    if "val_split" not in stored:
        raise ResumeError("--resume: this checkpoint predates the held-out validation split "
                          "(its val_loss was measured on the test split); start a new run")
    opts = {key: stored.get(key, default) for key, default in defaults.items()}
    for key in defaults:
        given = getattr(args, key, None)
        if given is None or key in APPLIED:
            continue
        if key == "model" and opts["config"] is not None:
            raise ResumeError(f"--model {given}: the resumed run was built from --config "
                              f"{opts['config']}")
        if key == "config" and opts["config"] is None:
            raise ResumeError(f"--config {given}: the resumed run is the named model "
                              f"{opts['model']}")
        if given != opts[key]:
            _refuse(key, given, opts[key])
    if getattr(args, "lr", None) is not None and opts["scheduler"] != "none" \
            and args.lr != opts["lr"]:
        raise ResumeError(f"--lr {args.lr}: the resumed run's {opts['scheduler']} schedule sets "
                          f"the learning rate; resume without --lr")
    for key in APPLIED:
        if getattr(args, key, None) is not None:
            opts[key] = getattr(args, key)
    return opts


class SetLearningRate(Callback):
    """Sets every parameter group's learning rate when training begins, i.e. after ``fit``
    restored the optimizer from the checkpoint (which carries the old rate)."""

    def __init__(self, lr: float):
        self.lr = float(lr)

    def on_train_begin(self, state):
        for group in state.optimizer.param_groups:
            group["lr"] = self.lr
