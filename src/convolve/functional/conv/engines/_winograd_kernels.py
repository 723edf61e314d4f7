"""Numba transforms of the Winograd F(2x2, 3x3) engine (``winograd.py``), loaded through
``functional/_backend.py``. The 16 transformed tile positions live in ``planes`` buffers
(16, >= C*T), T = tiles of the chunk; tile (i, j) of sample n covers padded rows
2i..2i+3 and columns 2j..2j+3.
"""

from __future__ import annotations

import numpy as np
from numba import njit


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
