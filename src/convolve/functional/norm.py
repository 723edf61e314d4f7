"""batch_norm (fused, exact backward, running-stat updates as PyTorch) and inverted dropout."""

from __future__ import annotations

import numbers

import numpy as np

from ..function import Function
from ..random import get_rng
from ..tensor import Tensor
from . import _fused
from ._util import check_float

__all__ = ["batch_norm", "dropout"]


def _array(x):
    return x.data if isinstance(x, Tensor) else x


class BatchNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias, per channel (axis 1) of x (N, C, *).

    In training the batch statistics are used (biased var) and, when given, the running
    arrays are updated in place: r = (1 - momentum) r + momentum * stat, with the unbiased
    variance for running_var. In eval the running statistics are used.
    """

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, running_mean=None, running_var=None,
                training=False, momentum=0.1, eps=1e-5, backend=None):
        if training and x.flags.c_contiguous and x.dtype in (np.float32, np.float64):
            return _train_forward(ctx, x, weight, bias, running_mean, running_var, momentum,
                                  eps, backend)
        axes = (0,) + tuple(range(2, x.ndim))
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        count = x.size // x.shape[1]
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            if running_mean is not None:
                running_mean[...] = (1 - momentum) * running_mean + momentum * mean
                running_var[...] = (1 - momentum) * running_var \
                    + momentum * var * (count / (count - 1))
        else:
            mean, var = running_mean.astype(x.dtype), running_var.astype(x.dtype)
        invstd = (1.0 / np.sqrt(var + eps)).astype(x.dtype, copy=False)
        xhat = (x - mean.reshape(shape)) * invstd.reshape(shape)
        w = None if weight is None else weight.astype(x.dtype, copy=False).reshape(shape)
        y = xhat if w is None else xhat * w
        if bias is not None:
            y = y + bias.astype(x.dtype, copy=False).reshape(shape)
        ctx.save_for_backward(xhat, invstd.reshape(shape), w)
        ctx.meta = (axes, training)
        return y

    @staticmethod
    def backward(ctx, g):
        if ctx.meta[0] == "fused":
            return _train_backward(ctx, g)
        xhat, invstd, w = ctx.saved
        axes, training = ctx.meta
        nx, nw, nb = ctx.needs_input_grad
        gw = (g * xhat).sum(axis=axes) if nw else None
        gb = g.sum(axis=axes) if nb else None
        gx = None
        if nx:
            gh = g if w is None else g * w
            if training:
                mean_gh = gh.mean(axis=axes, keepdims=True)
                mean_ghx = (gh * xhat).mean(axis=axes, keepdims=True)
                gx = invstd * (gh - mean_gh - xhat * mean_ghx)
            else:
                gx = gh * invstd
        return gx, gw, gb


def _train_forward(ctx, x, weight, bias, running_mean, running_var, momentum, eps, backend):
    """Training-mode forward in one fused kernel over the (N, C, L) view of x."""
    n_ch = x.shape[1]
    x3 = x.reshape(x.shape[0], n_ch, -1)
    w = np.ones(n_ch, x.dtype) if weight is None else weight.astype(x.dtype, copy=False)
    b = np.zeros(n_ch, x.dtype) if bias is None else bias.astype(x.dtype, copy=False)
    mean, var, invstd = (np.empty(n_ch) for _ in range(3))
    y = np.empty_like(x)
    k = _fused.kernels(backend)
    k.bn_train_forward(x3, w, b, float(eps), y.reshape(x3.shape), mean, var, invstd)
    if running_mean is not None:
        count = x3.shape[0] * x3.shape[2]
        running_mean[...] = (1 - momentum) * running_mean + momentum * mean
        running_var[...] = (1 - momentum) * running_var + momentum * var * (count / (count - 1))
    ctx.save_for_backward(x3, mean, invstd, w)
    ctx.meta = ("fused", k)
    return y


def _train_backward(ctx, g):
    """Gradients of the fused training forward, in one kernel."""
    x3, mean, invstd, w = ctx.saved
    k = ctx.meta[1]
    nx, nw, nb = ctx.needs_input_grad
    gx = np.empty_like(g) if nx else None
    gw, gb = np.empty(len(mean)), np.empty(len(mean))
    g3 = np.ascontiguousarray(g).reshape(x3.shape)
    k.bn_train_backward(g3, x3, mean, invstd, w, g3 if gx is None else gx.reshape(x3.shape),
                        gw, gb, bool(nx))
    return gx, gw.astype(w.dtype) if nw else None, gb.astype(w.dtype) if nb else None


def _check_channel_vector(name: str, value, n_channels: int):
    if value is None:
        return
    if not isinstance(value, (Tensor, np.ndarray)):
        raise TypeError(f"batch_norm: {name} must be a Tensor, an ndarray or None, "
                        f"received {type(value).__name__}")
    shape = tuple(_array(value).shape)
    if shape != (n_channels,):
        raise ValueError(f"batch_norm: {name} must have shape ({n_channels},) (one per channel), "
                         f"received shape {shape}")


def batch_norm(input, running_mean, running_var, weight=None, bias=None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5):
    """Batch normalisation over channel axis 1 of input (N, C) or (N, C, *); output same shape.

    ``running_mean``/``running_var`` ((C,) Tensors or arrays, or both None) are updated in
    place in training and used in eval.
    """
    check_float("batch_norm", input)
    if input.ndim < 2:
        raise ValueError(f"batch_norm: expected input of shape (N, C) or (N, C, *), "
                         f"received shape {tuple(input.shape)}")
    n_channels = input.shape[1]
    if (running_mean is None) != (running_var is None):
        raise ValueError("batch_norm: running_mean and running_var must both be given or "
                         "both be None")
    for name, value in (("running_mean", running_mean), ("running_var", running_var),
                        ("weight", weight), ("bias", bias)):
        _check_channel_vector(name, value, n_channels)
    if not training and running_mean is None:
        raise ValueError("batch_norm: running_mean and running_var are required when "
                         "training=False")
    if not isinstance(momentum, numbers.Real) or not isinstance(eps, numbers.Real) or eps < 0:
        raise ValueError(f"batch_norm: momentum and eps must be real numbers with eps >= 0, "
                         f"received momentum={momentum!r}, eps={eps!r}")
    if training and np.size(input.data if isinstance(input, Tensor) else input) \
            // max(n_channels, 1) <= 1:
        raise ValueError(f"batch_norm: expected more than 1 value per channel when training, "
                         f"received input shape {tuple(input.shape)}")
    return BatchNorm.apply(input, weight, bias, running_mean=_array(running_mean),
                           running_var=_array(running_var), training=bool(training),
                           momentum=float(momentum), eps=float(eps))


class Dropout(Function):
    @staticmethod
    def forward(ctx, x, mask=None):
        ctx.save_for_backward(mask)
        return x * mask

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


def dropout(input, p: float = 0.5, training: bool = True):
    """Inverted dropout: zero each element with probability p, scale the rest by 1/(1 - p).

    The mask comes from ``convolve.random.get_rng()``; identity when p == 0 or not training.
    """
    if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: probability p has to be between 0 and 1, received p={p!r}")
    check_float("dropout", input)
    if not training or p == 0:
        return input
    x = _array(input)
    keep = get_rng().random(x.shape) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return Dropout.apply(input, mask=keep.astype(x.dtype) * x.dtype.type(scale))
