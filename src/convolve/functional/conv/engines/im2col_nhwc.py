"""im2col GEMM engine, NHWC columns: rows = output positions, columns = (kH, kW, C/groups),
gathered from an NHWC copy of the padded input in runs of C/groups*kW elements.

The batch is walked in chunks of ``plan.chunk_bytes`` of columns (each block still in cache
when its GEMM reads it), on ``plan.threads`` threads. ``plan.per_sample``: the forward runs
per-sample GEMMs W cols^T that write the NCHW output directly (no transposed copy; pays
for narrow outputs). Backward recomputes the columns from the saved padded NHWC input.
The weight gradient is one GEMM per chunk (and group), partial sums added in chunk order (results do
not depend on the thread count). The input gradient by ``plan.input_grad``:

* 'corr': a full correlation of the output gradient with the flipped kernel (stride 1,
  zero padding), itself an NHWC im2col GEMM;
* 'numba': dcol = g^T W per sample, then the compiled col2im (ungrouped, W-dilation 1);
* 'col2im': one batched GEMM, then NumPy adds over the kernel offsets.
"""

from __future__ import annotations

import numpy as np

from ..._backend import load
from ..padding import unpad_array, zero_border
from ..parallel import batch_chunks, map_chunks, scratch, sum_partials
from ..windows import (
    accumulate_windows,
    blocked_copy,
    gather,
    grad_cols,
    nhwc_grad,
    nhwc_padded,
    nhwc_windows,
    out_hw,
    weight_cols,
)


