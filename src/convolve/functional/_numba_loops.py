"""Numba loops for ReLU, 2x2 max pooling and the Adam update, loaded by ``_backend.py``
(NumPy is the fallback).

Each loop does in one pass what NumPy needs several (strided) passes for. Arrays are
C-contiguous; pooling works on (B, H, W) planes, ReLU and Adam on flat arrays. Results
equal the NumPy implementations' bit for bit (and PyTorch's) for finite gradients: the
same float operations in the same order, without fast-math. The loops are written so
that LLVM turns their branches into selects and vectorizes them (``error_model='numpy'``
drops the division-by-zero checks that would stop it). A general max-pool loop over a
runtime kernel size measured 5-10x slower than NumPy's strided passes, so only the 2x2,
stride-2 window (nearly every CNN's) has a loop.
"""

from __future__ import annotations

import math

import numba
import numpy as np

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@numba.njit(**_JIT)
def relu_forward(a, out, mask):
    """out = max(a, 0) (NaN passes, as np.maximum); mask = not a <= 0 (true for NaN, where
    PyTorch passes the gradient). Flat arrays."""
    for i in range(a.size):
        v = a[i]
        keep = not v <= 0
        mask[i] = keep
        out[i] = v if keep else 0


@numba.njit(**_JIT)
def relu_backward(g, mask, out):
    """out = g * mask (NumPy's g * mask: a NaN or inf gradient times 0 is NaN); mask uint8."""
    for i in range(g.size):
        out[i] = g[i] * mask[i]


@numba.njit(**_JIT)
def max_pool_2x2_forward(x, out, code):
    """2x2 windows with stride 2 over (B, H, W) planes, PyTorch's CPU rule for the argmax:
    in row-major order a value v replaces the max when v > max or v is NaN (so ties keep
    the first, and the last NaN wins). code = argmax position in the window (0..3)."""
    nb = x.shape[0]
    oh, ow = out.shape[1], out.shape[2]
    for b in range(nb):
        for i in range(oh):
            r0 = x[b, 2 * i]
            r1 = x[b, 2 * i + 1]
            for j in range(ow):
                best = r0[2 * j]
                c = 0
                v = r0[2 * j + 1]
                t = (v > best) | math.isnan(v)
                best = v if t else best
                c = 1 if t else c
                v = r1[2 * j]
                t = (v > best) | math.isnan(v)
                best = v if t else best
                c = 2 if t else c
                v = r1[2 * j + 1]
                t = (v > best) | math.isnan(v)
                best = v if t else best
                c = 3 if t else c
                out[b, i, j] = best
                code[b, i, j] = c


@numba.njit(**_JIT)
def max_pool_2x2_backward(g, code, gx):
    """gx (B, H, W) = g at each window's argmax, 0 elsewhere (also in the odd last row or
    column that no window covers); every element is written once."""
    nb, oh, ow = g.shape
    h_in, w_in = gx.shape[1], gx.shape[2]
    for b in range(nb):
        for i in range(oh):
            r0 = gx[b, 2 * i]
            r1 = gx[b, 2 * i + 1]
            for j in range(ow):
                c = code[b, i, j]
                v = g[b, i, j]
                r0[2 * j] = v if c == 0 else 0
                r0[2 * j + 1] = v if c == 1 else 0
                r1[2 * j] = v if c == 2 else 0
                r1[2 * j + 1] = v if c == 3 else 0
            for w in range(2 * ow, w_in):
                r0[w] = 0
                r1[w] = 0
        for h in range(2 * oh, h_in):
            gx[b, h, :] = 0


@numba.njit(**_JIT)
def adam_update(p, d, m, v, w, one_minus_w, small_w, b2, one_minus_b2, neg_step, bc2, eps):
    """PyTorch's Adam step on flat arrays, as ``optim/adam.py`` does it with NumPy:
    m <- lerp(m, d, w) (two-sided formula), v <- b2 v + ((1 - b2) d) d,
    p <- p + (m * -step) / (sqrt(v) / bc2 + eps). Scalars have the arrays' dtype."""
    if small_w:
        for i in range(p.size):
            m[i] = m[i] + (d[i] - m[i]) * w
    else:
        for i in range(p.size):
            m[i] = d[i] - (d[i] - m[i]) * one_minus_w
    for i in range(p.size):
        vi = v[i] * b2 + (d[i] * one_minus_b2) * d[i]
        v[i] = vi
        p[i] = p[i] + (m[i] * neg_step) / (np.sqrt(vi) / bc2 + eps)
