"""Direct GEMM engine for 1x1 convs without padding (stride 1 or strided): a 1x1 conv is a
plain GEMM W (O, C) @ x (C, positions) over the strided view x[:, :, ::sH, ::sW], so no
columns are gathered.

``plan.per_sample``: per-sample GEMMs (Og, Cg) @ (Cg, OH*OW) that read and write NCHW
directly (pays for large feature maps); else one GEMM per chunk over (Cg, m*OH*OW)
channel-major copies (pays for small maps, where per-sample GEMMs are too thin).
"""

from __future__ import annotations

import numpy as np

from ..parallel import batch_chunks, map_chunks, scratch, sum_partials


def applies(w_shape, pads) -> bool:
    """1x1 kernel and no padding (dilation does not matter for a 1x1 kernel)."""
    return tuple(w_shape[2:]) == (1, 1) and not any(lo or hi for lo, hi in pads)


def _cols(a: np.ndarray, groups: int, per_sample: bool, name: str) -> np.ndarray:
    """(m, C, OH, OW) as per-sample (m, G, Cg, P) or channel-major (G, Cg, m*P) operands."""
    m, c, oh, ow = a.shape
    if per_sample:
        if not a.flags.c_contiguous:
            buf = scratch(name, a.shape, a.dtype)
            np.copyto(buf, a)
            a = buf
        return a.reshape(m, groups, c // groups, oh * ow)
    cols = scratch(name, (c, m, oh, ow), a.dtype)
    np.copyto(cols.transpose(1, 0, 2, 3), a)
    return cols.reshape(groups, c // groups, m * oh * ow)


def forward(x4, w4, b, plan, keep):
    """Output (N, O, OH, OW); also returns the input when ``keep``."""
    groups, (sh, sw) = plan.groups, plan.stride
    xs = x4[:, :, ::sh, ::sw]
    n, _, oh, ow = xs.shape
    o = w4.shape[0]
    wm = w4.reshape(groups, o // groups, -1)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)

    def chunk(sl):
        m = sl.stop - sl.start
        cols = _cols(xs[sl], groups, plan.per_sample, "cols")
        if plan.per_sample:
            dst = res[sl].reshape(m, groups, o // groups, oh * ow)
            np.matmul(wm, cols, out=dst)
        else:
            out = np.matmul(wm, cols).reshape(o, m, oh, ow)  # (G, Og, m*P)
            dst = res[sl]
            np.copyto(dst.transpose(1, 0, 2, 3), out)
            dst = dst.reshape(m, groups, o // groups, oh * ow)
        if b is not None:
            dst += b.reshape(groups, o // groups, 1)

    per = xs.shape[1] * oh * ow * x4.itemsize * (1 if plan.per_sample else 2)
    map_chunks(chunk, batch_chunks(n, per, plan.chunk_bytes), plan.threads)
    return res, (x4 if keep else None)


def backward(g4, x4, w4, plan, nx, nw):
    """(input grad, weight grad); either is None when not needed."""
    groups, (sh, sw), per_sample = plan.groups, plan.stride, plan.per_sample
    n, o, oh, ow = g4.shape
    x_shape = (n,) + tuple(plan.x_shape[1:])
    wm = w4.reshape(groups, o // groups, -1)
    gx = np.zeros(x_shape, g4.dtype) if nx and (sh, sw) != (1, 1) else \
        np.empty(x_shape, g4.dtype) if nx else None
    xs = x4[:, :, ::sh, ::sw] if nw else None

    def chunk(sl):
        m = sl.stop - sl.start
        gc = _cols(g4[sl], groups, per_sample, "gc")
        part = None
        if nw:  # one GEMM per group over the chunk, whatever the layout
            gt = gc if not per_sample else _cols(g4[sl], groups, False, "gt")
            part = np.matmul(gt, _cols(xs[sl], groups, False, "cols").transpose(0, 2, 1))
        if nx:
            d = np.matmul(wm.transpose(0, 2, 1), gc)
            d = d.reshape(m, -1, oh, ow) if per_sample else \
                d.reshape(-1, m, oh, ow).transpose(1, 0, 2, 3)
            gx[sl, :, ::sh, ::sw] = d
        return part

    per = max(x_shape[1], o) * oh * ow * g4.itemsize * 3
    parts = map_chunks(chunk, batch_chunks(n, per, plan.chunk_bytes), plan.threads)
    gw = sum_partials(parts)
    return gx, (None if gw is None else gw.reshape(w4.shape))
