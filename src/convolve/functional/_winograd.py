"""Winograd F(2x2, 3x3) convolution for 3x3, stride-1, undilated, ungrouped zero-padded convs.

Output tiles of 2x2 come from 4x4 input tiles (stride 2)::

    Y = A^T [ (G w G^T) * (B^T d B) ] A      (* : elementwise over the 16 tile positions)

so the channel sum becomes 16 GEMMs (O, C) @ (C, tiles), 2.25x fewer multiplies than
im2col. All coefficients are 0, +-1 or +-1/2, so float64 stays exact to rounding.
The tile count is th x tw with th = ceil(OH/2), OH = H + pad_lo + pad_hi - 2.

Backward is the adjoint of the same linear algorithm: dM = A g A^T per tile,
input grad = B (W^T dM) B^T scattered back onto the (overlapping) input tiles,
weight grad = G^T (dM V^T) G. Transforms are Numba kernels over NCHW arrays, so
no layout copies are needed; the batch is walked in cache-sized chunks.
"""

from __future__ import annotations

import functools

import numpy as np
from numba import njit

from convolve._blas import single_blas

_CHUNK_BYTES = 512 << 10  # transformed input of a batch chunk (16 * C * tiles * itemsize)

# weight transform G (4x3) of F(2x2, 3x3)
_G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
_K = np.kron(_G, _G)  # (16, 9): vec(G w G^T) = _K vec(w), row-major vec


def transform_weight(w: np.ndarray) -> np.ndarray:
    """(O, C, 3, 3) -> (16, O, C): G w G^T for each filter, positions flattened row-major.

    One GEMM: vec(G w G^T) = kron(G, G) vec(w).
    """
    o, c = w.shape[:2]  # one BLAS thread: an idle BLAS worker would spin against the chunks
    return single_blas(lambda: np.matmul(_K.astype(w.dtype), w.reshape(o * c, 9).T)).reshape(16, o, c)


def transform_weight_adjoint(dwh: np.ndarray) -> np.ndarray:
    """Adjoint of ``transform_weight``: (16, O, C) -> (O, C, 3, 3), G^T dwh G."""
    o, c = dwh.shape[1:]
    return single_blas(lambda: np.matmul(dwh.reshape(16, o * c).T, _K.astype(dwh.dtype))).reshape(o, c, 3, 3)


def tiles(h: int, w: int, pads) -> tuple:
    """(OH, OW, th, tw) for an input of size (h, w) with pads ((lo, hi), (lo, hi))."""
    oh, ow = h + sum(pads[0]) - 2, w + sum(pads[1]) - 2
    return oh, ow, (oh + 1) // 2, (ow + 1) // 2


@njit(cache=True, nogil=True)
def input_transform(x, lh, lw, th, tw, v):  # pragma: no cover - compiled
    """x (m, C, H, W) -> v: B^T d B of each 4x4 tile (zero outside x).

    v is a ``planes`` buffer (16, >= C*T), T = m*th*tw: v[k, c*T + tile] is position k
    of the transformed tile. Tile (i, j) of sample n covers padded rows 2i..2i+3 and
    columns 2j..2j+3.
    """
    m, c, h, w = x.shape
    nt = m * th * tw
    hp, wp = 2 * th + 2, 2 * tw + 2
    buf = np.zeros((hp, wp), x.dtype)
    d = np.empty((4, wp), x.dtype)
    rows, cols = min(h, hp - lh), min(w, wp - lw)
    for n in range(m):
        for ch in range(c):
            for r in range(rows):
                for s in range(cols):
                    buf[lh + r, lw + s] = x[n, ch, r, s]
            for i in range(th):
                for s in range(wp):  # B^T on the 4 rows of the tile row
                    a0, a1 = buf[2 * i, s], buf[2 * i + 1, s]
                    a2, a3 = buf[2 * i + 2, s], buf[2 * i + 3, s]
                    d[0, s] = a0 - a2
                    d[1, s] = a1 + a2
                    d[2, s] = a2 - a1
                    d[3, s] = a1 - a3
                t0 = ch * nt + (n * th + i) * tw
                for r in range(4):  # ... and on the columns of each tile
                    for j in range(tw):
                        d0, d1 = d[r, 2 * j], d[r, 2 * j + 1]
                        d2, d3 = d[r, 2 * j + 2], d[r, 2 * j + 3]
                        v[4 * r, t0 + j] = d0 - d2
                        v[4 * r + 1, t0 + j] = d1 + d2
                        v[4 * r + 2, t0 + j] = d2 - d1
                        v[4 * r + 3, t0 + j] = d1 - d3


