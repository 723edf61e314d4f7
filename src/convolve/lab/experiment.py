"""Train one model under fixed settings and measure everything the report shows about it."""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass

import numpy as np

from .. import optim
from ..callbacks import Callback
from ..random import manual_seed
from ..summary import summary as model_summary
from ..train import fit
from . import measure, stats
from .models import feature_extractor, first_layer


@dataclass
class Settings:
    """What every model in one comparison shares (all of it goes into the report)."""

    epochs: int = 6
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "Adam"
    seed: int = 0
    shuffle: bool = True
    sizes: tuple = ()
    size_steps: str = "same optimizer steps as the full run"
    shifts: tuple = (0, 1, 2, 3, 4)
    consistency_max_shift: int = 3
    connection_units: int = 32
    val_fraction: float = 0.1
    bootstrap: int = 1000
    normalize: str = "none"  # or "channel": the training part's per-channel mean and std

    def to_dict(self) -> dict:
        d = asdict(self)
        d["sizes"], d["shifts"] = list(self.sizes), list(self.shifts)
        return d


class _Progress(Callback):
    def __init__(self, report, label: str, epochs: int):
        self.report, self.label, self.epochs = report, label, epochs

    def on_epoch_end(self, state, logs: dict):
        val = logs.get("val_accuracy")
        self.report(f"{self.label}: epoch {logs['epoch']}/{self.epochs} loss {logs['loss']:.4f} "
                    f"running train acc {100 * logs['accuracy']:.1f}%"
                    + (f" val acc {100 * val:.1f}%" if val is not None else "")
                    + f" ({logs['seconds']:.1f} s)")


def train(model, x, y, settings: Settings, epochs: int | None = None, val=None,
          report=None, label: str = "") -> tuple[list, float]:
    """Adam (or the named optimizer) on (x, y) for ``epochs``; returns (history, seconds)."""
    manual_seed(settings.seed)
    opt_cls = getattr(optim, settings.optimizer)
    opt = opt_cls(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    epochs = settings.epochs if epochs is None else epochs
    callbacks = [_Progress(report, label, epochs)] if report is not None else []
    t0 = time.perf_counter()
    hist = fit(model, (x, y), val=val, optimizer=opt, epochs=int(epochs),
                      batch_size=settings.batch_size, seed=settings.seed, verbose=0,
                      shuffle=settings.shuffle, callbacks=callbacks)
    return [dict(e) for e in hist.epochs], time.perf_counter() - t0


def accuracy(model, x, y) -> float:
    return float((measure.predict_proba(model, x).argmax(1) == np.asarray(y)).mean())


def _summary(model, sample_shape) -> dict:
    s = model_summary(model, tuple(sample_shape))
    rows = list(s.rows)
    feat_rows = [r for r in rows if r.rf_size is not None]
    return {"params": int(s.total_params), "mult_adds": int(s.total_mult_adds),
            "receptive_field": list(feat_rows[-1].rf_size) if feat_rows else None,
            "dense_equivalent": {r.name: r.dense_params for r in rows
                                 if r.dense_params is not None},
            "layers": [{"name": r.name, "type": r.type, "output_shape": list(r.output_shape),
                        "params": int(r.params), "mult_adds": int(r.mult_adds),
                        "rf": None if r.rf_size is None else list(r.rf_size)} for r in rows]}


def structure(model, sample_shape, settings: Settings) -> dict:
    """Sizes and connectivity, independent of training: summary numbers, measured
    connections of the first layer, analytic and measured receptive field."""
    info = _summary(model, sample_shape)
    one = (1,) + tuple(sample_shape)
    info["connections"] = measure.connections(first_layer(model), one,
                                              n_units=settings.connection_units,
                                              seed=settings.seed)
    feat = feature_extractor(model)
    info["receptive_field_measured"] = (None if feat is None else
                                        measure.receptive_field_measured(feat, one, 32,
                                                                         settings.seed))
    if feat is None:
        info["receptive_field"] = list(sample_shape[1:])
        info["receptive_field_note"] = "no spatial feature map: every hidden unit sees the " \
                                       "whole input"
    return info


def equivariance(model, x_test, k: int = 1) -> dict:
    """First-layer equivariance error on real test inputs (n/a without a spatial map)."""
    layer = first_layer(model)
    with_map = feature_extractor(model) is not None
    if not with_map:
        return {"error": None, "shift": k,
                "note": "n/a: the first layer is fully connected; its output is a vector of "
                        "hidden units with no spatial arrangement, so 'shift the output' is "
                        "undefined"}
    try:
        err = measure.equivariance_error(layer, x_test[:64], k)
    except ValueError as exc:  # a map too small to have an interior
        return {"error": None, "shift": k, "note": f"n/a: {exc}"}
    return {"error": err, "shift": k, "note": "relative L2 over the map's interior "
                                              "(shift + half the kernel dropped at each side)"}


def robustness(model, x, y, settings: Settings) -> dict:
    """Accuracy per shift, consistency and P(top-1 change) on the test set, with percentile
    bootstrap intervals over test images (``settings.bootstrap`` resamples; 0: none)."""
    acc = measure.accuracy_under_shift(model, x, y, settings.shifts, per_image=True)
    same = measure.consistency(model, x, settings.consistency_max_shift, settings.seed,
                               per_image=True)
    out = {"accuracy": {k: float(v.mean()) for k, v in acc.items()},
           "consistency": float(same.mean()),
           "top1_change": measure.top1_change(model, x, 1)}
    if settings.bootstrap:
        boot = {"n_boot": settings.bootstrap, "seed": settings.seed}
        out["bootstrap_ci95"] = {"accuracy": {k: stats.bootstrap_ci(v, **boot)
                                              for k, v in acc.items()},
                                 "consistency": stats.bootstrap_ci(same, **boot)}
    return out


def size_epochs(settings: Settings, n_full: int, n: int) -> int:
    """Epochs for a training subset of n so it gets (about) the full run's optimizer steps."""
    steps = settings.epochs * math.ceil(n_full / settings.batch_size)
    return max(1, round(steps / math.ceil(n / settings.batch_size)))
