"""The state behind the lab page (``convolve lab``): the lab's four image models (MLP,
locally-connected net, CNN, CNN + BlurPool; :mod:`convolve.lab.models`), their training
histories, the test images, and the predictions the page asks for.

The models are trained here in a few seconds (:func:`train_models`, one seed, Adam), or
loaded from a folder where an earlier run saved them (:func:`load_models`): one convolve
checkpoint per model, ``<out>/<name>.safetensors`` (weights, architecture description, and
as ``extra`` the data it was trained on, its per-epoch history, settings and test accuracy).

Thread safety: the page's requests arrive on server threads while the main thread may still
be training. A model is *published* to the state only once its training is over, and every
prediction runs under one lock; gradient recording (a process-wide switch) is turned off
for predictions only when no training is running, so a request never disturbs a training
step.
"""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path

import numpy as np

from .. import grad_mode, nn
from ..callbacks import Callback
from ..errors import CheckpointError
from ..io import load_checkpoint, load_model, save_checkpoint
from ..lab.models import IMAGE_MODELS, LABELS, build_image_model, first_layer, image_spec
from ..lab.shifts import shift, shift_each
from ..random import manual_seed
from ..tensor import Tensor
from ..train import fit

# Per dataset: seconds of training on 2 cores (measured: digits 6.5 s for the four models,
# mnist5k 19 s; there 3 epochs at lr 2e-3 gave test accuracies 92/91/95/94%, 5 epochs
# 93/96/95/96%, 4 epochs 92/93/94/95%).
DEFAULTS = {"digits": {"epochs": 10, "batch_size": 32, "lr": 3e-3},
            "mnist5k": {"epochs": 4, "batch_size": 32, "lr": 2e-3}}
FALLBACK = {"epochs": 3, "batch_size": 32, "lr": 1e-3}
CACHE_KIND = "convolve.lab-page"
SPATIAL_LAYERS = ("conv2d", "locally_connected2d")
PARAM_LAYERS = (*SPATIAL_LAYERS, "linear")


def settings_for(data_name: str, epochs=None, batch_size=None, lr=None, seed: int = 0) -> dict:
    """Training settings: the data's defaults, overridden by the values given."""
    s = dict(DEFAULTS.get(data_name, FALLBACK), seed=int(seed))
    for key, value in (("epochs", epochs), ("batch_size", batch_size), ("lr", lr)):
        if value is not None:
            s[key] = value
    return s


def count_parameters(model) -> int:
    return int(sum(p.data.size for p in model.parameters()))