@njit(cache=True, nogil=True)
def output_transform(mm, bias, th, tw, out):  # pragma: no cover - compiled
    """mm (``planes`` buffer, 16 x O*T) -> out (m, O, OH, OW): A^T M A of each tile + bias (O,).

    Output rows/columns past OH/OW (odd sizes) are dropped.
    """
    m, o, oh, ow = out.shape
    nt = m * th * tw
    s = np.empty((2, 4, tw), out.dtype)
    row = np.empty(2 * tw, out.dtype)
    for n in range(m):
        for q in range(o):
            bq = bias[q]
            for i in range(th):
                t0 = q * nt + (n * th + i) * tw
                for c in range(4):  # A^T on the tile rows
                    for j in range(tw):
                        m0, m1 = mm[c, t0 + j], mm[4 + c, t0 + j]
                        m2, m3 = mm[8 + c, t0 + j], mm[12 + c, t0 + j]
                        s[0, c, j] = m0 + m1 + m2
                        s[1, c, j] = m1 - m2 - m3
                for a in range(min(2, oh - 2 * i)):  # ... and on the columns
                    for j in range(tw):
                        row[2 * j] = s[a, 0, j] + s[a, 1, j] + s[a, 2, j] + bq
                        row[2 * j + 1] = s[a, 1, j] - s[a, 2, j] - s[a, 3, j] + bq
                    for j in range(ow):
                        out[n, q, 2 * i + a, j] = row[j]


@njit(cache=True, nogil=True)
def output_transform_adjoint(g, th, tw, dm):  # pragma: no cover - compiled
    """Adjoint of ``output_transform``: g (m, O, OH, OW) -> dm (``planes``), A g A^T."""
    m, o, oh, ow = g.shape
    nt = m * th * tw
    r0 = np.zeros(2 * tw, g.dtype)
    r1 = np.zeros(2 * tw, g.dtype)
    for n in range(m):
        for q in range(o):
            for i in range(th):
                for j in range(ow):
                    r0[j] = g[n, q, 2 * i, j]
                if 2 * i + 1 < oh:
                    for j in range(ow):
                        r1[j] = g[n, q, 2 * i + 1, j]
                else:
                    r1[:] = 0.0
                t = q * nt + (n * th + i) * tw
                for j in range(tw):
                    g00, g01 = r0[2 * j], r0[2 * j + 1]
                    g10, g11 = r1[2 * j], r1[2 * j + 1]
                    # A on the rows, (g0, g0+g1, g0-g1, -g1), then on the columns
                    a0, a1, b0, b1 = g00 + g10, g01 + g11, g00 - g10, g01 - g11
                    dm[0, t + j] = g00
                    dm[1, t + j] = g00 + g01
                    dm[2, t + j] = g00 - g01
                    dm[3, t + j] = -g01
                    dm[4, t + j] = a0
                    dm[5, t + j] = a0 + a1
                    dm[6, t + j] = a0 - a1
                    dm[7, t + j] = -a1
                    dm[8, t + j] = b0
                    dm[9, t + j] = b0 + b1
                    dm[10, t + j] = b0 - b1
                    dm[11, t + j] = -b1
                    dm[12, t + j] = -g10
                    dm[13, t + j] = -g10 - g11
                    dm[14, t + j] = g11 - g10
                    dm[15, t + j] = g11


@njit(cache=True, nogil=True)
def input_transform_adjoint(dv, lh, lw, th, tw, dx):  # pragma: no cover - compiled
    """Adjoint of ``input_transform``: dv (``planes``) -> dx (m, C, H, W), B U B^T per
    tile, added onto the overlapping tiles of the padded input; padding is dropped."""
    m, c, h, w = dx.shape
    nt = m * th * tw
    hp, wp = 2 * th + 2, 2 * tw + 2
    buf = np.empty((hp, wp), dx.dtype)
    e = np.zeros((4, 4, tw + 1), dx.dtype)  # e[r, s, j + 1]: column s of tile j, tile row r
    rows = np.empty((4, wp), dx.dtype)
    nr, nc = min(h, hp - lh), min(w, wp - lw)
    for n in range(m):
        for ch in range(c):
            buf[:, :] = 0.0
            for i in range(th):
                t0 = ch * nt + (n * th + i) * tw
                for r in range(4):  # B on the columns of each tile
                    for j in range(tw):
                        u0, u1 = dv[4 * r, t0 + j], dv[4 * r + 1, t0 + j]
                        u2, u3 = dv[4 * r + 2, t0 + j], dv[4 * r + 3, t0 + j]
                        e[r, 0, j + 1] = u0
                        e[r, 1, j + 1] = u1 - u2 + u3
                        e[r, 2, j + 1] = u1 + u2 - u0
                        e[r, 3, j + 1] = -u3
                    for j in range(tw):  # tiles j and j-1 overlap on columns 2j, 2j+1
                        rows[r, 2 * j] = e[r, 0, j + 1] + e[r, 2, j]
                        rows[r, 2 * j + 1] = e[r, 1, j + 1] + e[r, 3, j]
                    rows[r, 2 * tw] = e[r, 2, tw]
                    rows[r, 2 * tw + 1] = e[r, 3, tw]
                for s in range(wp):  # ... and on the rows
                    buf[2 * i, s] += rows[0, s]
                    buf[2 * i + 1, s] += rows[1, s] - rows[2, s] + rows[3, s]
                    buf[2 * i + 2, s] += rows[2, s] + rows[1, s] - rows[0, s]
                    buf[2 * i + 3, s] -= rows[3, s]
            for r in range(nr):
                for s in range(nc):
                    dx[n, ch, r, s] = buf[lh + r, lw + s]


