"""fit / evaluate / predict: the training loop, its History and resumable state.

Scheduler stepping: schedulers that work per batch (OneCycleLR, CyclicLR, or any scheduler
with ``step_per_batch = True``) step after every optimizer step; ReduceLROnPlateau steps
after every epoch with the monitored value (val_loss when there is validation data, else
loss); every other scheduler steps once per epoch, as in PyTorch's usual loop.

Resume: ``fit(..., resume=path)`` restores model, optimizer, scheduler, data-loader position,
``convolve.random`` state and the history from a checkpoint written by ``ModelCheckpoint``
(or :meth:`TrainState.save`), then runs the remaining epochs: the result is bit-identical to
an uninterrupted run with the same seed. (Callbacks' own state, e.g. EarlyStopping's
patience counter, starts afresh.)
"""

from __future__ import annotations

import json
import time

import numpy as np

from . import io as cio
from . import random as _random
from .callbacks import Callback, EarlyStopping, JSONLogger, ModelCheckpoint, NaNGuard, ProgressBar
from .grad_mode import no_grad
from .tensor import Tensor

__all__ = [
    "Callback",
    "EarlyStopping",
    "History",
    "JSONLogger",
    "ModelCheckpoint",
    "NaNGuard",
    "ProgressBar",
    "TrainState",
    "evaluate",
    "fit",
    "make_optimizer",
    "predict",
]

BATCH_SCHEDULERS = {"OneCycleLR", "CyclicLR"}


class History:
    """One dict per epoch: epoch, loss, accuracy, val_loss, val_accuracy, lr, seconds."""

    def __init__(self, epochs=None):
        self.epochs = [dict(e) for e in (epochs or [])]
        self.stop_reason = None

    def append(self, logs: dict) -> None:
        self.epochs.append(dict(logs))

    def __getitem__(self, key: str) -> list:
        """All epochs' values of one metric, e.g. ``history['val_accuracy']``."""
        if self.epochs and key not in self.epochs[0]:
            raise KeyError(f"History: no metric {key!r}; available: {', '.join(self.epochs[0])}")
        return [e.get(key) for e in self.epochs]

    def __len__(self) -> int:
        return len(self.epochs)

    @property
    def history(self) -> dict:
        """Keras-style {metric: [value per epoch]}."""
        keys = self.epochs[0].keys() if self.epochs else ()
        return {k: self[k] for k in keys}

    def to_json(self) -> str:
        return json.dumps({"epochs": self.epochs, "stop_reason": self.stop_reason})

    def __repr__(self) -> str:
        return f"History({len(self)} epochs, stop_reason={self.stop_reason!r})"


class TrainState:
    """What callbacks see: the objects being trained and the progress of the current epoch."""

    def __init__(self, model, optimizer, scheduler, loader, epochs, has_val, history, extra):
        self.model, self.optimizer, self.scheduler, self.loader = model, optimizer, scheduler, \
            loader
        self.epochs, self.has_val, self.history, self.extra = epochs, has_val, history, extra
        self.epoch = 0            # epochs completed so far (= index of the current epoch)
        self.num_batches = len(loader) if hasattr(loader, "__len__") else None
        self.stop_training = self.abort_epoch = self.resumed = False
        self.stop_reason = None
        self.reset_epoch()

    def reset_epoch(self) -> None:
        self.seen = self.correct = 0
        self.loss_sum = 0.0
        self.epoch_start = time.perf_counter()

    def running_logs(self) -> dict:
        n = max(self.seen, 1)
        return {"loss": self.loss_sum / n, "accuracy": self.correct / n}

    def save(self, path):
        """Checkpoint everything needed to resume (see :func:`convolve.io.save_checkpoint`)."""
        loader = self.loader if hasattr(self.loader, "state_dict") else None
        extra = dict(self.extra, history=self.history.epochs)
        return cio.save_checkpoint(path, self.model, self.optimizer, self.scheduler,
                                   epoch=self.epoch, extra=extra, loader=loader)


