"""Window views and layout copies the conv engines share: PyTorch's output-size formula,
strided window views (NCHW and NHWC), their adjoint (col2im by kernel offsets), column
gathers into per-thread work arrays, and cache-friendly NCHW <-> NHWC copies.

Output size per spatial dim::

    out = floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1
"""

from __future__ import annotations

import itertools

import numpy as np

from .padding import pad_array, zero_border
from .parallel import scratch


def conv_output_size(size: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Output length of one spatial dim: floor((size + lo + hi - dilation*(kernel-1) - 1)/stride) + 1.

    ``padding`` is the per-side int or a (lo, hi) pair. The result may be <= 0
    (callers report that as an error).
    """
    lo, hi = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    return (size + lo + hi - dilation * (kernel - 1) - 1) // stride + 1


def out_hw(hw, kernel, stride, pads, dilation) -> tuple:
    """(OH, OW) of a 2-D conv."""
    return tuple(conv_output_size(*a) for a in zip(hw, kernel, stride, pads, dilation))


def sliding_windows(x: np.ndarray, kernel, stride=1, dilation=1) -> np.ndarray:
    """Read-only strided view (..., OH, OW, kH, kW) of the windows over the last two dims of x.

    x is already padded; OH = (H - dilation*(kH-1) - 1)//stride + 1 (same for W).
    view[..., i, j, a, b] = x[..., i*sH + a*dH, j*sW + b*dW]. No copy is made.
    """
    (kh, kw), (sh, sw), (dh, dw) = (_pair(kernel), _pair(stride), _pair(dilation))
    H, W = x.shape[-2:]
    oh, ow = conv_output_size(H, kh, sh, 0, dh), conv_output_size(W, kw, sw, 0, dw)
    rh, rw = x.strides[-2:]
    shape = x.shape[:-2] + (oh, ow, kh, kw)
    strides = x.strides[:-2] + (rh * sh, rw * sw, rh * dh, rw * dw)
    return np.lib.stride_tricks.as_strided(x, shape, strides, writeable=False)


def accumulate_windows(windows: np.ndarray, out: np.ndarray, stride=1, dilation=1) -> np.ndarray:
    """col2im: add windows (..., OH, OW, kH, kW) back into out (..., H, W) in place; returns out.

    The adjoint of ``sliding_windows``; loops over the kH*kW kernel offsets only.
    """
    oh, ow, kh, kw = windows.shape[-4:]
    (sh, sw), (dh, dw) = _pair(stride), _pair(dilation)
    for a, b in itertools.product(range(kh), range(kw)):
        hs = slice(a * dh, a * dh + (oh - 1) * sh + 1, sh)
        ws = slice(b * dw, b * dw + (ow - 1) * sw + 1, sw)
        out[..., hs, ws] += windows[..., a, b]
    return out


def _pair(v):
    return (v, v) if isinstance(v, (int, np.integer)) else tuple(v)


def nhwc_padded(x4: np.ndarray, pads: tuple, mode: str, out=None) -> np.ndarray:
    """The padded (m, C, H, W) chunk as (m, Hp, Wp, C), in ``out`` or a per-thread work array."""
    (lh, hh), (lw, hw) = pads
    m, c, h, w = x4.shape
    xp = scratch("xp", (m, h + lh + hh, w + lw + hw, c), x4.dtype) if out is None else out
    if mode != "zeros":
        blocked_copy(xp, pad_array(x4, pads, mode).transpose(0, 2, 3, 1), 3)
        return xp
    zero_border(xp.transpose(0, 3, 1, 2), pads)
    blocked_copy(xp[:, lh:lh + h, lw:lw + w, :], x4.transpose(0, 2, 3, 1), 3)
    return xp


def nhwc_windows(xp, kernel, stride, dilation, groups, out_size=None) -> np.ndarray:
    """Strided view (N, OH, OW, G, kH, kW, C/G) of the windows of an NHWC array."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, hp, wp, c = xp.shape
    if out_size is None:
        out_size = (conv_output_size(hp, kh, sh, 0, dh), conv_output_size(wp, kw, sw, 0, dw))
    rn, rh, rw, rc = xp.strides
    cg = c // groups
    return np.lib.stride_tricks.as_strided(
        xp, (n,) + tuple(out_size) + (groups, kh, kw, cg),
        (rn, rh * sh, rw * sw, rc * cg, rh * dh, rw * dw, rc), writeable=False)


def gather(wins: np.ndarray, name: str) -> np.ndarray:
    """Copy a window view (m, OH, OW, G, kH, kW, Cg) into columns (m*OH*OW, G, kH*kW*Cg)."""
    cols = scratch(name, wins.shape, wins.dtype)
    np.copyto(cols, wins)
    m, oh, ow, g = wins.shape[:4]
    return cols.reshape(m * oh * ow, g, -1)


def gather_cm(wins: np.ndarray, groups: int) -> np.ndarray:
    """Copy windows (m, C, OH, OW, kH, kW) into channel-major (G, Cg*kH*kW, m*OH*OW) columns."""
    m, c, oh, ow, kh, kw = wins.shape
    cols = scratch("cols", (c, kh, kw, m, oh, ow), wins.dtype)
    np.copyto(cols.transpose(3, 0, 4, 5, 1, 2), wins)
    return cols.reshape(groups, c // groups * kh * kw, m * oh * ow)


def grad_cols(gs: np.ndarray) -> np.ndarray:
    """Output-gradient chunk (m, G, Og, P) as a contiguous (G, Og, m*P) GEMM operand."""
    m, groups, og, p = gs.shape
    gt = scratch("gt", (groups, og, m, p), gs.dtype)
    np.copyto(gt.transpose(2, 0, 1, 3), gs)
    return gt.reshape(groups, og, m * p)


def weight_cols(w4: np.ndarray, groups: int) -> np.ndarray:
    """Weight (O, Cg, kH, kW) as the GEMM operand (G, kH*kW*Cg, Og)."""
    o, cg, kh, kw = w4.shape
    wa = w4.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return np.ascontiguousarray(wa).reshape(groups, kh * kw * cg, o // groups)


def nhwc_grad(g4: np.ndarray, groups: int) -> np.ndarray:
    """Output-gradient chunk (m, O, OH, OW) as contiguous (m*OH*OW, G, Og)."""
    m, o, oh, ow = g4.shape
    gc = scratch("gc", (m, oh, ow, groups, o // groups), g4.dtype)
    blocked_copy(gc, g4.reshape(m, groups, o // groups, oh, ow).transpose(0, 3, 4, 1, 2), 4)
    return gc.reshape(m * oh * ow, groups, o // groups)


def blocked_copy(dst: np.ndarray, src: np.ndarray, axis: int, add=None) -> None:
    """dst[...] = src (+ add), in blocks along the channel ``axis`` (NCHW <-> NHWC copies).

    A plain copy thrashes the cache: when the channel stride (H*W*itemsize) is a
    multiple of 4 KiB, all channels of a pixel map to one cache set, so the block
    holds at most 8 such channels (more when the stride has fewer factors of two).
    """
    stride = max(abs(src.strides[axis]), abs(dst.strides[axis]), 1)
    block = min(64, 8 * max(1, 4096 // (stride & -stride)))
    for s in range(0, dst.shape[axis], block):
        idx = (slice(None),) * axis + (slice(s, s + block),)
        if add is None:
            np.copyto(dst[idx], src[idx])
        else:
            np.add(src[idx], add[idx] if add.shape[axis] > 1 else add, out=dst[idx])
