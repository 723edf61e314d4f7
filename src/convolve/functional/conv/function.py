"""``ConvNd``: the one differentiable conv Function. It views 1-D and unbatched inputs as
(N, C, H, W), runs the engine its ``ConvPlan`` names, and handles the empty batch (an
empty output, zero weight and bias gradients, as PyTorch)."""

from __future__ import annotations

import numpy as np

from ...function import Function
from .engines import engine
from .plan import effective


class ConvNd(Function):
    """Fused 1-D/2-D grouped convolution with bias and padding, run as ``plan`` says.

    The plan (``plan.py``) holds the normalised 2-D geometry: stride, dilation (sh, sw),
    pads ((lo, hi), (lo, hi)), groups and padding mode.
    """

    @staticmethod
    def forward(ctx, x, w, b=None, plan=None):
        ctx.x_shape, ctx.w_shape, ctx.plan = x.shape, w.shape, plan
        nd = w.ndim - 2
        x4, w4 = as_4d(x, nd), as_4d(w, nd)
        keep = ctx.parents is not None and ctx.needs_input_grad[1]  # recording a weight grad
        if plan.crop:  # taps that only ever meet zero padding are left out
            (a0, a1), (b0, b1) = plan.crop
            w4 = np.ascontiguousarray(w4[:, :, a0:a1 + 1, b0:b1 + 1])  # strided: no BLAS
        if x4.shape[0] == 0:
            res, saved = _empty_output(x4, w4, effective(plan)), None
        else:
            res, saved = engine(plan).forward(x4, w4, b, effective(plan), keep)
        ctx.save_for_backward(saved, w4)
        return res.reshape(out_shape(x.shape, nd, *res.shape[1:]))

    @staticmethod
    def backward(ctx, g):
        saved, w4 = ctx.saved
        nx, nw, nb = (list(ctx.needs_input_grad) + [False])[:3]
        g4 = as_4d(g, len(ctx.w_shape) - 2)
        gb = g4.sum(axis=(0, 2, 3)) if nb else None
        if g4.shape[0] == 0:
            gx = np.zeros(ctx.x_shape, g.dtype) if nx else None
            gw = np.zeros(ctx.w_shape, g.dtype) if nw else None
            return gx, gw, gb
        if not (nx or nw):
            return None, None, gb
        gx, gw = engine(ctx.plan).backward(g4, saved, w4, effective(ctx.plan), nx, nw)
        if gw is not None and ctx.plan.crop:
            (a0, a1), (b0, b1) = ctx.plan.crop
            full = np.zeros(ctx.plan.w_shape, g.dtype)
            full[:, :, a0:a1 + 1, b0:b1 + 1] = gw.reshape(w4.shape)
            gw = full
        return (None if gx is None else gx.reshape(ctx.x_shape)), \
            (None if gw is None else gw.reshape(ctx.w_shape)), gb


def _empty_output(x4, w4, plan) -> np.ndarray:
    from .windows import out_hw

    oh, ow = out_hw(x4.shape[2:], w4.shape[2:], plan.stride, plan.pads, plan.dilation)
    return np.zeros((0, w4.shape[0], oh, ow), x4.dtype)


def as_4d(a: np.ndarray, nd: int) -> np.ndarray:
    """View (N, C, L) / (C, L) / (N, C, H, W) / (C, H, W) as (N, C, H, W)."""
    if nd == 1:
        a = a[..., None, :]
    return a if a.ndim == 4 else a[None]


def out_shape(x_shape: tuple, nd: int, o: int, oh: int, ow: int) -> tuple:
    """The output shape for an input of ``x_shape`` (batched or not, 1-D or 2-D)."""
    spatial = (ow,) if nd == 1 else (oh, ow)
    batch = x_shape[:1] if len(x_shape) == nd + 2 else ()
    return batch + (o,) + spatial
