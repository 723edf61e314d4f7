"""Measurements of the seed's claims on a layer or a trained model.

* Sparsity of connections: which inputs one output unit depends on, read off the
  autograd engine (backward of a one-hot output gradient, count nonzero input grads).
* Receptive field: the bounding box of those inputs for a unit of a feature map.
* Equivariance: shift-then-layer against layer-then-shift, relative L2 error.
* Invariance of a classifier: accuracy under shift, Zhang's consistency,
  Azulay & Weiss's P(top-1 change) and mean absolute change of the top probability.

Classifiers are called in eval mode under ``no_grad``; the gradient measurements leave
the parameters' ``.grad`` as they found them. Spatial inputs are (N, C, H, W) or (N, C, L).
"""

from __future__ import annotations

import numpy as np

from .. import grad_mode
from ..tensor import Tensor
from .shifts import directions, shift, shift_each


# ------------------------------------------------------------------ helpers
def _dtype(layer, default=np.float32):
    """The dtype of a layer's first parameter (float32 for parameter-free callables)."""
    params = getattr(layer, "parameters", None)
    p = next(iter(params()), None) if params is not None else None
    return p.data.dtype if p is not None else np.dtype(default)


def _sample_units(out_shape: tuple, n: int, region: str, rng) -> list[tuple]:
    """n indices into one sample's output (C, *spatial) or (F,); 'center' keeps the middle half."""
    per = out_shape[1:]
    lows, highs = [0] * len(per), list(per)
    if region == "center":
        for d in range(1, len(per)):  # spatial dims only
            lows[d], highs[d] = per[d] // 4, max(per[d] // 4 + 1, per[d] - per[d] // 4)
    elif region != "all":
        raise ValueError(f"connections: region must be 'center' or 'all', received {region!r}")
    idx = [rng.integers(lo, hi, size=n) for lo, hi in zip(lows, highs)]
    return [tuple(int(i[k]) for i in idx) for k in range(n)]


def input_gradients(layer, x: np.ndarray, units: list[tuple]) -> np.ndarray:
    """d layer(x)[0][unit] / d x[0] for each unit, through the autograd engine: (U, *x.shape[1:]).

    One forward, then one backward per unit with a one-hot output gradient.
    """
    params = list(layer.parameters()) if hasattr(layer, "parameters") else []
    saved = [p.grad for p in params]  # backward also reaches the weights: put their grads back
    xt = Tensor(np.asarray(x[:1]), requires_grad=True)
    grads = []
    try:
        with grad_mode.enable_grad():
            out = layer(xt)
            for u in units:
                seed = np.zeros(out.shape, dtype=out.data.dtype)
                seed[(0,) + tuple(u)] = 1.0
                xt.grad = None
                out.backward(seed, retain_graph=True)
                g = np.zeros(xt.shape, xt.data.dtype) if xt.grad is None else xt.grad
                grads.append(g[0].copy())
    finally:
        for p, g in zip(params, saved):
            p.grad = g
    return np.stack(grads)


def connections(layer, input_shape: tuple, n_units: int = 32, region: str = "center",
                seed: int = 0) -> dict:
    """Inputs each sampled output unit of ``layer`` depends on, counted via backward.

    ``input_shape`` is one sample's shape with batch dim, e.g. (1, C, H, W). The input is
    Gaussian noise (so no ReLU/max tie hides a connection). Returns the per-unit counts,
    their mean, the count per input channel and the fraction of all inputs.
    """
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(input_shape).astype(_dtype(layer))
    with grad_mode.no_grad():
        out_shape = layer(Tensor(x)).shape
    units = _sample_units(out_shape, n_units, region, rng)
    counts = np.count_nonzero(input_gradients(layer, x, units).reshape(len(units), -1), axis=1)
    n_in = int(np.prod(input_shape[1:]))
    channels = input_shape[1] if len(input_shape) >= 3 else 1
    mean = float(counts.mean())
    return {"counts": counts.tolist(), "mean": mean, "min": int(counts.min()),
            "max": int(counts.max()), "per_input_channel": mean / channels,
            "inputs": n_in, "fraction": mean / n_in, "region": region,
            "units_sampled": len(units)}