# ------------------------------------------------------------------ drivers
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


def _chunks(n: int, per_sample: int) -> list:
    step = max(1, _CHUNK_BYTES // max(per_sample, 1))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _add_into(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a += b, returning a (a is a fresh partial sum owned by the caller)."""
    return np.add(a, b, out=a)


def _serial(fn, chunks):
    return [fn(c) for c in chunks]


def _run(fn, chunks: list, map_chunks, threads: int) -> list:
    """[fn(c) for c in chunks]; with threads > 1 through ``map_chunks``, whose threads
    (the caller's included) pull chunks one at a time, so the load stays balanced."""
    if threads < 2 or len(chunks) < 2:
        return [fn(c) for c in chunks]
    return map_chunks(fn, chunks)


def forward(x, w, b, pads, map_chunks=_serial, threads=1):
    """Output (N, O, OH, OW) of the conv of x (N, C, H, W) with w (O, C, 3, 3), bias b or None.

    ``map_chunks(fn, items)`` runs fn on each item (here runs of batch chunks, one per
    thread when ``threads`` > 1).
    """
    (n, c, h, wd), o = x.shape, w.shape[0]
    oh, ow, th, tw = tiles(h, wd, pads)
    wh = transform_weight(w)
    bias = np.zeros(o, x.dtype) if b is None else b
    out = np.empty((n, o, oh, ow), dtype=x.dtype)
    x = np.ascontiguousarray(x)

    def chunk(sl):
        t = (sl.stop - sl.start) * th * tw
        v, mm = planes(c, t, x.dtype), planes(o, t, x.dtype)
        input_transform(x[sl], pads[0][0], pads[1][0], th, tw, v)
        np.matmul(wh, plane_view(v, c, t), out=plane_view(mm, o, t))
        output_transform(mm, bias, th, tw, out[sl])

    _run(chunk, _chunks(n, 16 * max(c, o) * th * tw * x.itemsize), map_chunks, threads)
    return out


def backward(g, x, w, pads, nx, nw, map_chunks=_serial, threads=1):
    """(input grad or None, weight grad or None) of ``forward`` for the output grad g.

    x (the input) is only needed when nw (else it may be None). Weight-grad partial
    sums are added in chunk order.
    """
    (n, o, oh, ow), c = g.shape, w.shape[1]
    h, wd = oh + 2 - sum(pads[0]), ow + 2 - sum(pads[1])
    _, _, th, tw = tiles(h, wd, pads)
    wht = transform_weight(w).transpose(0, 2, 1) if nx else None
    gx = np.empty((n, c, h, wd), g.dtype) if nx else None
    g = np.ascontiguousarray(g)
    x = np.ascontiguousarray(x) if nw else x

    def chunk(sl):
        t = (sl.stop - sl.start) * th * tw
        dm = planes(o, t, g.dtype)
        output_transform_adjoint(g[sl], th, tw, dm)
        if nx:
            dv = planes(c, t, g.dtype)
            np.matmul(wht, plane_view(dm, o, t), out=plane_view(dv, c, t))
            input_transform_adjoint(dv, pads[0][0], pads[1][0], th, tw, gx[sl])
        if nw:
            v = planes(c, t, x.dtype)
            input_transform(x[sl], pads[0][0], pads[1][0], th, tw, v)
            return np.matmul(plane_view(dm, o, t), plane_view(v, c, t).transpose(0, 2, 1))
        return None

    parts = _run(chunk, _chunks(n, 16 * max(c, o) * th * tw * g.itemsize), map_chunks, threads)
    gw = transform_weight_adjoint(functools.reduce(_add_into, parts)) if nw else None
    return gx, gw