def forward(x4, w4, b, plan, keep):
    """Output (N, O, OH, OW); also returns the padded NHWC input when ``keep``."""
    (n, c, h, w), (o, _, kh, kw) = x4.shape, w4.shape
    stride, pads, dilation, groups = plan.stride, plan.pads, plan.dilation, plan.groups
    oh, ow = out_hw((h, w), (kh, kw), stride, pads, dilation)
    wa = weight_cols(w4, groups)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)
    bias = None if b is None else b.reshape(1, groups, o // groups, 1, 1)
    (lh, hh), (lw, hw) = pads
    full = np.empty((n, h + lh + hh, w + lw + hw, c), dtype=x4.dtype) if keep else None

    def chunk(sl):
        xp = nhwc_padded(x4[sl], pads, plan.mode, None if full is None else full[sl])
        cols = gather(nhwc_windows(xp, (kh, kw), stride, dilation, groups), "cols")
        if plan.per_sample:  # W cols^T per sample: NCHW output, no copy
            m = sl.stop - sl.start
            dst = res[sl].reshape(m, groups, o // groups, oh * ow)
            np.matmul(wa.transpose(0, 2, 1), cols.reshape(m, oh * ow, groups, -1)
                      .transpose(0, 2, 3, 1), out=dst)
            if b is not None:
                dst += b.reshape(groups, o // groups, 1)
            return
        out = np.matmul(cols.transpose(1, 0, 2), wa)  # (G, m*OH*OW, Og)
        out = out.reshape(groups, -1, oh, ow, o // groups).transpose(1, 0, 4, 2, 3)
        blocked_copy(res[sl].reshape(out.shape), out, 2, bias)

    map_chunks(chunk, batch_chunks(n, oh * ow * kh * kw * c * x4.itemsize, plan.chunk_bytes),
               plan.threads)
    return res, full


def backward(g4, xp_all, w4, plan, nx, nw):
    """(input grad, weight grad); either is None when not needed."""
    n, o, oh, ow = g4.shape
    groups, stride, pads, dilation = plan.groups, plan.stride, plan.pads, plan.dilation
    x_shape = (n,) + tuple(plan.x_shape[1:])
    kh, kw = w4.shape[2:]
    wa = weight_cols(w4, groups)
    method = plan.input_grad
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None

    def chunk(sl):
        m = sl.stop - sl.start
        gs = g4[sl].reshape(m, groups, o // groups, oh * ow)
        part = None
        if nw:  # one GEMM per group over the chunk: (G, Og, m*P) @ (G, m*P, Kg)
            cols = gather(nhwc_windows(xp_all[sl], (kh, kw), stride, dilation, groups), "cols")
            part = np.matmul(grad_cols(gs), cols.transpose(1, 0, 2))  # (G, Og, Kg)
        if nx and method == "numba":
            _input_grad_numba(gs, w4, plan, gx[sl], oh, ow)
        elif nx:
            gc = nhwc_grad(g4[sl], groups)  # (m*OH*OW, G, Og)
            if method == "corr":
                _input_grad_corr(gc, w4, pads, dilation, groups, gx[sl], oh, ow)
            else:
                gx[sl] = _input_grad_col2im(gc, wa, w4.shape, plan, x_shape, oh, ow)
        return part

    gwa = sum_partials(map_chunks(chunk, batch_chunks(n, _per_sample_bytes(plan, o, oh, ow),
                                                      plan.chunk_bytes), plan.threads))
    gw = None if gwa is None else \
        gwa.reshape(groups, o // groups, kh, kw, -1).transpose(0, 1, 4, 2, 3)
    return gx, gw


def _per_sample_bytes(plan, o, oh, ow) -> int:
    """Work-array bytes per sample of the backward chunks."""
    (_, c, h, w), (_, _, kh, kw) = plan.x_shape, plan.w_shape
    item = np.dtype(plan.dtype).itemsize
    if plan.input_grad == "corr":  # correlation columns (m*H*W, kH*kW*O)
        return max(oh * ow, h * w) * kh * kw * max(c, o) * item
    return oh * ow * kh * kw * c * item


def _input_grad_col2im(gc, wa, w_shape, plan, x_shape, oh, ow):
    """dcol = W g^T (one batched GEMM), col2im over kernel offsets only, unpad; (m, C, H, W)."""
    groups = wa.shape[0]
    _, cg, kh, kw = w_shape
    m = gc.shape[0] // (oh * ow)
    dcol = np.matmul(wa, gc.transpose(1, 2, 0))  # (G, kH*kW*Cg, m*OH*OW)
    dcol = dcol.reshape(groups, kh, kw, cg, m, oh, ow).transpose(4, 0, 3, 5, 6, 1, 2)
    shape = (m, groups, cg) + tuple(np.add(x_shape[2:], [sum(p) for p in plan.pads]))
    dxp = accumulate_windows(dcol, np.zeros(shape, dtype=gc.dtype), plan.stride, plan.dilation)
    return unpad_array(dxp.reshape(m, groups * cg, *shape[3:]), plan.pads, plan.mode)


def _input_grad_numba(gs, w4, plan, out, oh, ow):
    """Ungrouped input gradient: dcol = g^T W per sample (rows: positions, cols: kH, kW, C),
    then the compiled col2im onto the padded NHWC gradient; writes (m, C, H, W) into out."""
    _, c, kh, kw = w4.shape
    m, _, h, w = out.shape
    (lh, hh), (lw, hw) = plan.pads
    dcol = np.matmul(gs[:, 0].transpose(0, 2, 1), weight_cols(w4, 1)[0].T)  # (m, P, K)
    dxp = scratch("dxp", (m, h + lh + hh, w + lw + hw, c), gs.dtype)
    load("conv_col2im").col2im_nhwc(dcol.reshape(m, oh, ow, kh, kw * c), c, plan.stride[0],
                                    plan.stride[1], plan.dilation[0],
                                    dxp.reshape(m, dxp.shape[1], -1))
    dxp = dxp.transpose(0, 3, 1, 2)
    if plan.mode == "zeros":
        blocked_copy(out, dxp[:, :, lh:lh + h, lw:lw + w], 1)
    else:
        out[...] = unpad_array(dxp, plan.pads, plan.mode)


def _input_grad_corr(gc, w4, pads, dilation, groups, out, oh, ow):
    """Stride-1 input gradient as a full correlation of g with the flipped kernel.

    gc is the (m*OH*OW, G, Og) gradient chunk; writes the (m, C, H, W) result into out.
    """
    o, cg, kh, kw = w4.shape
    m, _, h, w = out.shape
    (lh, _), (lw, _) = pads
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    gpad = scratch("gpad", (m, oh + 2 * eh, ow + 2 * ew, o), gc.dtype)
    zero_border(gpad.transpose(0, 3, 1, 2), ((eh, eh), (ew, ew)))
    gpad[:, eh:eh + oh, ew:ew + ow, :] = gc.reshape(m, oh, ow, o)
    region = gpad[:, lh:lh + h + eh, lw:lw + w + ew, :]
    cols = gather(nhwc_windows(region, (kh, kw), (1, 1), dilation, groups, (h, w)), "cols2")
    wf = w4[:, :, ::-1, ::-1].reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 1, 2)
    wf = wf.reshape(groups, kh * kw * (o // groups), cg)
    dx = np.matmul(cols.transpose(1, 0, 2), wf)  # (G, m*H*W, Cg)
    dx = dx.reshape(groups, m, h, w, cg).transpose(1, 0, 4, 2, 3)
    blocked_copy(out.reshape(dx.shape), dx, 2)
