"""Blur pooling (Zhang 2019): pad with PyTorch's padding modes (the library's one pad/unpad
pair), blur with a separable normalised binomial filter, subsample."""

from __future__ import annotations

import math
import numbers

import numpy as np

from ..function import Function
from ._util import ntuple
from .conv.padding import pad_array, unpad_array
from .pool import _Axis, _check_input, _window_reduce, _window_sum_T

__all__ = ["blur_pool2d"]


_BLUR_MODES = ("reflect", "replicate", "circular", "zeros")  # PyTorch's padding_mode names


def _binomial(k: int, dtype):
    """Normalised binomial row of length k: C(k-1, i) / 2**(k-1), e.g. [1, 2, 1] / 4."""
    return (np.array([math.comb(k - 1, i) for i in range(k)]) / 2.0 ** (k - 1)).astype(dtype)


class _BlurPool(Function):
    """Pad, blur with the separable binomial filter (rows, then columns), subsample."""

    @staticmethod
    def forward(ctx, x, ah=None, aw=None, mode="reflect", out_shape=None):
        (H, W), lo = x.shape[-2:], (ah.k - 1) // 2
        hi = ah.k - 1 - lo
        pads = ((lo, hi), (lo, hi))
        xp = pad_array(x.reshape(-1, H, W), pads, mode)
        w = _binomial(ah.k, x.dtype)
        ctx.meta = (x.shape, ah, aw, pads, mode, w)
        out = _window_reduce(_window_reduce(xp, 1, ah, w=w), 2, aw, w=w)
        return out.reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        xshape, ah, aw, pads, mode, w = ctx.meta
        g3 = g.reshape(-1, ah.out, aw.out)
        gp = _window_sum_T(_window_sum_T(g3, 2, aw, aw.n, w), 1, ah, ah.n, w)
        return unpad_array(gp, pads, mode).reshape(xshape)


def blur_args(op, kernel_size, stride, padding_mode):
    """Validate blur pooling arguments (also used by BlurPool2d); return (k, (sH, sW))."""
    if not isinstance(kernel_size, numbers.Integral) or isinstance(kernel_size, bool) \
            or not 1 <= kernel_size <= 7:
        raise ValueError(f"{op}: kernel_size must be an int in 1..7, "
                         f"received kernel_size={kernel_size!r}")
    if padding_mode not in _BLUR_MODES:
        raise ValueError(f"{op}: padding_mode must be one of {tuple(_BLUR_MODES)}, "
                         f"received padding_mode={padding_mode!r}")
    return int(kernel_size), ntuple(stride, 2, op, "stride")


def _blur_geometry(op, x, kernel_size, stride, padding_mode):
    """Validate blur_pool2d's arguments; return the (H, W) geometry on the padded input."""
    k, s = blur_args(op, kernel_size, stride, padding_mode)
    hi = k // 2
    small = {"reflect": hi >= min(x.shape[-2:]), "circular": hi > min(x.shape[-2:])}
    if small.get(padding_mode, False):
        raise ValueError(f"{op}: padding_mode={padding_mode!r} pads by {hi} for "
                         f"kernel_size={k}, too much for input shape {tuple(x.shape)}")
    return tuple(_Axis(k, si, 0, 1, n + k - 1, (n - 1) // si + 1)
                 for si, n in zip(s, x.shape[-2:]))


def blur_pool2d(input, kernel_size=3, stride=2, padding_mode="reflect"):
    """Anti-aliased downsampling (Zhang 2019, antialiased-cnns' BlurPool).

    (N, C, H, W) or (C, H, W) -> (N, C, ceil(H/s), ceil(W/s)). Each channel is padded by
    (k-1)//2 before and ceil((k-1)/2) after (padding_mode 'reflect' as in the paper's
    code, or 'replicate', 'circular', 'zeros'), filtered by the normalised binomial
    k x k filter (outer product of C(k-1, i)/2**(k-1), e.g. [1,2,1]/4 for k=3; k in 1..7)
    and sampled every ``stride`` pixels: F.pad + depthwise conv2d(stride) in PyTorch terms.
    """
    op = "blur_pool2d"
    x = _check_input(op, input, 2)
    ah, aw = _blur_geometry(op, x, kernel_size, stride, padding_mode)
    return _BlurPool.apply(x, ah=ah, aw=aw, mode=padding_mode,
                           out_shape=x.shape[:-2] + (ah.out, aw.out))