def receptive_field_measured(feature, input_shape: tuple, n_inputs: int = 8,
                             seed: int = 0) -> list[int] | None:
    """Extent (per spatial dim) of the inputs that the centre unit of ``feature``'s map sees.

    Union of nonzero input gradients over ``n_inputs`` noise inputs (ReLU and max
    pooling route gradient to a subset per input); None if the output has no spatial map.
    """
    rng = np.random.default_rng(seed)
    dt = _dtype(feature)
    with grad_mode.no_grad():
        out_shape = feature(Tensor(np.zeros(input_shape, dt))).shape
    if len(out_shape) < 3:
        return None
    unit = (0,) + tuple(s // 2 for s in out_shape[2:])
    seen = np.zeros(input_shape[2:], dtype=bool)
    for _ in range(n_inputs):
        x = rng.standard_normal(input_shape).astype(dt)
        g = input_gradients(feature, x, [unit])[0]
        seen |= np.any(g != 0, axis=0)
    extent = []
    for ax in range(seen.ndim):
        hit = np.nonzero(np.any(seen, axis=tuple(a for a in range(seen.ndim) if a != ax)))[0]
        extent.append(int(hit[-1] - hit[0] + 1) if hit.size else 0)
    return extent


def equivariance_error(layer, x: np.ndarray, shift_by=1, mode: str = "zero",
                       margin: int | None = None) -> float:
    """Relative L2 gap ||layer(T x) - T layer(x)|| / ||T layer(x)|| on the map's interior.

    T shifts by ``shift_by`` pixels along every spatial axis (the layer must keep the
    spatial resolution: stride 1). ``margin`` output pixels are dropped on each side
    (default: shift + half the layer's measured receptive field; 0 in circular mode).
    """
    x = np.asarray(x)
    x = x if x.dtype.kind == "f" else x.astype(_dtype(layer))
    s = int(shift_by)
    dy = s if x.ndim == 4 else 0
    with grad_mode.no_grad():
        a = np.asarray(layer(Tensor(shift(x, dy, s, mode))).data)
        b = np.asarray(layer(Tensor(x)).data)
    if a.ndim != x.ndim:
        raise ValueError(f"equivariance_error: the layer's output {a.shape} has no spatial map "
                         f"(input {x.shape})")
    b = shift(b, dy, s, mode)
    if margin is None:
        rf = receptive_field_measured(layer, (1,) + x.shape[1:], n_inputs=2) or [0]
        margin = 0 if mode == "circular" else abs(s) + max(rf) // 2
    crop = (slice(None), slice(None)) + tuple(slice(margin, n - margin) for n in a.shape[2:])
    a, b = a[crop], b[crop]
    if a.size == 0:
        raise ValueError(f"equivariance_error: margin={margin} leaves no interior in an "
                         f"output of shape {a.shape}")
    den = float(np.linalg.norm(b))
    return float(np.linalg.norm(a - b) / den) if den > 0 else float(np.linalg.norm(a - b))


# --------------------------------------------------------------- invariance
def predict_proba(model, x: np.ndarray, batch_size: int = 500) -> np.ndarray:
    """Softmax of ``model``'s logits on x, in eval mode, batched; ``model`` may be any callable."""
    train = getattr(model, "training", None)
    if hasattr(model, "eval"):
        model.eval()
    outs = []
    with grad_mode.no_grad():
        for i in range(0, len(x), batch_size):
            z = model(Tensor(np.asarray(x[i:i + batch_size], dtype=np.float32)))
            outs.append(np.asarray(z.data if isinstance(z, Tensor) else z, dtype=np.float64))
    if train and hasattr(model, "train"):
        model.train()
    z = np.concatenate(outs)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def accuracy_under_shift(model, x, y, shifts=(0, 1, 2, 3, 4),
                         per_image: bool = False) -> dict:
    """Accuracy for inputs shifted by k pixels (zero fill), averaged over the axis directions.

    per_image: map k to each input's fraction of directions classified right instead (its
    mean is the accuracy), for a bootstrap over test images.
    """
    y = np.asarray(y)
    out = {}
    for k in shifts:
        hits = np.mean([predict_proba(model, shift(x, dy, dx)).argmax(1) == y
                        for dy, dx in directions(int(k), np.ndim(x))], axis=0)
        out[int(k)] = hits if per_image else float(hits.mean())
    return out


def consistency(model, x, max_shift: int = 3, seed: int = 0, per_image: bool = False):
    """Zhang (2019): fraction of inputs whose predicted class is the same for two random shifts.

    Each input gets two independent shifts, uniform in [-max_shift, max_shift] per axis.
    per_image: the boolean array of agreements instead of its mean.
    """
    rng = np.random.default_rng(seed)
    n = len(x)
    preds = []
    for _ in range(2):
        dx = rng.integers(-max_shift, max_shift + 1, size=n)
        dy = rng.integers(-max_shift, max_shift + 1, size=n) if np.ndim(x) == 4 else 0
        preds.append(predict_proba(model, shift_each(x, dy, dx)).argmax(1))
    same = preds[0] == preds[1]
    return same if per_image else float(same.mean())


def top1_change(model, x, k: int = 1) -> dict:
    """Azulay & Weiss (2019) for a k-pixel shift, averaged over the axis directions.

    p_change: fraction of inputs whose top-1 class changes; mac: mean |p_c(x) - p_c(T x)|
    where c is the top class on the unshifted input.
    """
    p0 = predict_proba(model, x)
    c = p0.argmax(1)
    top = p0[np.arange(len(c)), c]
    changes, macs = [], []
    for dy, dx in directions(int(k), np.ndim(x)):
        p = predict_proba(model, shift(x, dy, dx))
        changes.append(float((p.argmax(1) != c).mean()))
        macs.append(float(np.abs(top - p[np.arange(len(c)), c]).mean()))
    return {"p_change": float(np.mean(changes)), "mac": float(np.mean(macs)), "shift": int(k)}
