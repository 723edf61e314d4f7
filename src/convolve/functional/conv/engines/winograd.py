"""Winograd F(2x2, 3x3) engine for 3x3, stride-1, undilated, ungrouped zero-padded convs.

Output tiles of 2x2 come from 4x4 input tiles (stride 2)::

    Y = A^T [ (G w G^T) * (B^T d B) ] A      (* : elementwise over the 16 tile positions)

so the channel sum becomes 16 GEMMs (O, C) @ (C, tiles), 2.25x fewer multiplies than
im2col. All coefficients are 0, +-1 or +-1/2, so float64 stays exact to rounding.
The tile count is th x tw with th = ceil(OH/2), OH = H + pad_lo + pad_hi - 2.

Backward is the adjoint of the same linear algorithm: dM = A g A^T per tile,
input grad = B (W^T dM) B^T scattered back onto the (overlapping) input tiles,
weight grad = G^T (dM V^T) G. The transforms are the Numba kernels of
``_winograd_kernels.py`` over NCHW arrays (no layout copies); the batch is walked in
chunks of ``plan.chunk_bytes`` of transformed input on ``plan.threads`` threads.
"""

from __future__ import annotations

import numpy as np

from ...._blas import single_blas
from ..._backend import load
from ..parallel import batch_chunks, map_chunks, sum_partials

# weight transform G (4x3) of F(2x2, 3x3)
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_K = np.kron(_G, _G)  # (16, 9): vec(G w G^T) = _K vec(w), row-major vec


def applies(w_shape, stride, dilation, groups, mode) -> bool:
    """Whether this engine computes the conv (and its Numba kernels load)."""
    return (tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
            and tuple(dilation) == (1, 1) and groups == 1 and mode == "zeros"
            and load("winograd") is not None)


def transform_weight(w: np.ndarray) -> np.ndarray:
    """(O, C, 3, 3) -> (16, O, C): G w G^T for each filter, positions flattened row-major.

    One GEMM, on one BLAS thread (an idle BLAS worker would spin against the chunks):
    vec(G w G^T) = kron(G, G) vec(w).
    """
    o, c = w.shape[:2]
    wh = single_blas(lambda: np.matmul(_K.astype(w.dtype), w.reshape(o * c, 9).T))
    return wh.reshape(16, o, c)


def transform_weight_adjoint(dwh: np.ndarray) -> np.ndarray:
    """Adjoint of ``transform_weight``: (16, O, C) -> (O, C, 3, 3), G^T dwh G."""
    o, c = dwh.shape[1:]
    dw = single_blas(lambda: np.matmul(dwh.reshape(16, o * c).T, _K.astype(dwh.dtype)))
    return dw.reshape(o, c, 3, 3)


def tiles(h: int, w: int, pads) -> tuple:
    """(OH, OW, th, tw) for an input of size (h, w) with pads ((lo, hi), (lo, hi))."""
    oh, ow = h + sum(pads[0]) - 2, w + sum(pads[1]) - 2
    return oh, ow, (oh + 1) // 2, (ow + 1) // 2


def planes(c: int, t: int, dtype) -> np.ndarray:
    """An uninitialised C-contiguous (16, >= c*t) buffer for 16 planes of (c, t) each.

    Rows start 64 bytes apart modulo 4 KiB: planes of a power-of-two size would all map
    to one cache set, and the transforms read or write all 16 in step. The kernels index
    the buffer itself (contiguous rows vectorise); GEMMs use ``plane_view``.
    """
    pad = 64 // np.dtype(dtype).itemsize
    return np.empty((16, c * t + (-(c * t) % 1024) + pad), dtype)


def plane_view(buf: np.ndarray, c: int, t: int) -> np.ndarray:
    """The (16, c, t) array view of a ``planes`` buffer."""
    return buf[:, :c * t].reshape(16, c, t)


def forward(x4, w4, b, plan, keep):
    """Output (N, O, OH, OW) of the conv of x (N, C, H, W) with w (O, C, 3, 3), bias b or
    None; also returns the input when ``keep`` (the weight gradient needs it)."""
    k = load("winograd")
    (n, c, h, wd), o = x4.shape, w4.shape[0]
    pads = plan.pads
    oh, ow, th, tw = tiles(h, wd, pads)
    wh = transform_weight(w4)
    bias = np.zeros(o, x4.dtype) if b is None else b
    out = np.empty((n, o, oh, ow), dtype=x4.dtype)
    x = np.ascontiguousarray(x4)

    def chunk(sl):
        t = (sl.stop - sl.start) * th * tw
        v, mm = planes(c, t, x.dtype), planes(o, t, x.dtype)
        k.input_transform(x[sl], pads[0][0], pads[1][0], th, tw, v)
        np.matmul(wh, plane_view(v, c, t), out=plane_view(mm, o, t))
        k.output_transform(mm, bias, th, tw, out[sl])

    map_chunks(chunk, _chunks(n, c, o, th, tw, x.itemsize, plan), plan.threads)
    return out, (x4 if keep else None)


def _chunks(n, c, o, th, tw, itemsize, plan) -> list:
    return batch_chunks(n, 16 * max(c, o) * th * tw * itemsize, plan.chunk_bytes)


def backward(g, x, w, plan, nx, nw):
    """(input grad or None, weight grad or None) of ``forward`` for the output grad g.

    x (the input) is only needed when nw. Weight-grad partial sums are added in chunk order.
    """
    k = load("winograd")
    (n, o, oh, ow), c = g.shape, w.shape[1]
    pads = plan.pads
    h, wd = oh + 2 - sum(pads[0]), ow + 2 - sum(pads[1])
    _, _, th, tw = tiles(h, wd, pads)
    wht = transform_weight(w).transpose(0, 2, 1) if nx else None
    gx = np.empty((n, c, h, wd), g.dtype) if nx else None
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x) if nw else x

    def chunk(sl):
        t = (sl.stop - sl.start) * th * tw
        dm = planes(o, t, g.dtype)
        k.output_transform_adjoint(g[sl], th, tw, dm)
        if nx:
            dv = planes(c, t, g.dtype)
            np.matmul(wht, plane_view(dm, o, t), out=plane_view(dv, c, t))
            k.input_transform_adjoint(dv, pads[0][0], pads[1][0], th, tw, gx[sl])
        if nw:
            v = planes(c, t, x.dtype)
            k.input_transform(x[sl], pads[0][0], pads[1][0], th, tw, v)
            return np.matmul(plane_view(dm, o, t), plane_view(v, c, t).transpose(0, 2, 1))
        return None

    parts = map_chunks(chunk, _chunks(n, c, o, th, tw, g.itemsize, plan), plan.threads)
    gw = transform_weight_adjoint(sum_partials(parts)) if nw else None
    return gx, gw
