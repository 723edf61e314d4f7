"""Convolutions: conv1d, conv2d, locally_connected2d, and the window helpers they share.

Every spatial dim follows PyTorch's output-size formula::

    out = floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1

A convolution is one fused Function per call (``ConvNd``). Forward pads the
input, takes a strided window view of it and copies it once into a column block
for one (group-batched) GEMM. The batch is walked in chunks of about 2 MiB of
columns so each block is still in cache when its GEMM reads it; backward
recomputes the blocks from the saved padded input instead of storing them.
Two column layouts, picked by how long the contiguous runs of the gather are:

* NHWC: rows = output positions, columns = (kH, kW, C/groups), gathered from an
  NHWC copy of the input in runs of C/groups*kW elements (most layers);
* channel-major: rows = (C/groups, kH, kW), columns = output positions, gathered
  in runs of whole output rows (few input channels, e.g. an RGB or grey input).

Backward: the weight gradient is a GEMM per chunk; the input gradient is either
a full correlation of the output gradient with the flipped kernel (stride 1,
zero padding) or a GEMM plus a col2im that loops over kernel offsets only
(``accumulate_windows``). Gradients whose ``needs_input_grad`` is False are skipped.

Helpers meant for reuse (pooling, model summaries): ``conv_output_size``,
``normalize_padding``, ``sliding_windows``, ``accumulate_windows``, ``pad_nd``.
"""

from __future__ import annotations

import itertools

import numpy as np

from ..function import Function
from ._util import check_float, check_ndim, ntuple

__all__ = [
    "PADDING_MODES",
    "accumulate_windows",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "locally_connected2d",
    "normalize_padding",
    "pad_nd",
    "sliding_windows",
]

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


