"""softmax / log_softmax and the losses: cross_entropy (fused, stable), nll_loss, mse_loss,
binary_cross_entropy_with_logits. Names, argument order and defaults follow PyTorch.

Class-index losses take input (N, C) with target (N,), input (N, C, d1, ...) with target
(N, d1, ...), or unbatched input (C,) with a 0-d target. Targets must be integer tensors
or arrays (``cv.tensor([0, 2])`` is int64, as in PyTorch).
"""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._util import check_float

__all__ = [
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "log_softmax",
    "mse_loss",
    "nll_loss",
    "softmax",
]

_REDUCTIONS = ("none", "mean", "sum")


# -------------------------------------------------------------------- softmax
def _log_softmax(x, axis):
    shifted = x - x.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


class Softmax(Function):
    @staticmethod
    def forward(ctx, x, axis=1):
        y = np.exp(_log_softmax(x, axis))
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return y * (g - (g * y).sum(axis=ctx.axis, keepdims=True))


class LogSoftmax(Function):
    @staticmethod
    def forward(ctx, x, axis=1):
        y = _log_softmax(x, axis)
        ctx.save_for_backward(y)
        ctx.axis = axis
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved
        return g - np.exp(y) * g.sum(axis=ctx.axis, keepdims=True)


def _softmax_dim(op: str, x, dim) -> int:
    """Validate ``dim``; None picks PyTorch's legacy implicit dim (with its deprecation warning)."""
    nd = x.ndim
    if dim is None:
        warnings.warn(f"{op}: implicit dimension choice is deprecated, pass dim=",
                      UserWarning, stacklevel=3)
        dim = 0 if nd in (0, 1, 3) else 1
    if not isinstance(dim, numbers.Integral) or isinstance(dim, bool) \
            or not -max(nd, 1) <= dim < max(nd, 1):
        raise ValueError(f"{op}: dim must be an int in [{-max(nd, 1)}, {max(nd, 1) - 1}] for "
                         f"input of shape {tuple(x.shape)}, received dim={dim!r}")
    return int(dim) % max(nd, 1)


def softmax(input, dim=None):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably; output has the input's shape."""
    check_float("softmax", input)
    return Softmax.apply(input, axis=_softmax_dim("softmax", input, dim))


def log_softmax(input, dim=None):
    """x - logsumexp(x) along ``dim`` (max subtracted first); output has the input's shape."""
    check_float("log_softmax", input)
    return LogSoftmax.apply(input, axis=_softmax_dim("log_softmax", input, dim))


# --------------------------------------------------------------- validation
def _check_reduction(op: str, reduction) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{op}: reduction must be 'none', 'mean' or 'sum', "
                         f"received reduction={reduction!r}")


def _array(x):
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _class_targets(op: str, input, target, ignore_index) -> np.ndarray:
    """Check an integer class-index target against input (N, C, *); return it as an ndarray."""
    if input.ndim < 1:
        raise ValueError(f"{op}: expected input of shape (C,), (N, C) or (N, C, d1, ...), "
                         f"received a 0-d input")
    t = _array(target)
    if t.dtype.kind not in "iu":
        raise TypeError(f"{op}: target must hold integer class indices, received dtype "
                        f"{t.dtype} (build it with cv.tensor(y, dtype=cv.int64) or an int ndarray)")
    if not isinstance(ignore_index, numbers.Integral) or isinstance(ignore_index, bool):
        raise TypeError(f"{op}: ignore_index must be an int, received {ignore_index!r}")
    want = () if input.ndim == 1 else (input.shape[0],) + tuple(input.shape[2:])
    if t.shape != want:
        raise ValueError(f"{op}: expected target of shape {want} for input of shape "
                         f"{tuple(input.shape)}, received target shape {t.shape}")
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    if t.size and 0 <= t.min() and t.max() < n_classes:  # the usual case: two reductions
        return t
    bad = (t != ignore_index) & ((t < 0) | (t >= n_classes))
    if bad.any():
        raise ValueError(f"{op}: target holds class index {t[bad].flat[0]}, outside "
                         f"[0, {n_classes}) for C={n_classes} classes")
    return t


