"""im2col GEMM engine, channel-major columns: rows = (C/groups, kH, kW), columns = output
positions, gathered in runs of whole output rows (pays for few input channels, e.g. an
RGB or grey input). Per-sample GEMMs write the NCHW output and read the NCHW gradient
directly. Backward re-pads the saved input chunk by chunk; the input gradient is
dcol = W^T g then col2im (the compiled loop when ``plan.input_grad == 'numba'``, else
NumPy adds over the kernel offsets)."""

from __future__ import annotations

import numpy as np

from ..._backend import load
from ..padding import pad_array, unpad_array
from ..parallel import batch_chunks, map_chunks, scratch, sum_partials
from ..windows import accumulate_windows, gather_cm, grad_cols, out_hw, sliding_windows


def forward(x4, w4, b, plan, keep):
    """Output (N, O, OH, OW); also returns the input when ``keep``."""
    (n, c, h, w), (o, _, kh, kw) = x4.shape, w4.shape
    groups = plan.groups
    oh, ow = out_hw((h, w), (kh, kw), plan.stride, plan.pads, plan.dilation)
    wm = w4.reshape(groups, o // groups, -1)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)

    def chunk(sl):
        m = sl.stop - sl.start
        wins = sliding_windows(pad_array(x4[sl], plan.pads, plan.mode), (kh, kw), plan.stride,
                               plan.dilation)
        cols = gather_cm(wins, groups).reshape(groups, -1, m, oh * ow).transpose(2, 0, 1, 3)
        dst = res[sl].reshape(m, groups, o // groups, oh * ow)
        np.matmul(wm, cols, out=dst)  # per-sample GEMMs straight into the NCHW output
        if b is not None:
            dst += b.reshape(groups, o // groups, 1)

    map_chunks(chunk, batch_chunks(n, oh * ow * kh * kw * c * x4.itemsize, plan.chunk_bytes),
               plan.threads)
    return res, (x4 if keep else None)


def backward(g4, x4, w4, plan, nx, nw):
    """(input grad, weight grad); either is None when not needed."""
    n, o, oh, ow = g4.shape
    groups, stride, dilation = plan.groups, plan.stride, plan.dilation
    x_shape = (n,) + tuple(plan.x_shape[1:])
    kernel = w4.shape[2:]
    wm = w4.reshape(groups, o // groups, -1)
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None
    padded = (x_shape[1],) + tuple(np.add(x_shape[2:], [sum(p) for p in plan.pads]))
    kernels = load("conv_col2im") if plan.input_grad == "numba" else None

    def chunk(sl):
        m = sl.stop - sl.start
        gs = g4[sl].reshape(m, groups, o // groups, oh * ow)  # per-sample GEMMs: no transpose
        part = None
        if nw:
            wins = sliding_windows(pad_array(x4[sl], plan.pads, plan.mode), kernel, stride,
                                   dilation)
            cols = gather_cm(wins, groups)  # (G, Kg, m*P): one GEMM per group over the chunk
            part = np.matmul(grad_cols(gs), cols.transpose(0, 2, 1))  # (G, Og, Kg)
        if nx:
            dcol = np.matmul(wm.transpose(0, 2, 1), gs)  # (m, G, Cg*kH*kW, OH*OW)
            dcol = dcol.reshape(m, -1, *kernel, oh, ow)
            if kernels is None:
                dxp = accumulate_windows(dcol.transpose(0, 1, 4, 5, 2, 3),
                                         np.zeros((m,) + padded, dtype=g4.dtype), stride, dilation)
            else:
                dxp = scratch("dxp", (m,) + padded, g4.dtype)
                kernels.col2im_nchw(dcol, *stride, *dilation, dxp)
            gx[sl] = unpad_array(dxp, plan.pads, plan.mode)
        return part

    per_sample = oh * ow * max(wm.shape[0] * wm.shape[2], o) * g4.itemsize
    parts = map_chunks(chunk, batch_chunks(n, per_sample, plan.chunk_bytes), plan.threads)
    gw = sum_partials(parts)
    return gx, (None if gw is None else gw.reshape(w4.shape))
