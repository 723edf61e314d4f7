"""Per-sample members of the norm family, as in ``torch.nn.functional``: layer_norm and
group_norm (statistics over each sample's own features, exact backward) and channel-wise
dropout1d/dropout2d (one keep/drop draw per sample and channel)."""

from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..function import Function
from ..random import get_rng
from ..tensor import Tensor
from ._util import check_float
from .norm import Dropout

__all__ = ["dropout1d", "dropout2d", "group_norm", "layer_norm"]


def _array(x):
    return x.data if isinstance(x, Tensor) else x


def _standardize(x2: np.ndarray, eps: float):
    """Rows of x2 (B, M) to zero mean, unit biased variance: (xhat, rstd of shape (B, 1))."""
    mean = x2.mean(axis=1, keepdims=True)
    centered = x2 - mean
    var = np.mean(centered * centered, axis=1, keepdims=True)
    rstd = (1.0 / np.sqrt(var + eps)).astype(x2.dtype, copy=False)
    return centered * rstd, rstd


def _standardize_grad(gh2: np.ndarray, xhat: np.ndarray, rstd: np.ndarray) -> np.ndarray:
    """Gradient through ``_standardize`` given the gradient gh2 (B, M) of xhat."""
    mean_g = gh2.mean(axis=1, keepdims=True)
    mean_gx = (gh2 * xhat).mean(axis=1, keepdims=True)
    return rstd * (gh2 - mean_g - xhat * mean_gx)


class LayerNorm(Function):
    """y = (x - mean) / sqrt(var + eps) * weight + bias over the last k axes of x, whose shape
    is weight's and bias's (when given)."""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, k=1, eps=1e-5):
        m = int(np.prod(x.shape[x.ndim - k:]))
        xhat, rstd = _standardize(x.reshape(-1, m), eps)
        xhat = xhat.reshape(x.shape)
        y = xhat if weight is None else xhat * weight.astype(x.dtype, copy=False)
        if bias is not None:
            y = y + bias.astype(x.dtype, copy=False)
        ctx.save_for_backward(xhat, rstd, weight)
        ctx.meta = k
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, weight = ctx.saved
        lead = tuple(range(g.ndim - ctx.meta))
        _, nw, nb = ctx.needs_input_grad
        gw = (g * xhat).sum(axis=lead) if nw else None
        gb = g.sum(axis=lead) if nb else None
        gh = g if weight is None else g * weight
        m = xhat.size // rstd.size
        gx = _standardize_grad(gh.reshape(-1, m), xhat.reshape(-1, m), rstd).reshape(g.shape)
        return gx, gw, gb


class GroupNorm(Function):
    """Standardize each sample's channel groups of x (N, C, *), then scale and shift per
    channel with weight (C,) and bias (C,) (when given)."""

    @staticmethod
    def forward(ctx, x, weight=None, bias=None, groups=1, eps=1e-5):
        n = x.shape[0]
        xhat, rstd = _standardize(x.reshape(n * groups, -1), eps)
        xhat = xhat.reshape(x.shape)
        shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
        w = None if weight is None else weight.astype(x.dtype, copy=False).reshape(shape)
        y = xhat if w is None else xhat * w
        if bias is not None:
            y = y + bias.astype(x.dtype, copy=False).reshape(shape)
        ctx.save_for_backward(xhat, rstd, w)
        return y

    @staticmethod
    def backward(ctx, g):
        xhat, rstd, w = ctx.saved
        axes = (0,) + tuple(range(2, g.ndim))
        _, nw, nb = ctx.needs_input_grad
        gw = (g * xhat).sum(axis=axes) if nw else None
        gb = g.sum(axis=axes) if nb else None
        gh = g if w is None else g * w
        rows = rstd.shape[0]
        gx = _standardize_grad(gh.reshape(rows, -1), xhat.reshape(rows, -1), rstd)
        return gx.reshape(g.shape), gw, gb


def _check_affine(op: str, name: str, value, shape: tuple) -> None:
    if value is None:
        return
    if not isinstance(value, (Tensor, np.ndarray)):
        raise TypeError(f"{op}: {name} must be a Tensor, an ndarray or None, "
                        f"received {type(value).__name__}")
    if tuple(_array(value).shape) != shape:
        raise ValueError(f"{op}: {name} must have shape {shape}, "
                         f"received shape {tuple(_array(value).shape)}")


def _check_eps(op: str, eps) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{op}: eps must be a non-negative number, received eps={eps!r}")
    return float(eps)