# ----------------------------------------------------------------------------- data helpers
def _loader(data, batch_size: int, shuffle: bool, seed):
    """A DataLoader from a DataLoader, a dataset or an (x, y) pair of arrays."""
    from .data import ArrayDataset, DataLoader

    if isinstance(data, DataLoader) or (hasattr(data, "__iter__") and hasattr(data, "batch_size")
                                        and not hasattr(data, "__getitem__")):
        return data
    if isinstance(data, tuple):
        if len(data) != 2 or hasattr(data, "x_train"):
            raise TypeError(f"fit: a tuple of data must be (x, y), received {len(data)} items"
                            f"{'; pass split.train and split.test' if len(data) == 4 else ''}")
        data = ArrayDataset(*data)
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(f"fit: data must be a DataLoader, a dataset or an (x, y) tuple, "
                        f"received {type(data).__name__}")
    return DataLoader(data, batch_size=batch_size, shuffle=shuffle, seed=seed)


def _arrays(batch):
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"fit: a batch must be an (x, y) pair, received {type(batch).__name__}")
    x, y = batch
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    y = y.data if isinstance(y, Tensor) else np.asarray(y)
    if x.dtype.kind != "f":  # integer images (e.g. uint8) feed the model as float32
        x = x.astype(np.float32)
    return x, y


def _correct(out: np.ndarray, y: np.ndarray) -> int:
    if out.ndim != 2:
        return 0
    labels = y.argmax(axis=1) if y.ndim == 2 else y
    return int((out.argmax(axis=1) == labels).sum())


def _default_loss():
    from . import functional as F
    from . import nn

    return nn.CrossEntropyLoss() if hasattr(nn, "CrossEntropyLoss") else F.cross_entropy


def make_optimizer(name, params, lr: float = 1e-3, **kwargs):
    """An optimizer by (case-insensitive) class name: sgd, adam, adamw, rmsprop..."""
    from . import optim

    if not isinstance(name, str):
        return name
    table = {k.lower(): v for k, v in vars(optim).items()
             if isinstance(v, type) and hasattr(v, "step") and k[0].isupper()}
    cls = table.get(name.lower())
    if cls is None or cls.__name__ == "Optimizer":
        raise ValueError(f"unknown optimizer {name!r}; available: "
                         f"{', '.join(sorted(k for k in table if k != 'optimizer'))}")
    return cls(params, lr=lr, **kwargs)


def _lr(optimizer) -> float | None:
    groups = getattr(optimizer, "param_groups", None)
    return float(groups[0]["lr"]) if groups else None


# ---------------------------------------------------------------------------------- the loop
def _train_batch(state, x, y, loss_fn, per_batch: bool, callbacks, b: int) -> None:
    model, opt = state.model, state.optimizer
    out = model(Tensor(x))
    loss = loss_fn(out, y)
    opt.zero_grad()
    loss.backward()
    opt.step()
    if per_batch:
        state.scheduler.step()
    value = float(loss.item())
    state.seen += len(x)
    state.loss_sum += value * len(x)
    state.correct += _correct(out.data, y)
    logs = {"batch": b, "loss": value, "size": len(x)}
    for cb in callbacks:
        cb.on_batch_end(state, logs)


def _run_epoch(state, loss_fn, per_batch, callbacks, val, batch_size) -> dict | None:
    state.reset_epoch()
    lr = _lr(state.optimizer)
    for cb in callbacks:
        cb.on_epoch_begin(state)
    state.model.train()
    for b, batch in enumerate(state.loader):
        _train_batch(state, *_arrays(batch), loss_fn, per_batch, callbacks, b)
        if state.abort_epoch:
            return None
    logs = {"epoch": state.epoch + 1, **state.running_logs(), "val_loss": None,
            "val_accuracy": None}
    if val is not None:
        v = evaluate(state.model, val, loss=loss_fn, batch_size=batch_size)
        logs["val_loss"], logs["val_accuracy"] = v["loss"], v["accuracy"]
    logs["lr"] = lr
    logs["seconds"] = time.perf_counter() - state.epoch_start
    return logs


def _step_epoch_scheduler(scheduler, logs: dict) -> None:
    if type(scheduler).__name__ == "ReduceLROnPlateau":
        scheduler.step(logs["val_loss"] if logs["val_loss"] is not None else logs["loss"])
    else:
        scheduler.step()


def _resume(state, path) -> None:
    ckpt = cio.restore_checkpoint(path, state.model, state.optimizer, state.scheduler,
                                  state.loader if hasattr(state.loader, "load_state_dict")
                                  else None)
    state.epoch = ckpt["epoch"]
    extra = ckpt.get("extra") or {}
    state.history.epochs = [dict(e) for e in extra.get("history", [])]
    state.resumed = True


