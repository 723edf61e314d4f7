"""Numba loops of the depthwise engine (``depthwise.py``), loaded through
``functional/_backend.py``: direct forward, input-gradient and weight-gradient passes over
NCHW arrays, one (sample, channel) plane at a time, kernel taps in row-major order (the
order of the NumPy twin in ``depthwise.py``)."""

from __future__ import annotations

import numpy as np
from numba import njit

_JIT = {"cache": True, "nogil": True, "error_model": "numpy"}


@njit(**_JIT)
def forward(xp, w, sh, sw, dh, dw, out):  # pragma: no cover - compiled
    """out[n, c*M + q] = sum over taps (a, b) of w[c, q, a, b] * xp[n, c, i*sh + a*dh,
    j*sw + b*dw]. xp (m, C, Hp, Wp) padded input; w (C, M, kH, kW); out (m, C*M, OH, OW)."""
    m, c = xp.shape[0], xp.shape[1]
    mult, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    oh, ow = out.shape[2], out.shape[3]
    for n in range(m):
        for ch in range(c):
            for q in range(mult):
                o = ch * mult + q
                out[n, o] = 0.0
                for a in range(kh):
                    for b in range(kw):
                        wv = w[ch, q, a, b]
                        for i in range(oh):
                            src = xp[n, ch, i * sh + a * dh]
                            dst = out[n, o, i]
                            if sw == 1:  # contiguous: vectorises
                                src = src[b * dw:b * dw + ow]
                                for j in range(ow):
                                    dst[j] += wv * src[j]
                            else:
                                for j in range(ow):
                                    dst[j] += wv * src[j * sw + b * dw]


@njit(**_JIT)
def input_grad(g, w, sh, sw, dh, dw, gxp):  # pragma: no cover - compiled
    """The adjoint of ``forward`` in xp: gxp (m, C, Hp, Wp) = sum of w * g over taps
    (zeroed first); g (m, C*M, OH, OW)."""
    m, c = gxp.shape[0], gxp.shape[1]
    mult, kh, kw = w.shape[1], w.shape[2], w.shape[3]
    oh, ow = g.shape[2], g.shape[3]
    gxp[:] = 0.0
    for n in range(m):
        for ch in range(c):
            for q in range(mult):
                o = ch * mult + q
                for a in range(kh):
                    for b in range(kw):
                        wv = w[ch, q, a, b]
                        for i in range(oh):
                            src = g[n, o, i]
                            dst = gxp[n, ch, i * sh + a * dh]
                            if sw == 1:  # contiguous: vectorises
                                dst = dst[b * dw:b * dw + ow]
                                for j in range(ow):
                                    dst[j] += wv * src[j]
                            else:
                                for j in range(ow):
                                    dst[j * sw + b * dw] += wv * src[j]


@njit(**_JIT)
def weight_grad(g, xp, sh, sw, dh, dw, gw):  # pragma: no cover - compiled
    """gw (C, M, kH, kW) = sum over samples and positions of g * the tap's input; g (m, C*M,
    OH, OW), xp (m, C, Hp, Wp). Products are summed per output column first (a vector of
    OW partial sums, so the loop vectorises), then across the columns."""
    m, c = xp.shape[0], xp.shape[1]
    mult, kh, kw = gw.shape[1], gw.shape[2], gw.shape[3]
    oh, ow = g.shape[2], g.shape[3]
    acc = np.empty(ow, gw.dtype)
    for ch in range(c):
        for q in range(mult):
            o = ch * mult + q
            for a in range(kh):
                for b in range(kw):
                    acc[:] = 0.0
                    for n in range(m):
                        for i in range(oh):
                            src = xp[n, ch, i * sh + a * dh]
                            gr = g[n, o, i]
                            if sw == 1:
                                src = src[b * dw:b * dw + ow]
                                for j in range(ow):
                                    acc[j] += gr[j] * src[j]
                            else:
                                for j in range(ow):
                                    acc[j] += gr[j] * src[j * sw + b * dw]
                    gw[ch, q, a, b] = acc.sum()