def normalized_shape_tuple(op: str, normalized_shape) -> tuple:
    """An int or a sequence of positive ints as a tuple (PyTorch's normalized_shape)."""
    shape = (normalized_shape,) if isinstance(normalized_shape, numbers.Integral) \
        else normalized_shape
    try:
        shape = tuple(shape)
    except TypeError:
        shape = None
    if not shape or any(isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1
                        for s in shape):
        raise ValueError(f"{op}: normalized_shape must be a positive int or a non-empty "
                         f"sequence of positive ints, received normalized_shape="
                         f"{normalized_shape!r}")
    return tuple(int(s) for s in shape)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5):
    """Normalise over the trailing ``normalized_shape`` axes of input (biased variance),
    then multiply by weight and add bias (both of shape normalized_shape, or None)."""
    check_float("layer_norm", input)
    shape = normalized_shape_tuple("layer_norm", normalized_shape)
    k = len(shape)
    if tuple(input.shape[input.ndim - k:]) != shape or input.ndim < k:
        raise ValueError(f"layer_norm: input's trailing dims must equal normalized_shape "
                         f"{shape}, received input shape {tuple(input.shape)}")
    _check_affine("layer_norm", "weight", weight, shape)
    _check_affine("layer_norm", "bias", bias, shape)
    return LayerNorm.apply(input, weight, bias, k=k, eps=_check_eps("layer_norm", eps))


def group_norm(input, num_groups: int, weight=None, bias=None, eps: float = 1e-5):
    """Normalise each sample's ``num_groups`` channel groups of input (N, C, *) (biased
    variance), then scale and shift per channel by weight (C,) and bias (C,)."""
    check_float("group_norm", input)
    if input.ndim < 2:
        raise ValueError(f"group_norm: expected input of shape (N, C, *), received shape "
                         f"{tuple(input.shape)}")
    channels = input.shape[1]
    if isinstance(num_groups, bool) or not isinstance(num_groups, numbers.Integral) \
            or num_groups < 1 or channels % num_groups:
        raise ValueError(f"group_norm: num_groups must be a positive int that divides the "
                         f"{channels} channels of input {tuple(input.shape)}, received "
                         f"num_groups={num_groups!r}")
    _check_affine("group_norm", "weight", weight, (channels,))
    _check_affine("group_norm", "bias", bias, (channels,))
    if _array(input).size == 0:
        raise ValueError(f"group_norm: expected a non-empty input, received shape "
                         f"{tuple(input.shape)}")
    return GroupNorm.apply(input, weight, bias, groups=int(num_groups),
                           eps=_check_eps("group_norm", eps))


def _channel_dropout(op: str, input, p, training: bool, lead: int = 2):
    """Zero whole channels input[n, c] (input[c] when lead=1) with probability p, scale the
    rest by 1 / (1 - p)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p has to be between 0 and 1, received p={p!r}")
    check_float(op, input)
    if not training or p == 0:
        return input
    x = _array(input)
    keep = get_rng().random(x.shape[:lead] + (1,) * (x.ndim - lead)) >= p
    scale = 0.0 if p == 1 else 1.0 / (1.0 - p)
    return Dropout.apply(input, mask=keep.astype(x.dtype) * x.dtype.type(scale))


def dropout1d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Channel dropout of (N, C, L) or unbatched (C, L) input. The result is always a new
    tensor (``inplace`` is accepted for PyTorch compatibility)."""
    if input.ndim not in (2, 3):
        raise ValueError(f"dropout1d: expected a 2D (C, L) or 3D (N, C, L) input, received "
                         f"shape {tuple(input.shape)}")
    return _channel_dropout("dropout1d", input, p, training, lead=input.ndim - 1)


def dropout2d(input, p: float = 0.5, training: bool = True, inplace: bool = False):
    """Channel dropout of (N, C, H, W) input. As in PyTorch, a 3D input is taken as
    (N, C, L) (with PyTorch's warning); ``inplace`` is accepted, the result is new."""
    if input.ndim < 2:
        raise ValueError(f"dropout2d: expected a 4D (N, C, H, W) input, received shape "
                         f"{tuple(input.shape)}")
    if input.ndim == 3:
        warnings.warn("dropout2d: Received a 3D input to dropout2d and assuming that "
                      "channel-wise 1D dropout behavior is desired - input is interpreted as "
                      "shape (N, C, L); use dropout1d for that", stacklevel=2)
    elif input.ndim != 4:
        warnings.warn(f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is "
                      f"deprecated in PyTorch; use dropout instead", stacklevel=2)
    return _channel_dropout("dropout2d", input, p, training)