def fit(model, train, val=None, *, loss=None, optimizer=None, epochs: int = 1,
        batch_size: int = 32, scheduler=None, callbacks=(), verbose: int = 1, seed=None,
        log_path=None, resume=None, shuffle: bool = True, extra=None) -> History:
    """Train ``model`` on ``train`` for ``epochs`` epochs; return the :class:`History`.

    train/val: DataLoaders, datasets or (x, y) arrays (datasets get a DataLoader with
    ``batch_size``, shuffled with ``seed``). loss defaults to CrossEntropyLoss, optimizer to
    Adam(lr=1e-3) (a name such as "sgd" also works). ``seed`` reseeds ``convolve.random``
    (dropout) and the shuffling. A NaNGuard is always active. ``log_path`` appends one JSON
    line per epoch. ``resume`` is a checkpoint path to continue from. ``extra`` (JSON-able)
    is stored in every checkpoint, e.g. how the data was preprocessed.
    """
    if not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, received {epochs!r}")
    if seed is not None:
        _random.manual_seed(seed)
    loader = _loader(train, batch_size, shuffle, seed)
    val_loader = None if val is None else _loader(val, batch_size, False, 0)
    optimizer = make_optimizer("adam" if optimizer is None else optimizer, model.parameters())
    loss_fn = loss if loss is not None else _default_loss()
    state = TrainState(model, optimizer, scheduler, loader, epochs, val is not None, History(),
                       dict(extra or {}))
    callbacks = _callbacks(callbacks, verbose, log_path)
    if resume is not None:
        _resume(state, resume)
    per_batch = scheduler is not None and (type(scheduler).__name__ in BATCH_SCHEDULERS
                                           or getattr(scheduler, "step_per_batch", False))
    for cb in callbacks:
        cb.on_train_begin(state)
    try:
        while state.epoch < epochs and not state.stop_training:
            logs = _run_epoch(state, loss_fn, per_batch, callbacks, val_loader, batch_size)
            if logs is None:
                break
            if scheduler is not None and not per_batch:
                _step_epoch_scheduler(scheduler, logs)
            state.history.append(logs)
            state.epoch += 1
            for cb in callbacks:
                cb.on_epoch_end(state, logs)
    finally:
        state.history.stop_reason = state.stop_reason
        for cb in callbacks:
            cb.on_train_end(state)
    return state.history


def _callbacks(callbacks, verbose: int, log_path) -> list:
    callbacks = list(callbacks)
    for cb in callbacks:
        if not isinstance(cb, Callback):
            raise TypeError(f"fit: callbacks must be Callback instances, received "
                            f"{type(cb).__name__}")
    if not any(isinstance(cb, NaNGuard) for cb in callbacks):
        callbacks.insert(0, NaNGuard())
    if log_path is not None:
        callbacks.append(JSONLogger(log_path))
    if verbose:
        callbacks.append(ProgressBar(verbose))
    return callbacks


# --------------------------------------------------------------------------- inference
def evaluate(model, data, loss=None, batch_size: int = 256) -> dict:
    """Mean loss and accuracy of ``model`` (eval mode, no grad) over ``data`` (DataLoader,
    dataset or (x, y) arrays): {'loss': float, 'accuracy': float}."""
    loader = _loader(data, batch_size, False, 0)
    loss_fn = loss if loss is not None else _default_loss()
    was_training = model.training
    model.eval()
    total = correct = 0
    loss_sum = 0.0
    try:
        with no_grad():
            for batch in loader:
                x, y = _arrays(batch)
                out = model(Tensor(x))
                loss_sum += float(loss_fn(out, y).item()) * len(x)
                correct += _correct(out.data, y)
                total += len(x)
    finally:
        model.train(was_training)
    if total == 0:
        raise ValueError("evaluate: the data holds no samples")
    return {"loss": loss_sum / total, "accuracy": correct / total}


def predict(model, x, batch_size: int = 256) -> np.ndarray:
    """The model's outputs (e.g. logits (N, classes)) for inputs x (N, ...), in eval mode
    without gradients, ``batch_size`` samples at a time."""
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    if x.ndim < 1 or len(x) == 0:
        raise ValueError(f"predict: x must be a non-empty batch (N, ...), received shape {x.shape}")
    if x.dtype.kind != "f":
        x = x.astype(np.float32)
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outs = [model(Tensor(x[i:i + batch_size])).data
                    for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(outs)

