"""What ``convolve train --resume`` continues from, and which settings it may change.

A run folder resumes from its ``last.safetensors`` (the latest epoch, never ``best``); a
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

from pathlib import Path

from ._fileio import remove_stale_temps
from .callbacks import Callback

__all__ = ["APPLIED", "RUN_FILES", "ResumeError", "SetLearningRate", "reconcile",
           "resume_checkpoint"]

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
