"""Pooling built on the 2-D pools: lp_pool1d / lp_pool2d and max_pool3d.

max_pool3d takes the elementwise maximum, over the kernel's depth taps, of max_pool2d of
strided depth slices folded into the batch (a loop over kernel taps, not over data); the
gradient goes to the first maximum in (depth, height, width) window order, as PyTorch's.

Power-average pooling is PyTorch's definition composed of differentiable ops (so the
backward is exact and matches PyTorch's)::

    lp_pool2d(x, p, k) = (k_h * k_w * avg_pool2d(x ** p, k, stride, 0, ceil_mode)) ** (1 / p)

No padding; stride defaults to kernel_size. As in PyTorch, ``x ** p`` is taken without an
absolute value (odd or fractional p on negative inputs give negative sums or NaN).
"""

from __future__ import annotations

import numbers

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._util import check_float, ntuple
from .elementwise import mul, pow
from .pool import _out_size, avg_pool1d, avg_pool2d, max_pool2d
from .shape import getitem, pad, permute, reshape

__all__ = ["lp_pool1d", "lp_pool2d", "max_pool3d"]


class _FirstMax(Function):
    """Elementwise maximum; on ties the gradient goes to the first operand."""

    @staticmethod
    def forward(ctx, a, b):
        ctx.take_b = b > a
        return np.where(ctx.take_b, b, a)

    @staticmethod
    def backward(ctx, g):
        zero = np.zeros((), g.dtype)
        return np.where(ctx.take_b, zero, g), np.where(ctx.take_b, g, zero)


def max_pool3d(input, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Max over (kD, kH, kW) windows: (N, C, D, H, W) or (C, D, H, W) -> pooled, PyTorch's
    F.max_pool3d (padding <= kernel_size // 2 counts as -inf; output size as max_pool2d)."""
    op = "max_pool3d"
    if not isinstance(input, Tensor):
        raise TypeError(f"{op}: input must be a Tensor, received {type(input).__name__}")
    check_float(op, input)
    if input.ndim not in (4, 5):
        raise ValueError(f"{op}: expected input of shape (N, C, D, H, W) or (C, D, H, W), "
                         f"received shape {tuple(input.shape)}")
    k = ntuple(kernel_size, 3, op, "kernel_size")
    s = k if stride is None or stride == () else ntuple(stride, 3, op, "stride")
    p, d = ntuple(padding, 3, op, "padding", minimum=0), ntuple(dilation, 3, op, "dilation")
    if any(pp > kk // 2 for pp, kk in zip(p, k)):
        raise ValueError(f"{op}: padding must be <= kernel_size // 2, received padding={p}, "
                         f"kernel_size={k}")
    x = reshape(input, (1, *input.shape)) if input.ndim == 4 else input
    n, c, depth = x.shape[:3]
    od = _out_size(depth, k[0], s[0], p[0], d[0], ceil_mode)
    if od < 1:
        raise ValueError(f"{op}: output depth {od} is too small for input shape "
                         f"{tuple(input.shape)}")
    hi = max((od - 1) * s[0] + d[0] * (k[0] - 1) + 1 - depth - p[0], 0)
    x = pad(x, (0, 0, 0, 0, p[0], hi), value=-np.inf) if p[0] or hi else x
    y = None
    for t in range(k[0]):  # a loop over kernel taps, not over data
        sl = getitem(x, (slice(None), slice(None),
                         slice(t * d[0], t * d[0] + (od - 1) * s[0] + 1, s[0])))
        folded = reshape(permute(sl, 0, 2, 1, 3, 4), (n * od, c, *x.shape[3:]))
        part = max_pool2d(folded, k[1:], s[1:], p[1:], d[1:], ceil_mode)
        y = part if y is None else _FirstMax.apply(y, part)
    y = permute(reshape(y, (n, od, *y.shape[1:])), 0, 2, 1, 3, 4)
    return reshape(y, y.shape[1:]) if input.ndim == 4 else y


def _lp_pool(op, nd, x, norm_type, kernel_size, stride, ceil_mode):
    if not isinstance(norm_type, numbers.Real) or isinstance(norm_type, bool) or norm_type == 0:
        raise ValueError(f"{op}: norm_type must be a non-zero number, "
                         f"received norm_type={norm_type!r}")
    k = ntuple(kernel_size, nd, op, "kernel_size")
    s = k if stride is None else ntuple(stride, nd, op, "stride")
    pool = avg_pool2d if nd == 2 else avg_pool1d
    xp = mul(x, x) if norm_type == 2 else pow(x, float(norm_type))
    total = mul(pool(xp, k, s, 0, ceil_mode), float(np.prod(k)))
    return pow(total, 1.0 / float(norm_type))


def lp_pool2d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over (kH, kW) windows: (N, C, H, W) or (C, H, W) -> pooled."""
    return _lp_pool("lp_pool2d", 2, input, norm_type, kernel_size, stride, ceil_mode)


def lp_pool1d(input, norm_type, kernel_size, stride=None, ceil_mode=False):
    """Power-average pooling over windows of length k: (N, C, L) or (C, L) -> pooled."""
    return _lp_pool("lp_pool1d", 1, input, norm_type, kernel_size, stride, ceil_mode)