# --------------------------------------------------------------------- helpers
def conv_output_size(size: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Output length of one spatial dim: floor((size + lo + hi - dilation*(kernel-1) - 1)/stride) + 1.

    ``padding`` is the per-side int or a (lo, hi) pair. The result may be <= 0
    (callers report that as an error).
    """
    lo, hi = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    return (size + lo + hi - dilation * (kernel - 1) - 1) // stride + 1


def normalize_padding(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """Per-dim (lo, hi) padding from an int, a tuple of ints, 'valid' or 'same'.

    'same' needs stride 1 and pads total = dilation*(kernel-1) per dim with
    lo = total // 2 and the extra element on the high side (PyTorch's rule).
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions, received stride={stride}")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', "
                         f"received padding={padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, op, "padding", minimum=0))


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


# --------------------------------------------------------------------- padding
def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source index of each padded position for reflect / replicate / circular padding."""
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        return (n - 1) - np.abs((n - 1) - np.abs(j))
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return j % n


def _pad_array(x: np.ndarray, pads: tuple, mode: str) -> np.ndarray:
    """Pad the last len(pads) dims of x by pads = ((lo, hi), ...); returns x itself if no pad."""
    if not any(lo or hi for lo, hi in pads):
        return x
    first = x.ndim - len(pads)
    if mode == "zeros":
        shape = x.shape[:first] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[first:], pads))
        out = np.zeros(shape, dtype=x.dtype)
        out[(...,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[first:], pads))] = x
        return out
    for axis, (lo, hi) in enumerate(pads, start=first):
        if lo or hi:
            x = np.take(x, _pad_index(x.shape[axis], lo, hi, mode), axis=axis)
    return x


def _unpad_array(g: np.ndarray, pads: tuple, mode: str) -> np.ndarray:
    """Adjoint of ``_pad_array``: fold the gradient of the padded array back onto the input."""
    first = g.ndim - len(pads)
    if mode == "zeros":
        return g[(...,) + tuple(slice(lo, g.shape[first + i] - hi)
                                for i, (lo, hi) in enumerate(pads))]
    for axis in reversed(range(first, g.ndim)):
        lo, hi = pads[axis - first]
        if lo or hi:
            g = _unpad_axis(g, axis, lo, hi, mode)
    return g


def _unpad_axis(g: np.ndarray, axis: int, lo: int, hi: int, mode: str) -> np.ndarray:
    n = g.shape[axis] - lo - hi
    idx = _pad_index(n, lo, hi, mode)
    pre = (slice(None),) * axis
    dx = g[pre + (slice(lo, lo + n),)].copy()
    for j in itertools.chain(range(lo), range(lo + n, lo + n + hi)):  # loops over padding only
        dx[pre + (idx[j],)] += g[pre + (j,)]
    return dx


def _check_mode_pads(op: str, mode: str, pads: tuple, sizes: tuple) -> None:
    if mode not in PADDING_MODES:
        raise ValueError(f"{op}: padding_mode must be one of {PADDING_MODES}, "
                         f"received padding_mode={mode!r}")
    for (lo, hi), n in zip(pads, sizes):
        if mode == "reflect" and max(lo, hi) >= n:
            raise ValueError(f"{op}: padding_mode='reflect' needs padding < input size, "
                             f"received padding ({lo}, {hi}) for a dim of size {n}")
        if mode == "circular" and max(lo, hi) > n:
            raise ValueError(f"{op}: padding_mode='circular' needs padding <= input size, "
                             f"received padding ({lo}, {hi}) for a dim of size {n}")


class PadND(Function):
    """Reflect / replicate / circular / zero padding of trailing dims, exact backward."""

    @staticmethod
    def forward(ctx, x, pads=None, mode="zeros"):
        ctx.pads, ctx.mode = pads, mode
        out = _pad_array(x, pads, mode)
        return out.copy() if out is x else out

    @staticmethod
    def backward(ctx, g):
        return _unpad_array(g, ctx.pads, ctx.mode)


def pad_nd(x, pad, mode: str = "reflect"):
    """Pad the last len(pad)//2 dims with mode 'zeros', 'reflect', 'replicate' or 'circular'.

    ``pad`` follows torch.nn.functional.pad: (last_lo, last_hi, prev_lo, prev_hi, ...).
    reflect needs each pad < the dim's size, circular <= it.
    """
    if mode == "constant":
        mode = "zeros"
    k = len(pad) // 2
    if len(pad) % 2 or k > x.ndim or any(int(p) != p or p < 0 for p in pad):
        raise ValueError(f"pad_nd: pad must hold an even number (<= 2*ndim) of non-negative "
                         f"ints, received {tuple(pad)} for shape {tuple(x.shape)}")
    pads = tuple((int(pad[2 * i]), int(pad[2 * i + 1])) for i in reversed(range(k)))
    _check_mode_pads("pad_nd", mode, pads, tuple(x.shape[x.ndim - k:]))
    return PadND.apply(x, pads=pads, mode=mode)


# ----------------------------------------------------------------- convolution
_CHUNK_BYTES = 2 << 20  # column block per GEMM: small enough to stay in cache
_MIN_GATHER_RUN = 16  # NHWC gathers copy runs of C/groups*kW elements; shorter is slow
_CORR_RATIO = 4  # stride-1 input grad by correlation unless O > 4*C (then col2im)


class ConvNd(Function):
    """Fused 1-D/2-D grouped convolution with bias and padding.

    1-D is 2-D with H = 1 and unbatched input gets N = 1 (views only). The batch is
    processed in chunks whose column block stays in cache while its GEMM runs;
    backward recomputes the blocks from the saved padded input instead of storing
    them. Two column layouts: NHWC rows (output positions x (kH, kW, C)) when
    C/groups * kW is large enough for efficient gathers, else channel-major
    ((C, kH, kW) x output positions, gathering whole output rows).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
                groups=1, mode="zeros"):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x4, w4 = _as_4d(x, w.ndim - 2), _as_4d(w, w.ndim - 2)
        ctx.channel_major = w4.shape[1] * w4.shape[3] < _MIN_GATHER_RUN
        fwd = _forward_cm if ctx.channel_major else _forward_nhwc
        res, xp = fwd(x4, w4, b, stride, pads, dilation, groups, mode)
        ctx.geom = (stride, pads, dilation, groups, mode, x4.shape)
        ctx.save_for_backward(xp if ctx.needs_input_grad[1] else None, w4)
        return res.reshape(_out_shape(x.shape, w.ndim - 2, *res.shape[1:]))

    @staticmethod
    def backward(ctx, g):
        xp, w4 = ctx.saved
        nx, nw, nb = (list(ctx.needs_input_grad) + [False])[:3]
        g4 = _as_4d(g, len(ctx.w_shape) - 2)
        gb = g4.sum(axis=(0, 2, 3)) if nb else None
        if not (nx or nw):
            return None, None, gb
        bwd = _backward_cm if ctx.channel_major else _backward_nhwc
        gx, gw = bwd(g4, xp, w4, nx, nw, *ctx.geom)
        return (None if gx is None else gx.reshape(ctx.x_shape)), \
            (None if gw is None else gw.reshape(ctx.w_shape)), gb