class LabState:
    """Models, histories and test images of one lab page; see the module doc."""

    def __init__(self, split, info: dict, names=IMAGE_MODELS):
        x = np.asarray(split.x_test)
        if x.ndim != 4:
            raise ValueError(f"lab: the page shows image models and needs (N, C, H, W) "
                             f"images; data {info.get('name')!r} has samples of shape "
                             f"{tuple(x.shape[1:])}")
        self.split, self.info, self.names = split, dict(info), tuple(names)
        self.x_test = x.astype(np.float32, copy=False)
        self.y_test = np.asarray(split.y_test).astype(np.int64)
        self.shape, self.num_classes = tuple(int(s) for s in x.shape[1:]), int(info["num_classes"])
        self.max_shift = max(1, min(self.shape[1:]) // 2)
        self.models: dict = {}
        self.history = {n: [] for n in self.names}
        self.meta = {n: {"label": LABELS[n], "epochs": None, "test_accuracy": None,
                         "params": None} for n in self.names}
        self.spatial = _which_spatial(self.names, self.shape, self.num_classes)
        self.status, self.message, self.source = "running", "starting", None
        self._lock, self._predict_lock = threading.Lock(), threading.Lock()

    # ------------------------------------------------------------------ publishing
    def log_epoch(self, name: str, logs: dict) -> None:
        with self._lock:
            self.history[name].append(_entry(logs))

    def publish(self, name: str, model, *, history=None, test_accuracy=None, epochs=None):
        """Make a trained model available to the page (its training is over)."""
        model.eval()
        with self._lock:
            if history is not None:
                self.history[name] = [_entry(e) for e in history]
            self.meta[name].update(params=count_parameters(model), epochs=epochs,
                                   test_accuracy=test_accuracy)
            self.models[name] = model

    def finish(self, source: str) -> None:
        with self._lock:
            self.status, self.source, self.message = "finished", source, "all models ready"

    def fail(self, message: str) -> None:
        with self._lock:
            self.status, self.message = "failed", message

    def say(self, message: str) -> None:
        with self._lock:
            self.message = message

    # ------------------------------------------------------------------ what the page reads
    def snapshot(self) -> dict:
        """``/api/state``: status, progress message, per-model histories and readiness."""
        with self._lock:
            return {"status": self.status, "message": self.message, "source": self.source,
                    "data": self.info["name"], "ready": [n for n in self.names
                                                         if n in self.models],
                    "history": {n: [dict(e) for e in h] for n, h in self.history.items()},
                    "models": {n: dict(m) for n, m in self.meta.items()}}

    def describe(self) -> dict:
        """``/api/models``: what the page needs to lay itself out."""
        c, h, w = self.shape
        with self._lock:
            models = [{"name": n, **self.meta[n], "ready": n in self.models,
                       "feature_maps": self.spatial[n]} for n in self.names]
        return {"data": dict(self.info), "input_shape": [c, h, w],
                "classes": self.info.get("classes") or [str(k) for k in range(self.num_classes)],
                "test_count": len(self.y_test), "max_shift": self.max_shift,
                "draw_box": h if h < 16 else round(h * 20 / 28), "models": models}

    def test_image(self, index: int) -> dict:
        x = self.x_test[index]
        return {"index": int(index), "label": int(self.y_test[index]),
                "count": len(self.y_test), "pixels": _as_list(x)}

    def _ready(self):
        """(ready models, a context that turns gradient recording off unless training runs)."""
        with self._lock:
            models, training = dict(self.models), self.status == "running"
        return models, contextlib.nullcontext() if training else grad_mode.no_grad()

    def predict(self, image: np.ndarray, dx: int = 0, dy: int = 0, maps: bool = False) -> dict:
        """Class probabilities of every ready model for ``image`` (C, H, W) shifted by
        (dy, dx) with zero fill; with ``maps``, the first-layer feature maps (after its
        ReLU) of the models that have spatial maps."""
        x = shift(np.asarray(image, dtype=np.float32)[None], int(dy), int(dx))
        models, quiet = self._ready()
        out = {"dx": int(dx), "dy": int(dy), "input": _as_list(x[0]), "models": {},
               "pending": [n for n in self.names if n not in models]}
        if maps:
            out["feature_maps"] = {}
        with self._predict_lock, quiet:
            for name, model in models.items():
                p = _softmax(model(Tensor(x)))[0]
                out["models"][name] = {"probs": p.tolist(), "pred": int(p.argmax())}
                fmap = _feature_maps(model, x) if maps else None
                if fmap is not None:
                    out["feature_maps"][name] = fmap
        return out

    def shift_curve(self, index: int) -> dict:
        """Per ready model, the probability of test image ``index``'s true label with the
        image shifted by each of -max_shift..max_shift pixels along x (``dx``) and along y
        (``dy``): one batch per model."""
        m, label = self.max_shift, int(self.y_test[index])
        steps = np.arange(-m, m + 1)
        zeros = np.zeros_like(steps)
        x = np.repeat(self.x_test[index][None], 2 * len(steps), axis=0)
        x = shift_each(x, np.concatenate([zeros, steps]), np.concatenate([steps, zeros]))
        models, quiet = self._ready()
        out = {"index": int(index), "label": label, "shifts": steps.tolist(), "dx": {},
               "dy": {}, "pending": [n for n in self.names if n not in models]}
        with self._predict_lock, quiet:
            for name, model in models.items():
                p = _softmax(model(Tensor(x)))[:, label]
                out["dx"][name], out["dy"][name] = p[:len(steps)].tolist(), \
                    p[len(steps):].tolist()
        return out


def _softmax(z) -> np.ndarray:
    """Row-wise softmax of a Tensor of logits, in float64."""
    z = np.asarray(z.data, dtype=np.float64)
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _entry(logs: dict) -> dict:
    """One epoch of a history as JSON can carry it (a diverged, non-finite loss -> None)."""
    keys = ("epoch", "loss", "accuracy", "val_loss", "val_accuracy", "lr", "seconds")
    return {k: logs.get(k) if logs.get(k) is None or np.isfinite(logs.get(k)) else None
            for k in keys}


def _as_list(x: np.ndarray) -> list:
    """(C, H, W) -> nested lists, (H, W) when there is one channel; 4 decimals."""
    x = np.round(np.asarray(x, dtype=np.float64), 4)
    return (x[0] if x.shape[0] == 1 else x).tolist()


def _spatial_first_layer(model):
    """The first layer with parameters (and its ReLU) when it makes spatial maps, else None."""
    layer = first_layer(model)
    if not isinstance(layer[len(layer) - 1], (nn.Conv2d, nn.LocallyConnected2d)):
        return None
    if len(layer) < len(model) and isinstance(model[len(layer)], nn.ReLU):
        layer = model[:len(layer) + 1]
    return layer


def _which_spatial(names, shape, num_classes) -> dict:
    """Per model: does its first layer with parameters make spatial maps? (From the
    models' descriptions: building them would cost time and move the random generator.)"""
    out = {}
    for name in names:
        kinds = [layer.get("type") for layer in image_spec(name, shape, num_classes)["layers"]]
        first = next((k for k in kinds if k in PARAM_LAYERS), None)
        out[name] = first in SPATIAL_LAYERS
    return out


def _feature_maps(model, x: np.ndarray):
    layer = _spatial_first_layer(model)
    if layer is None:
        return None
    maps = np.asarray(layer(Tensor(x)).data, dtype=np.float64)[0]
    return {"layer": type(first_layer(model)[-1]).__name__, "maps": np.round(maps, 4).tolist()}


# ---------------------------------------------------------------------- training and caching
class _Live(Callback):
    """Per epoch: the history entry into the state (the page polls it) and a progress line."""

    def __init__(self, state: LabState, name: str, epochs: int, log):
        self.state, self.name, self.epochs, self.log = state, name, epochs, log

    def on_epoch_end(self, train_state, logs: dict):
        self.state.log_epoch(self.name, logs)
        val = logs.get("val_accuracy")
        msg = (f"{self.name}: epoch {logs['epoch']}/{self.epochs} loss {logs['loss']:.4f}"
               + (f" val acc {100 * val:.1f}%" if val is not None else ""))
        self.state.say(msg)
        self.log(msg)


def _accuracy(model, x, y, batch: int = 500) -> float:
    with grad_mode.no_grad():
        pred = np.concatenate([np.asarray(model(Tensor(x[i:i + batch])).data).argmax(1)
                               for i in range(0, len(x), batch)])
    return float((pred == y).mean())


def train_models(state: LabState, settings: dict, log=print, out=None) -> None:
    """Train every model of ``state`` on its training data (10% held out for the validation
    curve), publish each when done, save them to ``out`` when given, and finish."""
    from .. import optim
    from ..lab.data import holdout

    seed, epochs = int(settings["seed"]), int(settings["epochs"])
    split, val = holdout(state.split, 0.1, seed)
    x, y = np.asarray(split.x_train, dtype=np.float32), np.asarray(split.y_train)
    for name in state.names:
        manual_seed(seed)
        model = build_image_model(name, state.shape, state.num_classes)
        log(f"{name}: {count_parameters(model):,} parameters; training {epochs} epoch(s) on "
            f"{len(y)} images")
        t0 = time.perf_counter()
        fit(model, (x, y), val=val, optimizer=optim.Adam(model.parameters(),
                                                         lr=float(settings["lr"])),
            epochs=epochs, batch_size=int(settings["batch_size"]), seed=seed, verbose=0,
            callbacks=[_Live(state, name, epochs, log)])
        acc = _accuracy(model, state.x_test, state.y_test)
        log(f"{name}: test accuracy {100 * acc:.1f}% ({time.perf_counter() - t0:.1f} s)")
        state.publish(name, model, test_accuracy=acc, epochs=epochs)
    if out is not None:
        save_models(state, out, settings)
        log(f"models saved to {out}/")
    state.finish("trained")


def save_models(state: LabState, out, settings: dict | None = None) -> list:
    """One checkpoint per model in ``out`` (see the module doc); returns the paths."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    data = {"name": state.info["name"], "sample_shape": list(state.shape),
            "num_classes": state.num_classes}
    paths = []
    for name in state.names:
        meta = state.meta[name]
        extra = {"kind": CACHE_KIND, "model": name, "data": data,
                 "history": state.history[name], "settings": dict(settings or {}),
                 "test_accuracy": meta["test_accuracy"]}
        paths.append(save_checkpoint(out / f"{name}.safetensors", state.models[name],
                                     epoch=int(meta["epochs"] or 0), extra=extra))
    return paths


def _check_cached(ckpt: dict, state: LabState, name: str) -> None:
    extra = ckpt.get("extra") or {}
    data = extra.get("data") or {}
    if extra.get("kind") != CACHE_KIND or extra.get("model") != name:
        raise CheckpointError(f"{ckpt['path']} is not a lab page checkpoint of model {name!r}")
    found = (data.get("name"), list(data.get("sample_shape") or []), data.get("num_classes"))
    wanted = (state.info["name"], list(state.shape), state.num_classes)
    if found != wanted:
        raise CheckpointError(f"{ckpt['path']} was trained on data {found[0]!r} of shape "
                              f"{found[1]} with {found[2]} classes; this page shows "
                              f"{wanted[0]!r} of shape {wanted[1]} with {wanted[2]} classes")


def load_models(state: LabState, folder) -> tuple[bool, str]:
    """Publish the models saved in ``folder``; (True, description) when all were there and
    match the data, else (False, why) and nothing is published."""
    folder = Path(folder)
    missing = [n for n in state.names if not (folder / f"{n}.safetensors").is_file()]
    if missing:
        return False, f"no saved models in {folder} ({', '.join(missing)} missing)"
    loaded = {}
    try:
        for name in state.names:
            ckpt = load_checkpoint(folder / f"{name}.safetensors")
            _check_cached(ckpt, state, name)
            loaded[name] = (load_model(ckpt), ckpt)
    except (OSError, ValueError) as err:
        return False, f"cannot use the saved models: {err}"
    for name, (model, ckpt) in loaded.items():
        extra = ckpt["extra"]
        state.publish(name, model, history=extra.get("history") or [],
                      test_accuracy=extra.get("test_accuracy"), epochs=ckpt["epoch"])
    epochs = sorted({ckpt["epoch"] for _, ckpt in loaded.values()})
    source = f"loaded from {folder} ({'/'.join(map(str, epochs))} epoch(s))"
    state.finish(source)
    return True, source
