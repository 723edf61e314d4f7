"""Direct depthwise engine (groups == in_channels, each input channel with its own M =
out_channels / in_channels filters), any stride, dilation and padding mode: no columns,
no GEMMs. The Numba loops of ``_depthwise_kernels.py`` do each pass in one sweep per
plane; ``plan.input_grad == 'numpy'`` (or no Numba) uses the NumPy twin below, one
multiply-add pass over the batch chunk per kernel tap. The batch is walked in chunks on
``plan.threads`` threads; weight-gradient partials are added in chunk order.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..._backend import load
from ..padding import pad_array, unpad_array
from ..parallel import batch_chunks, map_chunks, sum_partials
from ..windows import out_hw, sliding_windows


def applies(x_shape, w_shape, groups) -> bool:
    """Depthwise: one input channel per group (out_channels a multiple of in_channels)."""
    return w_shape[1] == 1 and groups == x_shape[1]


def _kernels(plan):
    return None if plan.input_grad == "numpy" else load("depthwise")


def forward(x4, w4, b, plan, keep):
    """Output (N, O, OH, OW); also returns the input when ``keep``."""
    (n, c, h, w), (o, _, kh, kw) = x4.shape, w4.shape
    oh, ow = out_hw((h, w), (kh, kw), plan.stride, plan.pads, plan.dilation)
    wk = np.ascontiguousarray(w4.reshape(c, o // c, kh, kw))
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)
    k = _kernels(plan)

    def chunk(sl):
        xp = np.ascontiguousarray(pad_array(x4[sl], plan.pads, plan.mode))
        if k is not None:
            k.forward(xp, wk, *plan.stride, *plan.dilation, res[sl])
        else:
            _forward_numpy(xp, wk, plan, res[sl])
        if b is not None:
            res[sl] += b.reshape(o, 1, 1)

    map_chunks(chunk, _chunks(n, x4, plan), plan.threads)
    return res, (x4 if keep else None)


def _chunks(n, x4, plan) -> list:
    per = (x4[0].size + np.prod(plan.x_shape[2:])) * 2 * x4.itemsize
    return batch_chunks(n, int(per), plan.chunk_bytes)


def _forward_numpy(xp, wk, plan, out):
    m, c = xp.shape[:2]
    mult, kh, kw = wk.shape[1:]
    wins = sliding_windows(xp, (kh, kw), plan.stride, plan.dilation)
    dst = out.reshape(m, c, mult, *out.shape[2:])
    dst[...] = 0
    for a, bb in itertools.product(range(kh), range(kw)):
        dst += wins[:, :, None, :, :, a, bb] * wk[:, :, a, bb, None, None]


def backward(g4, x4, w4, plan, nx, nw):
    """(input grad, weight grad); either is None when not needed."""
    n, o = g4.shape[:2]
    c, (kh, kw) = plan.x_shape[1], w4.shape[2:]
    wk = np.ascontiguousarray(w4.reshape(c, o // c, kh, kw))
    x_shape = (n,) + tuple(plan.x_shape[1:])
    padded = (c,) + tuple(np.add(x_shape[2:], [sum(p) for p in plan.pads]))
    gx = np.empty(x_shape, g4.dtype) if nx else None
    g4 = np.ascontiguousarray(g4)
    k = _kernels(plan)

    def chunk(sl):
        m = sl.stop - sl.start
        part = None
        if nw:
            xp = np.ascontiguousarray(pad_array(x4[sl], plan.pads, plan.mode))
            part = np.empty_like(wk)
            if k is not None:
                k.weight_grad(g4[sl], xp, *plan.stride, *plan.dilation, part)
            else:
                _weight_grad_numpy(g4[sl], xp, plan, part)
        if nx:
            gxp = np.empty((m,) + padded, g4.dtype)
            if k is not None:
                k.input_grad(g4[sl], wk, *plan.stride, *plan.dilation, gxp)
            else:
                _input_grad_numpy(g4[sl], wk, plan, gxp)
            gx[sl] = unpad_array(gxp, plan.pads, plan.mode)
        return part

    gw = sum_partials(map_chunks(chunk, _chunks(n, g4, plan), plan.threads))
    return gx, (None if gw is None else gw.reshape(w4.shape))


def _weight_grad_numpy(g, xp, plan, out):
    m, _, oh, ow = g.shape
    c, mult, kh, kw = out.shape
    wins = sliding_windows(xp, (kh, kw), plan.stride, plan.dilation)
    gs = g.reshape(m, c, mult, oh, ow)
    for a, bb in itertools.product(range(kh), range(kw)):
        out[:, :, a, bb] = np.einsum("ncqij,ncij->cq", gs, wins[..., a, bb])


def _input_grad_numpy(g, wk, plan, gxp):
    m, _, oh, ow = g.shape
    c, mult, kh, kw = wk.shape
    gs = g.reshape(m, c, mult, oh, ow)
    gxp[...] = 0
    (sh, sw), (dh, dw) = plan.stride, plan.dilation
    for a, bb in itertools.product(range(kh), range(kw)):
        hs = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
        ws = slice(bb * dw, bb * dw + (ow - 1) * sw + 1, sw)
        gxp[:, :, hs, ws] += np.einsum("ncqij,cq->ncij", gs, wk[:, :, a, bb])