def _forward_nhwc(x4, w4, b, stride, pads, dilation, groups, mode):
    """Output (N, O, OH, OW) from NHWC column blocks; also returns the padded NHWC input."""
    n, o = x4.shape[0], w4.shape[0]
    xp = _nhwc_padded(x4, pads, mode)
    wins = _nhwc_windows(xp, w4.shape[2:], stride, dilation, groups)
    oh, ow = wins.shape[1:3]
    wa = _weight_cols(w4, groups)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)
    bias = None if b is None else b.reshape(1, groups, o // groups, 1, 1)
    buf = None
    for sl in _batch_chunks(n, wins[0].nbytes):
        cols, buf = _gather(wins[sl], buf)
        out = np.matmul(cols.transpose(1, 0, 2), wa)  # (G, m*OH*OW, Og)
        out = out.reshape(groups, -1, oh, ow, o // groups).transpose(1, 0, 4, 2, 3)
        dst = res[sl].reshape(out.shape)
        _blocked_copy(dst, out, 2, bias)
    return res, xp


def _backward_nhwc(g4, xp, w4, nx, nw, stride, pads, dilation, groups, mode, x_shape):
    n, o, oh, ow = g4.shape
    c, kh, kw = w4.shape[1] * groups, w4.shape[2], w4.shape[3]
    wa = _weight_cols(w4, groups)
    corr = nx and stride == (1, 1) and mode == "zeros" and o <= c * _CORR_RATIO
    gwa = np.zeros_like(wa) if nw else None
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None
    wins = _nhwc_windows(xp, (kh, kw), stride, dilation, groups) if nw else None
    buf = None
    per_sample = max(oh * ow, x_shape[2] * x_shape[3]) * kh * kw * max(c, o) * g4.itemsize
    for sl in _batch_chunks(n, per_sample):
        gc = _nhwc_grad(g4[sl], groups)  # (m*OH*OW, G, Og)
        if nw:
            cols, buf = _gather(wins[sl], buf)
            gwa += np.matmul(cols.transpose(1, 2, 0), gc.transpose(1, 0, 2))
        if nx and corr:
            _input_grad_corr(gc, w4, pads, dilation, groups, gx[sl], oh, ow)
        elif nx:
            gx[sl] = _input_grad_col2im(gc, wa, w4.shape, stride, pads, dilation, mode,
                                        x_shape, oh, ow)
    gw = None if gwa is None else \
        gwa.reshape(groups, kh, kw, -1, o // groups).transpose(0, 4, 3, 1, 2)
    return gx, gw


def _forward_cm(x4, w4, b, stride, pads, dilation, groups, mode):
    """Output (N, O, OH, OW) from channel-major column blocks; also returns the padded input."""
    n, o = x4.shape[0], w4.shape[0]
    xp = _pad_array(x4, pads, mode)
    wins = sliding_windows(xp, w4.shape[2:], stride, dilation)  # (N, C, OH, OW, kH, kW)
    oh, ow = wins.shape[2:4]
    wm = w4.reshape(groups, o // groups, -1)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)
    buf = None
    for sl in _batch_chunks(n, wins[0].nbytes):
        cols, buf = _gather_cm(wins[sl], buf, groups)
        out = np.matmul(wm, cols).reshape(o, -1, oh, ow).transpose(1, 0, 2, 3)
        np.copyto(res[sl], out) if b is None else np.add(out, b[:, None, None], out=res[sl])
    return res, xp


def _backward_cm(g4, xp, w4, nx, nw, stride, pads, dilation, groups, mode, x_shape):
    n, o, oh, ow = g4.shape
    kernel = w4.shape[2:]
    wm = w4.reshape(groups, o // groups, -1)
    gw = np.zeros_like(wm) if nw else None
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None
    wins = sliding_windows(xp, kernel, stride, dilation) if nw else None
    buf = None
    for sl in _batch_chunks(n, oh * ow * max(wm[0].size, o) * g4.itemsize):
        m = sl.stop - sl.start
        gt = np.ascontiguousarray(g4[sl].transpose(1, 0, 2, 3)).reshape(groups, o // groups, -1)
        if nw:
            cols, buf = _gather_cm(wins[sl], buf, groups)
            gw += np.matmul(gt, cols.transpose(0, 2, 1))
        if nx:
            dcol = np.matmul(wm.transpose(0, 2, 1), gt)  # (G, Cg*kH*kW, m*OH*OW)
            dcol = dcol.reshape(-1, *kernel, m, oh, ow).transpose(3, 0, 4, 5, 1, 2)
            shape = (m, x_shape[1]) + tuple(np.add(x_shape[2:], [sum(p) for p in pads]))
            dxp = accumulate_windows(dcol, np.zeros(shape, dtype=g4.dtype), stride, dilation)
            gx[sl] = _unpad_array(dxp, pads, mode)
    return gx, gw


def _gather_cm(wins: np.ndarray, buf, groups: int):
    """Copy windows (m, C, OH, OW, kH, kW) into channel-major (G, Cg*kH*kW, m*OH*OW) columns."""
    m, c, oh, ow, kh, kw = wins.shape
    if buf is None or buf.size < wins.size:
        buf = np.empty(wins.size, dtype=wins.dtype)
    cols = buf[:wins.size].reshape(c, kh, kw, m, oh, ow)
    np.copyto(cols.transpose(3, 0, 4, 5, 1, 2), wins)
    return cols.reshape(groups, c // groups * kh * kw, m * oh * ow), buf


def _as_4d(a: np.ndarray, nd: int) -> np.ndarray:
    """View (N, C, L) / (C, L) / (N, C, H, W) / (C, H, W) as (N, C, H, W)."""
    if nd == 1:
        a = a[..., None, :]
    return a if a.ndim == 4 else a[None]


def _out_shape(x_shape: tuple, nd: int, o: int, oh: int, ow: int) -> tuple:
    spatial = (ow,) if nd == 1 else (oh, ow)
    batch = x_shape[:1] if len(x_shape) == nd + 2 else ()
    return batch + (o,) + spatial


def _nhwc_padded(x4: np.ndarray, pads: tuple, mode: str) -> np.ndarray:
    """The padded input as a contiguous (N, Hp, Wp, C) array."""
    if mode != "zeros":
        return np.ascontiguousarray(_pad_array(x4, pads, mode).transpose(0, 2, 3, 1))
    (lh, hh), (lw, hw) = pads
    n, c, h, w = x4.shape
    xp = np.zeros((n, h + lh + hh, w + lw + hw, c), dtype=x4.dtype)
    _blocked_copy(xp[:, lh:lh + h, lw:lw + w, :], x4.transpose(0, 2, 3, 1), 3)
    return xp


def _nhwc_windows(xp, kernel, stride, dilation, groups, out_hw=None) -> np.ndarray:
    """Strided view (N, OH, OW, G, kH, kW, C/G) of the windows of an NHWC array."""
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    n, hp, wp, c = xp.shape
    if out_hw is None:
        out_hw = (conv_output_size(hp, kh, sh, 0, dh), conv_output_size(wp, kw, sw, 0, dw))
    rn, rh, rw, rc = xp.strides
    cg = c // groups
    return np.lib.stride_tricks.as_strided(
        xp, (n,) + tuple(out_hw) + (groups, kh, kw, cg),
        (rn, rh * sh, rw * sw, rc * cg, rh * dh, rw * dw, rc), writeable=False)


def _batch_chunks(n: int, per_sample: int) -> list:
    """Batch slices of about _CHUNK_BYTES each, given the bytes one sample needs."""
    step = max(1, _CHUNK_BYTES // max(per_sample, 1))
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _gather(wins: np.ndarray, buf):
    """Copy a window view (m, OH, OW, G, kH, kW, Cg) into a reusable buffer.

    Returns the column block as (m*OH*OW, G, kH*kW*Cg) and the buffer.
    """
    if buf is None or buf.shape[0] < wins.shape[0]:
        buf = np.empty(wins.shape, dtype=wins.dtype)
    cols = buf[:wins.shape[0]]
    np.copyto(cols, wins)
    m, oh, ow, g = wins.shape[:4]
    return cols.reshape(m * oh * ow, g, -1), buf


def _weight_cols(w4: np.ndarray, groups: int) -> np.ndarray:
    """Weight (O, Cg, kH, kW) as the GEMM operand (G, kH*kW*Cg, Og)."""
    o, cg, kh, kw = w4.shape
    wa = w4.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return np.ascontiguousarray(wa).reshape(groups, kh * kw * cg, o // groups)


def _nhwc_grad(g4: np.ndarray, groups: int) -> np.ndarray:
    """Output-gradient chunk (m, O, OH, OW) as contiguous (m*OH*OW, G, Og)."""
    m, o, oh, ow = g4.shape
    gc = np.empty((m, oh, ow, groups, o // groups), dtype=g4.dtype)
    _blocked_copy(gc, g4.reshape(m, groups, o // groups, oh, ow).transpose(0, 3, 4, 1, 2), 4)
    return gc.reshape(m * oh * ow, groups, o // groups)


def _blocked_copy(dst: np.ndarray, src: np.ndarray, axis: int, add=None) -> None:
    """dst[...] = src (+ add), in blocks of 16 along the channel ``axis``.

    NCHW <-> NHWC copies otherwise thrash the cache: with H*W*itemsize a multiple
    of 4 KiB, all channels of a pixel map to the same cache set.
    """
    for s in range(0, dst.shape[axis], 16):
        idx = (slice(None),) * axis + (slice(s, s + 16),)
        if add is None:
            np.copyto(dst[idx], src[idx])
        else:
            np.add(src[idx], add[idx] if add.shape[axis] > 1 else add, out=dst[idx])


def _input_grad_col2im(gc, wa, w_shape, stride, pads, dilation, mode, x_shape, oh, ow):
    """dcol = W g^T (one batched GEMM), col2im over kernel offsets only, unpad; (m, C, H, W)."""
    groups = wa.shape[0]
    _, cg, kh, kw = w_shape
    m = gc.shape[0] // (oh * ow)
    dcol = np.matmul(wa, gc.transpose(1, 2, 0))  # (G, kH*kW*Cg, m*OH*OW)
    dcol = dcol.reshape(groups, kh, kw, cg, m, oh, ow).transpose(4, 0, 3, 5, 6, 1, 2)
    shape = (m, groups, cg) + tuple(np.add(x_shape[2:], [sum(p) for p in pads]))
    dxp = accumulate_windows(dcol, np.zeros(shape, dtype=gc.dtype), stride, dilation)
    return _unpad_array(dxp.reshape(m, groups * cg, *shape[3:]), pads, mode)


def _input_grad_corr(gc, w4, pads, dilation, groups, out, oh, ow):
    """Stride-1 input gradient as a full correlation of g with the flipped kernel.

    gc is the (m*OH*OW, G, Og) gradient chunk; writes the (m, C, H, W) result into out.
    """
    o, cg, kh, kw = w4.shape
    m, _, h, w = out.shape
    (lh, _), (lw, _) = pads
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    gpad = np.zeros((m, oh + 2 * eh, ow + 2 * ew, o), dtype=gc.dtype)
    gpad[:, eh:eh + oh, ew:ew + ow, :] = gc.reshape(m, oh, ow, o)
    region = gpad[:, lh:lh + h + eh, lw:lw + w + ew, :]
    cols, _ = _gather(_nhwc_windows(region, (kh, kw), (1, 1), dilation, groups, (h, w)), None)
    wf = w4[:, :, ::-1, ::-1].reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 1, 2)
    wf = wf.reshape(groups, kh * kw * (o // groups), cg)
    dx = np.matmul(cols.transpose(1, 0, 2), wf)  # (G, m*H*W, Cg)
    dx = dx.reshape(groups, m, h, w, cg).transpose(1, 0, 4, 2, 3)
    _blocked_copy(out.reshape(dx.shape), dx, 2)


# ------------------------------------------------------------------ validation
def _check_conv_args(op, nd, x, w, b, stride, padding, dilation, groups, padding_mode):
    """Validate and normalise; returns (stride, pads, dilation, groups) as 2-D tuples."""
    names = "(N, C, L) or unbatched (C, L)" if nd == 1 else "(N, C, H, W) or unbatched (C, H, W)"
    for arg, a in (("input", x), ("weight", w)):
        if not hasattr(a, "ndim"):
            raise TypeError(f"{op}: {arg} must be a Tensor, received {type(a).__name__}")
    check_ndim(op, x, (nd + 1, nd + 2), names)
    check_float(op, x)
    check_float(op, w)
    if w.ndim != nd + 2:
        raise ValueError(f"{op}: expected weight of rank {nd + 2} (out_channels, "
                         f"in_channels/groups, *kernel_size), received shape {tuple(w.shape)}")
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, received groups={groups!r}")
    o, cg = w.shape[:2]
    c = x.shape[-nd - 1]
    if min(w.shape) < 1:
        raise ValueError(f"{op}: weight has an empty dim, received shape {tuple(w.shape)}")
    if o % groups:
        raise ValueError(f"{op}: out_channels={o} (weight.shape[0]) is not divisible by "
                         f"groups={groups}")
    if c != cg * groups:
        raise ValueError(f"{op}: expected input with {cg * groups} channels (weight.shape[1]="
                         f"{cg} * groups={groups}), received shape {tuple(x.shape)}")
    _check_bias(op, b, (o,), x.dtype)
    kernel = tuple(w.shape[2:])
    stride = ntuple(stride, nd, op, "stride")
    dilation = ntuple(dilation, nd, op, "dilation")
    pads = normalize_padding(padding, kernel, stride, dilation, op)
    sizes = tuple(x.shape[-nd:])
    _check_mode_pads(op, padding_mode, pads, sizes)
    _check_out_size(op, sizes, kernel, stride, pads, dilation)
    if nd == 1:
        return (1,) + stride, ((0, 0),) + pads, (1,) + dilation
    return stride, pads, dilation


def _check_bias(op, b, shape, dtype):
    if b is None:
        return
    if tuple(b.shape) != shape:
        raise ValueError(f"{op}: expected bias of shape {shape}, received shape {tuple(b.shape)}")
    if b.dtype != dtype:
        raise TypeError(f"{op}: bias dtype {b.dtype} differs from input dtype {dtype}")


def _check_out_size(op, sizes, kernel, stride, pads, dilation):
    out = [conv_output_size(*a) for a in zip(sizes, kernel, stride, pads, dilation)]
    if min(out) < 1:
        raise ValueError(f"{op}: computed output size {tuple(out)} is too small (input size "
                         f"{sizes}, padding {pads}, kernel {kernel}, dilation {dilation}); "
                         f"the dilated kernel is larger than the padded input")
    return out


def _conv(op, nd, x, w, b, stride, padding, dilation, groups, padding_mode):
    stride, pads, dilation = _check_conv_args(op, nd, x, w, b, stride, padding, dilation,
                                              groups, padding_mode)
    return ConvNd.apply(x, w, b, stride=stride, pads=pads, dilation=dilation,
                        groups=int(groups), mode=padding_mode)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """2-D cross-correlation, PyTorch's F.conv2d (plus nn.Conv2d's padding_mode).

    input (N, C, H, W) or (C, H, W); weight (O, C/groups, kH, kW); bias (O,) or None.
    padding: int, (pH, pW), 'valid' or 'same' (stride 1; extra pad on the high side).
    padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
    Output (N, O, OH, OW), OH = floor((H + 2pH - dH*(kH-1) - 1)/sH) + 1.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros"):
    """1-D cross-correlation, PyTorch's F.conv1d (plus nn.Conv1d's padding_mode).

    input (N, C, L) or (C, L); weight (O, C/groups, k); bias (O,) or None.
    Output (N, O, OL), OL = floor((L + 2p - d*(k-1) - 1)/s) + 1.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode)


# ----------------------------------------------------------- locally connected
class LocallyConnected2d(Function):
    """Unshared-weight 2-D convolution: one (O, C, kH, kW) filter bank per output position."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1)):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x4 = x if x.ndim == 4 else x[None]
        oh, ow, o, c, kh, kw = w.shape
        n = x4.shape[0]
        xp = _pad_array(x4, pads, "zeros")
        win = sliding_windows(xp, (kh, kw), stride, dilation)  # (N, C, OH, OW, kH, kW)
        col = np.empty((oh, ow, n, c, kh, kw), dtype=x.dtype)
        np.copyto(col.transpose(2, 3, 0, 1, 4, 5), win)
        col = col.reshape(oh * ow, n, c * kh * kw)
        wm = w.reshape(oh * ow, o, c * kh * kw)
        out = np.matmul(col, wm.transpose(0, 2, 1))  # (P, N, O)
        res = np.ascontiguousarray(out.transpose(1, 2, 0)).reshape(n, o, oh, ow)
        if b is not None:
            res += b
        ctx.geom = (stride, pads, dilation, xp.shape)
        ctx.save_for_backward(col if ctx.needs_input_grad[1] else None, wm)
        return res if x.ndim == 4 else res[0]

    @staticmethod
    def backward(ctx, g):
        col, wm = ctx.saved
        stride, pads, dilation, xp_shape = ctx.geom
        nx, nw, nb = (list(ctx.needs_input_grad) + [False])[:3]
        oh, ow, o, c, kh, kw = ctx.w_shape
        g4 = g if g.ndim == 4 else g[None]
        n = g4.shape[0]
        gp = np.ascontiguousarray(g4.reshape(n, o, oh * ow).transpose(2, 0, 1))  # (P, N, O)
        gx = gw = gb = None
        if nb:
            gb = g4.sum(axis=0)
        if nw:
            gw = np.matmul(gp.transpose(0, 2, 1), col).reshape(ctx.w_shape)
        if nx:
            dcol = np.matmul(gp, wm).reshape(oh, ow, n, c, kh, kw).transpose(2, 3, 0, 1, 4, 5)
            dxp = accumulate_windows(dcol, np.zeros(xp_shape, dtype=g.dtype), stride, dilation)
            gx = np.ascontiguousarray(_unpad_array(dxp, pads, "zeros")).reshape(ctx.x_shape)
        return gx, gw, gb


def locally_connected2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution without weight sharing (Keras 2 LocallyConnected2D), NCHW.

    input (N, C, H, W) or (C, H, W); padding: int, (pH, pW), 'valid' or 'same' (zeros).
    weight (OH, OW, O, C, kH, kW): weight[i, j] is the (O, C, kH, kW) filter bank of
    output position (i, j); bias (O, OH, OW) or None. Output (N, O, OH, OW) with
    out[n, :, i, j] = weight[i, j] (*) window(i, j) + bias[:, i, j], where OH, OW follow
    the conv formula floor((H + 2pH - dH*(kH-1) - 1)/sH) + 1 and must match weight.
    """
    op = "locally_connected2d"
    check_ndim(op, input, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    check_float(op, input)
    check_float(op, weight)
    if weight.ndim != 6:
        raise ValueError(f"{op}: expected weight of rank 6 (OH, OW, out_channels, in_channels, "
                         f"kH, kW), received shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    oh, ow, o, c, kh, kw = weight.shape
    if input.shape[-3] != c:
        raise ValueError(f"{op}: expected input with {c} channels (weight.shape[3]), "
                         f"received shape {tuple(input.shape)}")
    _check_bias(op, bias, (o, oh, ow), input.dtype)
    stride, dilation = ntuple(stride, 2, op, "stride"), ntuple(dilation, 2, op, "dilation")
    pads = normalize_padding(padding, (kh, kw), stride, dilation, op)
    out = _check_out_size(op, tuple(input.shape[-2:]), (kh, kw), stride, pads, dilation)
    if tuple(out) != (oh, ow):
        raise ValueError(f"{op}: the output size for input shape {tuple(input.shape)} is "
                         f"{tuple(out)}, but weight is for output size ({oh}, {ow})")
    return LocallyConnected2d.apply(input, weight, bias, stride=stride, pads=pads,
                                    dilation=dilation)