def _class_weight(op: str, weight, n_classes: int, dtype):
    if weight is None:
        return None
    w = _array(weight)
    if w.dtype.kind != "f":
        raise TypeError(f"{op}: weight must be floating, received dtype {w.dtype}")
    if w.shape != (n_classes,):
        raise ValueError(f"{op}: weight must have shape ({n_classes},) (one per class), "
                         f"received shape {w.shape}")
    return w.astype(dtype, copy=False)


def _batched(input, target):
    """Unbatched (C,) input with a 0-d target becomes (1, C) with (1,)."""
    if input.ndim == 1:
        from .shape import reshape

        return reshape(input, (1, input.shape[0])), target.reshape(1), True
    return input, target, False


def _finish(op_out, unbatched, reduction):
    if unbatched and reduction == "none":
        from .shape import reshape

        return reshape(op_out, ())
    return op_out


# ------------------------------------------------------------ class losses
def _reduce(loss, denom, reduction):
    if reduction == "none":
        return loss
    with np.errstate(invalid="ignore", divide="ignore"):
        total = loss.sum(dtype=loss.dtype)
        return np.asarray(total / denom if reduction == "mean" else total, dtype=loss.dtype)


def _grad_scale(g, denom, reduction):
    """The upstream gradient per sample (shape of the 'none' loss, or a scalar).

    A 'mean' over nothing (every target ignored) has a NaN value but, as in PyTorch, a zero
    gradient.
    """
    if reduction == "mean":
        return g / denom if denom != 0 else g * 0
    return g


def _targets_and_weights(target, weight, ignore_index, dtype):
    """(safe indices (N, 1, d...), 0/1 valid mask in ``dtype``, w[target] zeroed where ignored)."""
    valid = target != ignore_index
    safe = np.where(valid, target, 0)
    valid = valid.astype(dtype)
    wy = valid if weight is None else weight[safe] * valid
    return np.expand_dims(safe, 1), valid, wy


def _add_at_target(grad, safe, values):
    """grad[n, target[n, ...], ...] += values[n, ...] (one target per sample: no collisions)."""
    cur = np.take_along_axis(grad, safe, axis=1)
    np.put_along_axis(grad, safe, cur + np.expand_dims(values, 1), axis=1)


class CrossEntropy(Function):
    """Fused log_softmax + smoothed, weighted NLL over class axis 1 of x (N, C, *).

    Per sample: loss = -sum_c q_c log p_c with q_c = (1-e) w_y [c == y] + (e/C) w_c,
    so d loss / d x_c = p_c sum(q) - q_c.
    """

    @staticmethod
    def forward(ctx, x, target=None, weight=None, ignore_index=-100, reduction="mean",
                smoothing=0.0):
        n_classes = x.shape[1]
        logp = _log_softmax(x, 1)
        ctx.plain = x.ndim == 2 and weight is None and not smoothing and target.size > 0 \
            and 0 <= target.min() and target.max() < n_classes \
            and not (0 <= ignore_index < n_classes and (target == ignore_index).any())
        if ctx.plain:  # every sample counts with weight 1: loss_n = -logp[n, y_n]
            rows = np.arange(x.shape[0])
            loss = -logp[rows, target]
            ctx.save_for_backward(logp, rows, target)
            ctx.meta = (reduction, x.dtype.type(x.shape[0]))
            return _reduce(loss, ctx.meta[1], reduction)
        safe, valid, wy = _targets_and_weights(target, weight, ignore_index, x.dtype)
        loss = -(1 - smoothing) * wy * np.take_along_axis(logp, safe, axis=1)[:, 0]
        wfull = np.ones(n_classes, x.dtype) if weight is None else weight
        wshape = (1, n_classes) + (1,) * (x.ndim - 2)
        if smoothing:
            smooth = (wfull.reshape(wshape) * logp).sum(axis=1)
            loss = loss - (smoothing / n_classes) * valid * smooth
        ctx.save_for_backward(logp, safe, valid, wy)
        ctx.meta = (wfull.reshape(wshape), smoothing, reduction, wy.sum())
        return _reduce(loss, wy.sum(), reduction)

    @staticmethod
    def backward(ctx, g):
        if ctx.plain:  # p * g_n, minus g_n at the target (the general formula with q = onehot)
            logp, rows, target = ctx.saved
            reduction, denom = ctx.meta
            gs = _grad_scale(g, denom, reduction)
            grad = np.exp(logp)
            grad *= gs[:, None] if gs.ndim else gs
            grad[rows, target] -= gs
            return grad
        logp, safe, valid, wy = ctx.saved
        wfull, eps, reduction, denom = ctx.meta
        gs = np.broadcast_to(_grad_scale(g, denom, reduction), wy.shape)
        n_classes = logp.shape[1]
        qsum = (1 - eps) * wy + (eps / n_classes) * valid * wfull.sum()
        grad = np.exp(logp) * np.expand_dims(gs * qsum, 1)
        _add_at_target(grad, safe, -(1 - eps) * gs * wy)
        if eps:
            grad -= (eps / n_classes) * np.expand_dims(gs * valid, 1) * wfull
        return grad


