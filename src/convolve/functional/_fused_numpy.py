"""NumPy twins of ``_fused_numba.py`` (same signatures, same results up to summation
order for BatchNorm, bitwise for SGD): the reference and the fallback without Numba."""

from __future__ import annotations

import numpy as np


def bn_train_forward(x, w, b, eps, y, mean, var, invstd):
    """Batch statistics per channel of x (N, C, L) into mean, var (biased), invstd (C,)
    float64, and y = (x - mean) * (invstd * w) + b; w, b (C,) in x's dtype."""
    x64 = x.astype(np.float64, copy=False)
    mean[...] = x64.mean(axis=(0, 2))
    var[...] = x64.var(axis=(0, 2))
    invstd[...] = 1.0 / np.sqrt(var + eps)
    scale = (invstd * w)[:, None]
    np.multiply(x64 - mean[:, None], scale, out=y, casting="unsafe")
    y += b.astype(y.dtype, copy=False)[:, None]


def bn_train_backward(g, x, mean, invstd, w, gx, gw, gb, need_gx):
    """Gradients of bn_train_forward: gw = sum(g * xhat), gb = sum(g) per channel (float64);
    when need_gx, gx = w invstd (g - mean(g) - xhat mean(g xhat)), xhat = (x - mean) invstd."""
    g64 = g.astype(np.float64, copy=False)
    centred = x.astype(np.float64, copy=False) - mean[:, None]
    gb[...] = g64.sum(axis=(0, 2))
    sgx = (g64 * centred).sum(axis=(0, 2))
    gw[...] = sgx * invstd
    if need_gx:
        count = g.shape[0] * g.shape[2]
        k = (w * invstd)[:, None]
        a = (gb / count)[:, None]
        c = (sgx * invstd * invstd / count)[:, None]
        np.multiply(k, g64 - a - centred * c, out=gx, casting="unsafe")


def sgd_momentum_update(p, d, buf, momentum, one_minus_damp, neg_lr, nesterov, damp):
    """buf <- buf * momentum + d (times 1 - dampening when damp), p <- p + (nesterov ?
    d + buf * momentum : buf) * -lr; flat arrays, scalars in their dtype."""
    buf *= momentum
    buf += np.multiply(d, one_minus_damp) if damp else d
    step = d + buf * momentum if nesterov else buf
    p += step * neg_lr
