"""Power-average pooling: lp_pool1d / lp_pool2d, PyTorch's definition composed of
differentiable ops (so the backward is exact and matches PyTorch's)::

    lp_pool2d(x, p, k) = (k_h * k_w * avg_pool2d(x ** p, k, stride, 0, ceil_mode)) ** (1 / p)

No padding; stride defaults to kernel_size. As in PyTorch, ``x ** p`` is taken without an
absolute value (odd or fractional p on negative inputs give negative sums or NaN).
"""

from __future__ import annotations

import numbers

import numpy as np

from ._util import ntuple
from .elementwise import mul, pow
from .pool import avg_pool1d, avg_pool2d

__all__ = ["lp_pool1d", "lp_pool2d"]


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