class NLLLoss(Function):
    """loss_n = -w[y_n] x[n, y_n] over class axis 1; 'mean' divides by sum of w[y_n]."""

    @staticmethod
    def forward(ctx, x, target=None, weight=None, ignore_index=-100, reduction="mean"):
        safe, _, wy = _targets_and_weights(target, weight, ignore_index, x.dtype)
        loss = -wy * np.take_along_axis(x, safe, axis=1)[:, 0]
        ctx.save_for_backward(safe, wy)
        ctx.meta = (x.shape, reduction, wy.sum())
        return _reduce(loss, wy.sum(), reduction)

    @staticmethod
    def backward(ctx, g):
        safe, wy = ctx.saved
        shape, reduction, denom = ctx.meta
        gs = np.broadcast_to(_grad_scale(g, denom, reduction), wy.shape)
        grad = np.zeros(shape, dtype=wy.dtype)
        _add_at_target(grad, safe, -gs * wy)
        return grad


def cross_entropy(input, target, weight=None, *, ignore_index: int = -100,
                  reduction: str = "mean", label_smoothing: float = 0.0):
    """Cross entropy of logits input (N, C, *) against class indices target (N, *).

    Equals (1 - label_smoothing) * nll_loss(log_softmax(input), target, weight)
    + label_smoothing / C * (-sum_c weight_c log_softmax(input)_c), with PyTorch's
    'mean': the sum over non-ignored samples divided by the sum of weight[target].
    Output: () for 'mean'/'sum', target's shape for 'none'.
    """
    op = "cross_entropy"
    check_float(op, input)
    _check_reduction(op, reduction)
    if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{op}: label_smoothing must be in [0, 1], "
                         f"received label_smoothing={label_smoothing!r}")
    t = _class_targets(op, input, target, ignore_index)
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    w = _class_weight(op, weight, n_classes, input.dtype)
    x, t, unbatched = _batched(input, t)
    out = CrossEntropy.apply(x, target=t, weight=w, ignore_index=int(ignore_index),
                             reduction=reduction, smoothing=float(label_smoothing))
    return _finish(out, unbatched, reduction)


def nll_loss(input, target, weight=None, *, ignore_index: int = -100,
             reduction: str = "mean"):
    """Negative log-likelihood of log-probabilities input (N, C, *) at class indices target (N, *).

    loss_n = -weight[target_n] * input[n, target_n]; 'mean' divides the sum by the sum of
    weight[target_n] over non-ignored samples. Output: () or target's shape for 'none'.
    """
    op = "nll_loss"
    check_float(op, input)
    _check_reduction(op, reduction)
    t = _class_targets(op, input, target, ignore_index)
    n_classes = input.shape[0] if input.ndim == 1 else input.shape[1]
    w = _class_weight(op, weight, n_classes, input.dtype)
    x, t, unbatched = _batched(input, t)
    out = NLLLoss.apply(x, target=t, weight=w, ignore_index=int(ignore_index),
                        reduction=reduction)
    return _finish(out, unbatched, reduction)


