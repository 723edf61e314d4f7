"""Training callbacks: early stopping, checkpoints, a NaN/Inf guard, progress display, JSON log.

A callback overrides any of ``on_train_begin(state)``, ``on_epoch_begin(state)``,
``on_batch_end(state, logs)``, ``on_epoch_end(state, logs)``, ``on_train_end(state)`` and
``on_test_end(state, logs)`` (after training, when ``fit`` was given test data).
``state`` is the :class:`convolve.train.TrainState` (model, optimizer, scheduler, loader,
history, epoch...). Setting ``state.stop_training`` ends training after the current epoch;
``state.abort_epoch`` also skips the rest of the current one (and its epoch-end callbacks).
"""

from __future__ import annotations

import copy
import json
import math
import sys
import time
import warnings
from pathlib import Path

import numpy as np

from ._fileio import atomic_write, open_append, remove_stale_temps

__all__ = [
    "Callback",
    "EarlyStopping",
    "JSONLogger",
    "ModelCheckpoint",
    "NaNGuard",
    "ProgressBar",
]


class Callback:
    def on_train_begin(self, state):
        pass

    def on_epoch_begin(self, state):
        pass

    def on_batch_end(self, state, logs: dict):
        pass

    def on_epoch_end(self, state, logs: dict):
        pass

    def on_train_end(self, state):
        pass

    def on_test_end(self, state, logs: dict):
        """After training, once: ``logs`` holds test_loss, test_accuracy, test_samples and
        model_epoch (the epoch whose weights were tested)."""


class _Monitor:
    """Tracks the best value of one logged metric ('min' for losses, 'max' for accuracies)."""

    def __init__(self, owner: str, monitor: str, mode: str, min_delta: float):
        if mode == "auto":
            mode = "max" if "acc" in monitor else "min"
        if mode not in ("min", "max"):
            raise ValueError(f"{owner}: mode must be 'min', 'max' or 'auto', received {mode!r}")
        if min_delta < 0:
            raise ValueError(f"{owner}: min_delta must be >= 0, received {min_delta}")
        self.owner, self.monitor, self.mode, self.min_delta = owner, monitor, mode, min_delta
        self.best = None

    def check_available(self, state) -> None:
        if self.monitor.startswith("val_") and not state.has_val:
            raise ValueError(f"{self.owner}: monitor={self.monitor!r} needs validation data "
                             f"(pass val=...), or monitor a training metric such as 'loss'")

    def improved(self, logs: dict) -> bool:
        value = logs.get(self.monitor)
        if value is None:
            raise ValueError(f"{self.owner}: metric {self.monitor!r} is not logged; available: "
                             f"{', '.join(k for k in logs if logs[k] is not None)}")
        if self.best is None:
            better = math.isfinite(value)
        elif self.mode == "min":
            better = value < self.best - self.min_delta
        else:
            better = value > self.best + self.min_delta
        if better:
            self.best = value
        return better

    def replay(self, state) -> list:
        """After a resume: feed the restored history through; returns improved flags."""
        return [self.improved(e) for e in state.history.epochs if e.get(self.monitor) is not None]


def _snapshot(model) -> dict:
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


