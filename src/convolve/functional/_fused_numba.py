"""Numba twins of ``_fused_numpy.py``: BatchNorm forward/backward in one kernel each and
SGD's momentum update in one pass (same signatures; ``_fused.py`` picks one).

BatchNorm works on (N, C, L) views (L = the flattened spatial size), one channel at a
time: the statistics and the gradient sums accumulate in float64 whatever the dtype.
The SGD loop does NumPy's float operations in NumPy's order, so it is bitwise equal
to the NumPy twin.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}
_SUM = dict(_JIT, fastmath={"reassoc"})  # reductions: independent partial sums vectorize


@numba.njit(**_SUM)
def _channel_stats(x, ch):
    n, _, size = x.shape
    s = 0.0
    for i in range(n):
        for j in range(size):
            s += x[i, ch, j]
    mu = s / (n * size)
    v = 0.0
    for i in range(n):
        for j in range(size):
            d = x[i, ch, j] - mu
            v += d * d
    return mu, v / (n * size)


@numba.njit(**_JIT)
def bn_train_forward(x, w, b, eps, y, mean, var, invstd):
    """Batch statistics per channel of x (N, C, L) into mean, var (biased), invstd (C,)
    float64, and y = (x - mean) * (invstd * w) + b; w, b (C,) in x's dtype."""
    for ch in range(x.shape[1]):
        mu, v = _channel_stats(x, ch)
        inv = 1.0 / np.sqrt(v + eps)
        mean[ch], var[ch], invstd[ch] = mu, v, inv
        scale = inv * w[ch]
        shift = b[ch]
        for i in range(x.shape[0]):
            for j in range(x.shape[2]):
                y[i, ch, j] = (x[i, ch, j] - mu) * scale + shift


@numba.njit(**_SUM)
def _grad_sums(g, x, ch, mu):
    sg = 0.0
    sgx = 0.0
    for i in range(g.shape[0]):
        for j in range(g.shape[2]):
            gv = g[i, ch, j]
            sg += gv
            sgx += gv * (x[i, ch, j] - mu)
    return sg, sgx


@numba.njit(**_JIT)
def bn_train_backward(g, x, mean, invstd, w, gx, gw, gb, need_gx):
    """Gradients of bn_train_forward: gw = sum(g * xhat), gb = sum(g) per channel (float64);
    when need_gx, gx = w invstd (g - mean(g) - xhat mean(g xhat)), xhat = (x - mean) invstd."""
    count = g.shape[0] * g.shape[2]
    for ch in range(g.shape[1]):
        mu, inv = mean[ch], invstd[ch]
        sg, sgx = _grad_sums(g, x, ch, mu)
        gw[ch] = sgx * inv
        gb[ch] = sg
        if not need_gx:
            continue
        k = w[ch] * inv
        a = sg / count
        c = sgx * inv * inv / count
        for i in range(g.shape[0]):
            for j in range(g.shape[2]):
                gx[i, ch, j] = k * (g[i, ch, j] - a - (x[i, ch, j] - mu) * c)


@numba.njit(**_JIT)
def sgd_momentum_update(p, d, buf, momentum, one_minus_damp, neg_lr, nesterov, damp):
    """buf <- buf * momentum + d (times 1 - dampening when damp), p <- p + (nesterov ?
    d + buf * momentum : buf) * -lr; flat arrays, scalars in their dtype."""
    for i in range(p.size):
        di = d[i]
        bi = buf[i] * momentum + (di * one_minus_damp if damp else di)
        buf[i] = bi
        step = di + bi * momentum if nesterov else bi
        p[i] = p[i] + step * neg_lr