# ---------------------------------------------------------- regression losses
def _check_float_target(op: str, input, target):
    check_float(op, input)
    t = _array(target)
    if t.dtype.kind != "f":
        raise TypeError(f"{op}: target must be floating, received dtype {t.dtype}")
    if tuple(t.shape) != tuple(input.shape):
        raise ValueError(f"{op}: target shape {tuple(t.shape)} must equal input shape "
                         f"{tuple(input.shape)}")


class MSELoss(Function):
    @staticmethod
    def forward(ctx, x, y, reduction="mean"):
        d = x - y.astype(x.dtype, copy=False)
        ctx.save_for_backward(d)
        ctx.reduction = reduction
        return _reduce(d * d, d.size, reduction)

    @staticmethod
    def backward(ctx, g):
        (d,) = ctx.saved
        gx = 2 * d * _grad_scale(g, d.size, ctx.reduction)
        na, nb = ctx.needs_input_grad
        return (gx if na else None), (-gx if nb else None)


def mse_loss(input, target, *, reduction: str = "mean"):
    """Squared error (input - target)^2, same shapes; () for 'mean'/'sum', else input's shape."""
    _check_reduction("mse_loss", reduction)
    _check_float_target("mse_loss", input, target)
    return MSELoss.apply(input, target if isinstance(target, Tensor) else _array(target),
                         reduction=reduction)


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


class BCEWithLogits(Function):
    """loss = w [pw y softplus(-x) + (1 - y) softplus(x)], softplus computed stably."""

    @staticmethod
    def forward(ctx, x, y, weight=None, pos_weight=None, reduction="mean"):
        y = y.astype(x.dtype, copy=False)
        sp_pos = _softplus(x)
        sp_neg = sp_pos - x
        pw = 1.0 if pos_weight is None else pos_weight
        w = 1.0 if weight is None else weight
        loss = (w * (pw * y * sp_neg + (1 - y) * sp_pos)).astype(x.dtype, copy=False)
        ctx.save_for_backward(x, y, sp_pos, sp_neg)
        ctx.meta = (w, pw, reduction)
        return _reduce(loss, loss.size, reduction)

    @staticmethod
    def backward(ctx, g):
        x, y, sp_pos, sp_neg = ctx.saved
        w, pw, reduction = ctx.meta
        gs = w * _grad_scale(g, x.size, reduction)
        na, nb = ctx.needs_input_grad
        gx = gy = None
        if na:
            sig = np.exp(-sp_neg)  # sigmoid(x) = exp(-softplus(-x)), stable
            gx = gs * ((1 - y) * sig - pw * y * (1 - sig))
        if nb:
            gy = gs * (pw * sp_neg - sp_pos)
        return gx, gy


def _broadcast_weight(op: str, name: str, value, shape, dtype):
    if value is None:
        return None
    w = _array(value)
    if w.dtype.kind != "f":
        raise TypeError(f"{op}: {name} must be floating, received dtype {w.dtype}")
    try:
        ok = np.broadcast_shapes(w.shape, shape) == tuple(shape)
    except ValueError:
        ok = False
    if not ok:
        raise ValueError(f"{op}: {name} of shape {w.shape} does not broadcast to the input "
                         f"shape {tuple(shape)}")
    return w.astype(dtype, copy=False)


def binary_cross_entropy_with_logits(input, target, weight=None, *,
                                     reduction: str = "mean", pos_weight=None):
    """Sigmoid + binary cross entropy in one stable op; target in [0, 1] of input's shape.

    ``weight`` broadcasts to the input; ``pos_weight`` (e.g. (C,)) weighs the positive term.
    Output: () for 'mean'/'sum', else input's shape.
    """
    op = "binary_cross_entropy_with_logits"
    _check_reduction(op, reduction)
    _check_float_target(op, input, target)
    w = _broadcast_weight(op, "weight", weight, input.shape, input.dtype)
    pw = _broadcast_weight(op, "pos_weight", pos_weight, input.shape, input.dtype)
    return BCEWithLogits.apply(input, target if isinstance(target, Tensor) else _array(target),
                               weight=w, pos_weight=pw, reduction=reduction)