class EarlyStopping(Callback):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience``
    epochs; with ``restore_best`` the model ends with the weights of its best epoch."""

    def __init__(self, monitor: str = "val_loss", patience: int = 5, min_delta: float = 0.0,
                 restore_best: bool = False, mode: str = "auto"):
        if not isinstance(patience, int) or patience < 0:
            raise ValueError(f"EarlyStopping: patience must be an int >= 0, received {patience!r}")
        self.tracker = _Monitor("EarlyStopping", monitor, mode, min_delta)
        self.patience, self.restore_best = patience, restore_best
        self.wait, self.best_epoch, self.best_weights, self.stopped_epoch = 0, None, None, None

    def on_train_begin(self, state):
        self.tracker.check_available(state)
        for i, better in enumerate(self.tracker.replay(state)):  # resumed: rebuild the count
            self.wait, self.best_epoch = (0, i + 1) if better else (self.wait + 1,
                                                                    self.best_epoch)

    def on_epoch_end(self, state, logs):
        if self.tracker.improved(logs):
            self.wait, self.best_epoch = 0, logs["epoch"]
            if self.restore_best:
                self.best_weights = _snapshot(state.model)
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = logs["epoch"]
            state.stop_training = True
            state.stop_reason = (f"early stopping: {self.tracker.monitor} has not improved for "
                                 f"{self.wait} epochs (best {self.tracker.best:.6g} at epoch "
                                 f"{self.best_epoch})")

    def on_train_end(self, state):
        if self.restore_best and self.best_weights is not None:
            state.model.load_state_dict(self.best_weights)
            state.model_epoch = self.best_epoch


class ModelCheckpoint(Callback):
    """Save ``last.safetensors`` after every epoch and ``best.safetensors`` whenever
    ``monitor`` improves, in ``directory`` (atomic, link-refusing writes; see
    :mod:`convolve._fileio`). With ``restore_best`` the model ends training with the
    weights of ``best.safetensors`` (e.g. to test the selected model once)."""

    def __init__(self, directory, save_best: bool = True, save_last: bool = True,
                 monitor: str = "val_loss", mode: str = "auto", restore_best: bool = False):
        self.directory = Path(directory)
        self.save_best, self.save_last, self.restore_best = save_best, save_last, restore_best
        self.tracker = _Monitor("ModelCheckpoint", monitor, mode, 0.0)
        self.last_path = self.directory / "last.safetensors"
        self.best_path = self.directory / "best.safetensors"
        self.best_epoch = None

    def on_train_begin(self, state):
        if getattr(state, "resumed", False):  # what a write killed before the resume may have left
            remove_stale_temps(self.directory, (self.last_path.name, self.best_path.name))
        if self.save_best:
            self.tracker.check_available(state)
            flags = self.tracker.replay(state)  # resumed: best.safetensors is the best so far
            self.best_epoch = max((i + 1 for i, b in enumerate(flags) if b), default=None)

    def on_epoch_end(self, state, logs):
        if self.save_last:
            state.save(self.last_path)
        if self.save_best and self.tracker.improved(logs):
            state.save(self.best_path)
            self.best_epoch = logs["epoch"]

    def on_train_end(self, state):
        if self.restore_best and self.save_best and self.best_epoch is not None \
                and self.best_path.is_file():
            from .io import load_checkpoint

            state.model.load_state_dict(load_checkpoint(self.best_path)["model"])
            state.model_epoch = self.best_epoch


class NaNGuard(Callback):
    """Stop as soon as a batch loss is NaN or Inf: the model and optimizer go back to their
    state at the start of the epoch (what the last checkpoint holds), epoch-end callbacks do
    not run (so no checkpoint is overwritten), and a RuntimeWarning says what happened."""

    def __init__(self):
        self._saved = None

    def on_epoch_begin(self, state):
        opt = state.optimizer
        self._saved = (_snapshot(state.model),
                       copy.deepcopy(opt.state_dict()) if opt is not None else None)

    def on_batch_end(self, state, logs):
        if math.isfinite(logs["loss"]):
            return
        culprit = _non_finite(state.model)  # before the weights go back
        weights, opt_state = self._saved
        state.model.load_state_dict(weights)
        if opt_state is not None:
            state.optimizer.load_state_dict(opt_state)
        state.stop_training = state.abort_epoch = True
        of = f" of {state.num_batches}" if state.num_batches else ""
        step = f" (optimizer step {state.step})" if getattr(state, "step", None) else ""
        state.stop_reason = (f"non-finite loss ({logs['loss']}) at epoch {state.epoch + 1}, "
                             f"batch {logs['batch'] + 1}{of}{step}; {culprit}: training "
                             f"stopped; the model holds its weights from the end of epoch "
                             f"{state.epoch} (the last good checkpoint is kept). Try a lower "
                             f"learning rate.")
        warnings.warn(state.stop_reason, RuntimeWarning, stacklevel=2)


def _non_finite(model) -> str:
    """Which gradient and which parameter (after the step) first hold a NaN or Inf."""
    named = list(model.named_parameters()) if hasattr(model, "named_parameters") else []
    grad = next((n for n, p in named if p.grad is not None
                 and not np.isfinite(getattr(p.grad, "data", p.grad)).all()), None)
    param = next((n for n, p in named if not np.isfinite(p.data).all()), None)
    return (f"first non-finite gradient: {grad or 'none'}, first non-finite parameter "
            f"after the step: {param or 'none'}")


class JSONLogger(Callback):
    """Append one JSON object per epoch to ``path`` (JSON lines); a fresh run truncates it.

    Besides the epoch lines (the History's dicts), a line ``{"event": "start"}`` (or
    ``"resume"``) with the epoch and the split sizes opens each run, and a line
    ``{"event": "test", ...}`` closes it when ``fit`` evaluated test data. The file is
    never opened through a symbolic link, and a FIFO or device there is refused.
    """

    def __init__(self, path, append: bool = False):
        self.path, self.append = Path(path), append

    def _write(self, record: dict) -> None:
        with open_append(self.path) as fh:
            fh.write(json.dumps(record) + "\n")

    def on_train_begin(self, state):
        if not (self.append or state.resumed):
            atomic_write(self.path, b"")
        record = {"event": "resume" if state.resumed else "start", "epoch": state.epoch,
                  "sizes": getattr(state, "sizes", None)}
        split = (getattr(state, "extra", None) or {}).get("split")
        if isinstance(split, dict) and "test_from" in split:  # where the test part came from
            record.update({k: split[k] for k in ("test_from", "test_split") if k in split})
        self._write(record)

    def on_epoch_end(self, state, logs):
        self._write(logs)

    def on_test_end(self, state, logs):
        self._write({"event": "test", **logs})


def _fmt_metrics(logs: dict) -> str:
    parts = [f"loss {logs['loss']:.4f}"]
    if logs.get("accuracy") is not None:
        parts.append(f"acc {logs['accuracy']:.2%}")
    return " ".join(parts)


class ProgressBar(Callback):
    """A live bar per epoch (loss, accuracy, samples/s) with rich when installed, else a
    carriage-return line; ``verbose=2`` prints only one line per epoch."""

    def __init__(self, verbose: int = 1, stream=None, min_interval: float = 0.1):
        self.verbose = verbose
        self.stream = stream if stream is not None else sys.stdout
        tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.min_interval = min_interval if tty else max(min_interval, 2.0)
        self._rich = self._rich_progress() if verbose == 1 and tty else None

    def _rich_progress(self):
        try:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
            )
        except ImportError:
            return None
        return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[metrics]}"), TimeElapsedColumn(),
                        console=Console(file=self.stream), transient=False)

    def on_train_begin(self, state):
        if self._rich is not None:
            self._rich.start()

    def on_epoch_begin(self, state):
        self._last = 0.0
        self._desc = f"Epoch {state.epoch + 1}/{state.epochs}"
        if self._rich is not None:
            self._task = self._rich.add_task(self._desc, total=state.num_batches, metrics="")

    def on_batch_end(self, state, logs):
        now = time.perf_counter()
        done = logs["batch"] + 1
        if self.verbose != 1 or (now - self._last < self.min_interval
                                 and done < (state.num_batches or 0)):
            return
        self._last = now
        rate = state.seen / max(now - state.epoch_start, 1e-9)
        text = f"{_fmt_metrics(state.running_logs())} {rate:,.0f} samples/s"
        if self._rich is not None:
            self._rich.update(self._task, completed=done, metrics=text, refresh=True)
        else:
            total = state.num_batches or done
            filled = int(20 * done / total)
            self.stream.write(f"\r{self._desc} [{'#' * filled}{'.' * (20 - filled)}] "
                              f"{done}/{total} {text}   ")
            self.stream.flush()

    def on_epoch_end(self, state, logs):
        line = f"{self._desc}: {_fmt_metrics(logs)}"
        if logs.get("val_loss") is not None:
            line += f" | val_loss {logs['val_loss']:.4f}"
        if logs.get("val_accuracy") is not None:
            line += f" val_acc {logs['val_accuracy']:.2%}"
        line += f" | lr {logs['lr']:.3g} | {logs['seconds']:.1f} s"
        if self._rich is not None:
            self._rich.remove_task(self._task)
            self._rich.refresh()
            self._rich.console.print(line, soft_wrap=True, highlight=False, markup=False)
        else:
            self.stream.write(("\n" if self.verbose == 1 else "") + line + "\n")
            self.stream.flush()

    def on_train_end(self, state):
        if self._rich is not None:
            self._rich.stop()
        if state.stop_reason:
            print(state.stop_reason, file=self.stream)

    def on_test_end(self, state, logs):
        print(f"test ({logs['test_samples']} samples, evaluated once, weights of epoch "
              f"{logs['model_epoch']}): loss {logs['test_loss']:.4f} acc "
              f"{logs['test_accuracy']:.2%}", file=self.stream)
