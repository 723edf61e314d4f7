"""Numba col2im loops of the im2col engines (loaded through ``functional/_backend.py``; the
NumPy twin is ``windows.accumulate_windows``, adds over the kernel offsets).

``col2im_nhwc`` adds NHWC column rows back onto the padded NHWC input gradient; with
dilation 1 along W each kernel row of a window is one contiguous run of kW*C elements in
both arrays, so the add vectorises (NumPy needs kH*kW strided passes instead).
"""

from __future__ import annotations

from numba import njit


@njit(cache=True, nogil=True)
def col2im_nhwc(dcol, c, sh, sw, dh, dxp):  # pragma: no cover - compiled
    """dxp[n, i*sh + a*dh, j*sw*C + r] = sum of dcol[n, i, j, a, r] over windows (zeroed first).

    dcol (m, OH, OW, kH, kW*C); dxp (m, Hp, Wp*C), i.e. the padded NHWC gradient with its
    last two dims merged; C = channels, horizontal dilation 1.
    """
    m, oh, ow, kh, run = dcol.shape
    dxp[:] = 0.0
    for n in range(m):
        for i in range(oh):
            for a in range(kh):
                row = i * sh + a * dh
                for j in range(ow):
                    col0 = j * sw * c
                    for r in range(run):
                        dxp[n, row, col0 + r] += dcol[n, i, j, a, r]


@njit(cache=True, nogil=True)
def col2im_nchw(dcol, sh, sw, dh, dw, dxp):  # pragma: no cover - compiled
    """dxp[n, c, i*sh + a*dh, j*sw + b*dw] = sum of dcol[n, c, a, b, i, j] (zeroed first).

    dcol (m, C, kH, kW, OH, OW) channel-major input-grad columns; dxp (m, C, Hp, Wp).
    """
    m, c, kh, kw, oh, ow = dcol.shape
    dxp[:] = 0.0
    for n in range(m):
        for ch in range(c):
            for a in range(kh):
                for b in range(kw):
                    for i in range(oh):
                        row = i * sh + a * dh
                        for j in range(ow):
                            dxp[n, ch, row, j * sw + b * dw] += dcol[n, ch, a, b, i, j]
