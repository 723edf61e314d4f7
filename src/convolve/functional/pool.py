"""Pooling: max_pool1d/2d, avg_pool1d/2d, adaptive_avg_pool1d/2d, blur_pool2d (anti-aliasing).

Inputs are (N, C, *spatial) or unbatched (C, *spatial), as in PyTorch; 1-d pooling is 2-d
pooling over a (1, L) plane. Output size per spatial dim n (PyTorch's rule, d = dilation)::

    out = floor((n + 2p - d(k-1) - 1 + (s-1 if ceil_mode else 0)) / s) + 1
    if ceil_mode and (out-1)*s >= n + p: out -= 1   # last window starts in input or left pad

Each op is one Function on a (B, H, W) view of the input (B = all leading dims). Windows
are reduced one axis at a time (W, then H) by loops over kernel offsets on strided views,
never over pixels; backward is the adjoint of each step, masks times the gradient, with no
index scatter. Without padding the input is used as it is; when windows are disjoint
(stride >= dilated kernel) the gradient is assigned rather than accumulated, and for
kernel == stride average pooling's backward is a repeat of the gradient.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._backend import load as _load_kernels
from ._util import check_float, check_ndim, ntuple

__all__ = [
    "adaptive_avg_pool1d",
    "adaptive_avg_pool2d",
    "avg_pool1d",
    "avg_pool2d",
    "max_pool1d",
    "max_pool2d",
]


class _Axis(NamedTuple):
    """Geometry of pooling along one spatial axis: kernel, stride, padding, dilation, sizes."""
    k: int
    s: int
    p: int
    d: int
    n: int
    out: int

    def taps(self):
        """Per kernel offset i, the slice of (padded) positions read by outputs 0..out-1."""
        span = (self.out - 1) * self.s + 1
        return [slice(i * self.d, i * self.d + span, self.s) for i in range(self.k)]

    def need(self) -> int:
        """Padded length the windows reach: (out-1)*s + d*(k-1) + 1."""
        return (self.out - 1) * self.s + self.d * (self.k - 1) + 1

    def tiles(self) -> bool:
        """Windows tile the input without padding or gaps (kernel == stride, no dilation)."""
        return self.p == 0 and self.s == self.k and (self.d == 1 or self.k == 1) \
            and self.out * self.k <= self.n


_UNIT = _Axis(1, 1, 0, 1, 1, 1)


def _out_size(n, k, s, p, d, ceil_mode) -> int:
    """PyTorch's pooling_output_shape (see the module docstring)."""
    out = (n + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        out -= 1
    return out


def _check_input(op: str, x, nd: int):
    """Float input of rank nd+1 (unbatched) or nd+2 with non-empty channel/spatial dims."""
    if not isinstance(x, Tensor):
        x = np.asarray(x)
    check_float(op, x)
    layout = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
    check_ndim(op, x, (nd + 1, nd + 2), layout)
    if 0 in x.shape[-nd - 1:]:
        raise ValueError(f"{op}: expected non-empty channel and spatial dims, "
                         f"received shape {tuple(x.shape)}")
    return x


def _check_bool(op: str, name: str, value) -> None:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{op}: {name} must be a bool, received {name}={value!r}")


def window_args(op, nd, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
    """Validate pooling window arguments (also used by the layers); return (k, s, p, d) tuples.

    stride None (or empty) means kernel_size; padding must be <= kernel_size // 2.
    """
    _check_bool(op, "ceil_mode", ceil_mode)
    k = ntuple(kernel_size, nd, op, "kernel_size")
    no_stride = stride is None or (isinstance(stride, (tuple, list)) and len(stride) == 0)
    s = k if no_stride else ntuple(stride, nd, op, "stride")
    p = ntuple(padding, nd, op, "padding", minimum=0)
    d = ntuple(dilation, nd, op, "dilation")
    if any(pi > ki // 2 for pi, ki in zip(p, k)):
        raise ValueError(f"{op}: padding must be at most half of kernel_size, received "
                         f"padding={padding!r} with kernel_size={kernel_size!r}")
    return k, s, p, d


def _geometry(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode):
    """Validate window arguments; return (H-axis, W-axis) geometry (H is trivial for 1-d)."""
    k, s, p, d = window_args(op, nd, kernel_size, stride, padding, dilation, ceil_mode)
    axes = tuple(_Axis(ki, si, pi, di, n, _out_size(n, ki, si, pi, di, ceil_mode))
                 for ki, si, pi, di, n in zip(k, s, p, d, x.shape[-nd:]))
    if min(a.out for a in axes) < 1:
        raise ValueError(
            f"{op}: computed output size {tuple(a.out for a in axes)} is too small (< 1) for "
            f"input shape {tuple(x.shape)} with kernel_size={k}, stride={s}, padding={p}, "
            f"dilation={d}")
    return axes if nd == 2 else (_UNIT,) + axes


def _pad3(x, ah: _Axis, aw: _Axis, fill):
    """Pad (B, H, W) with ``fill``: p before, and after as far as the windows reach."""
    B, H, W = x.shape
    hp, wp = max(ah.need(), H + ah.p), max(aw.need(), W + aw.p)
    if (ah.p, aw.p, hp, wp) == (0, 0, H, W):
        return x
    out = np.full((B, hp, wp), fill, dtype=x.dtype)
    out[:, ah.p:ah.p + H, aw.p:aw.p + W] = x
    return out


def _window_reduce(x, axis: int, a: _Axis, op=np.add, w=None):
    """Combine with ``op`` the k offsets of each window along ``axis`` (weighted by w[i])."""
    lead = (slice(None),) * axis
    taps = a.taps()
    out = x[lead + (taps[0],)] * (1 if w is None else w[0])
    for i, t in enumerate(taps[1:], 1):
        op(out, x[lead + (t,)] if w is None else w[i] * x[lead + (t,)], out=out)
    return out


def _window_sum_T(g, axis: int, a: _Axis, length: int, w=None):
    """Adjoint of _window_reduce with np.add: spread g back over an axis of ``length``."""
    shape = g.shape[:axis] + (length,) + g.shape[axis + 1:]
    out = np.zeros(shape, dtype=g.dtype)
    lead = (slice(None),) * axis
    for i, t in enumerate(a.taps()):
        out[lead + (t,)] += g if w is None else w[i] * g
    return out


def _unpad(gp, ah: _Axis, aw: _Axis, xshape):
    """Adjoint of _pad3: the input part of a padded-gradient array, in the input's shape."""
    return gp[:, ah.p:ah.p + ah.n, aw.p:aw.p + aw.n].reshape(xshape)


# ------------------------------------------------------------------------------ max pooling
# Max is separable: the window max is the max over rows of the row maxima m1 (B, Hp, OW).
# PyTorch's argmax, the first max in row-major window order, is likewise the first row
# whose row max is the window max, then the first column of that row holding it (the last
# NaN when there is one, by the same argument). Backward routes g in those two steps.


def _valid(a: _Axis, i: int):
    """Which windows' tap i lies inside the input (not in the padding or ceil overhang)."""
    pos = np.arange(a.out) * a.s - a.p + i * a.d
    return (pos >= 0) & (pos < a.n)


def _last_nan_hits(x, target, axis: int, a: _Axis):
    """Per tap, where it holds the last NaN of a window whose target is NaN."""
    lead = (slice(None),) * axis
    left = np.isnan(target)
    hits = []
    for t in reversed(a.taps()):
        hit = np.isnan(x[lead + (t,)]) & left
        left ^= hit
        hits.append(hit)
    return hits[::-1]


def _first_hits(x, target, axis: int, a: _Axis, masked: bool):
    """Per tap i along ``axis``: where tap i holds its window's first element equal to
    ``target`` (the window max), or its last NaN. ``masked``: only taps inside the input
    count, which matters when padding (-inf) ties with an all -inf window."""
    lead = (slice(None),) * axis
    nan = _last_nan_hits(x, target, axis, a) if np.isnan(target).any() else None
    free = np.ones(target.shape, bool) if nan is None else ~np.isnan(target)
    hits = []
    for i, t in enumerate(a.taps()):
        if i == a.k - 1 and not masked:
            hit = free  # the max is somewhere: where no earlier tap held it, this one does
        else:
            hit = x[lead + (t,)] == target
            if masked:
                hit &= _valid(a, i).reshape((-1,) + (1,) * (target.ndim - axis - 1))
            hit &= free
            free ^= hit
        hits.append(hit if nan is None else hit | nan[i])
    return hits


def _masked(xp, best, ah: _Axis, aw: _Axis) -> bool:
    return xp.shape[1:] != (ah.n, aw.n) and bool(np.isneginf(best).any())


def _route(g, hits, axis: int, a: _Axis, length: int):
    """Adjoint of picking the hit tap: g (window grid) -> an axis of ``length`` positions."""
    shape = g.shape[:axis] + (length,) + g.shape[axis + 1:]
    out = np.zeros(shape, dtype=g.dtype)
    lead = (slice(None),) * axis
    disjoint = a.s >= a.d * (a.k - 1) + 1
    for t, hit in zip(a.taps(), hits):
        hit = hit.view(np.uint8)  # NumPy multiplies by uint8 faster than by bool
        if disjoint:
            np.multiply(g, hit, out=out[lead + (t,)])
        else:
            out[lead + (t,)] += g * hit
    return out


def _flat_indices(xp, m1, best, ah: _Axis, aw: _Axis):
    """PyTorch's max-pool indices: the argmax's position in the flattened H*W plane.

    A window lying wholly in the padding (possible with dilation) keeps PyTorch's fallback:
    its first dilation-grid position >= 0 (which is then outside the input).
    """
    masked = _masked(xp, best, ah, aw)
    first = [np.maximum(0, -((np.arange(a.out) * a.s - a.p) // a.d)) for a in (ah, aw)]
    isel = np.broadcast_to(first[0][:, None], best.shape).copy()
    for i, hit in enumerate(_first_hits(m1, best, 1, ah, masked)):
        isel[hit] = i
    jsel = np.broadcast_to(first[1], m1.shape).copy()
    for j, hit in enumerate(_first_hits(xp, m1, 2, aw, masked)):
        jsel[hit] = j
    rows = (np.arange(ah.out) * ah.s)[:, None] + isel * ah.d  # padded coordinates
    cols = np.arange(aw.out) * aw.s + np.take_along_axis(jsel, rows, axis=1) * aw.d
    return (rows - ah.p) * aw.n + cols - aw.p


def _compiled_kernels(ah: _Axis, aw: _Axis):
    """The compiled loops (``_backend.load("loops")``) for 2x2 windows with stride 2 (no padding,
    dilation or ceil overhang), else None."""
    if not (ah.k == aw.k == 2 and ah.tiles() and aw.tiles()):
        return None
    return _load_kernels("loops")


def _max_pool_compiled(ctx, x, ah: _Axis, aw: _Axis, out_shape, holder):
    """One-pass 2x2 forward: values and each argmax's position in its window (0..3)."""
    x3 = np.ascontiguousarray(x.reshape(-1, ah.n, aw.n))
    out = np.empty((x3.shape[0], ah.out, aw.out), dtype=x.dtype)
    code = np.empty(out.shape, dtype=np.uint8)
    ctx.compiled.max_pool_2x2_forward(x3, out, code)
    ctx.save_for_backward(code)
    ctx.meta = (x.shape, ah, aw)
    if holder is not None:  # the flat position in the H*W plane, as PyTorch returns it
        rows = 2 * np.arange(ah.out)[:, None] + code // 2
        cols = 2 * np.arange(aw.out) + code % 2
        holder["indices"] = (rows * aw.n + cols).reshape(out_shape).astype(np.int64)
    return out.reshape(out_shape)


def _max_pool_compiled_backward(ctx, g):
    """g to each window's argmax, zeros elsewhere, in one pass over the input gradient."""
    (code,) = ctx.saved
    xshape, ah, aw = ctx.meta
    gx = np.empty((code.shape[0], ah.n, aw.n), dtype=g.dtype)
    ctx.compiled.max_pool_2x2_backward(np.ascontiguousarray(g.reshape(code.shape)), code, gx)
    return gx.reshape(xshape)


class _MaxPool(Function):
    """Max over windows of a (B, H, W) view: row maxima, then their max over rows (NumPy),
    or one compiled pass that also records each argmax (see ``_numba_loops``)."""

    @staticmethod
    def forward(ctx, x, ah=None, aw=None, out_shape=None, holder=None):
        ctx.compiled = _compiled_kernels(ah, aw)
        if ctx.compiled is not None:
            return _max_pool_compiled(ctx, x, ah, aw, out_shape, holder)
        xp = _pad3(x.reshape(-1, ah.n, aw.n), ah, aw, -np.inf)
        m1 = _window_reduce(xp, 2, aw, np.maximum)
        best = _window_reduce(m1, 1, ah, np.maximum)
        ctx.save_for_backward(xp, m1, best)
        ctx.meta = (x.shape, ah, aw)
        if holder is not None:
            holder["indices"] = _flat_indices(xp, m1, best, ah, aw).reshape(out_shape)
        return best.reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        if ctx.compiled is not None:
            return _max_pool_compiled_backward(ctx, g)
        xp, m1, best = ctx.saved
        xshape, ah, aw = ctx.meta
        masked = _masked(xp, best, ah, aw)
        g3 = g.reshape(best.shape)
        gh = _route(g3, _first_hits(m1, best, 1, ah, masked), 1, ah, m1.shape[1])
        gp = _route(gh, _first_hits(xp, m1, 2, aw, masked), 2, aw, xp.shape[2])
        return _unpad(gp, ah, aw, xshape)


def _max_pool(op, nd, input, kernel_size, stride, padding, dilation, ceil_mode,
              return_indices):
    x = _check_input(op, input, nd)
    _check_bool(op, "return_indices", return_indices)
    ah, aw = _geometry(op, x, nd, kernel_size, stride, padding, dilation, ceil_mode)
    out_shape = x.shape[:-nd] + ((aw.out,) if nd == 1 else (ah.out, aw.out))
    holder = {} if return_indices else None
    out = _MaxPool.apply(x, ah=ah, aw=aw, out_shape=out_shape, holder=holder)
    if return_indices:
        return out, Tensor(holder["indices"], dtype=np.int64)
    return out


def max_pool2d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """Max over (kH, kW) windows: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).

    stride defaults to kernel_size; padding (<= kernel_size // 2) counts as -inf; output
    size as in the module docstring. With return_indices, also returns int64 indices into
    each flattened H*W plane (PyTorch's convention). The gradient goes to each window's
    argmax (first max in row-major window order on ties).
    """
    return _max_pool("max_pool2d", 2, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


def max_pool1d(input, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode=False, return_indices=False):
    """Max over windows of length k: (N, C, L) or (C, L) -> (N, C, OL); see max_pool2d."""
    return _max_pool("max_pool1d", 1, input, kernel_size, stride, padding, dilation,
                     ceil_mode, return_indices)


# -------------------------------------------------------------------------- average pooling
def _avg_counts(a: _Axis, count_include_pad: bool):
    """PyTorch's 1-d divisor: the window clipped to [-p, n+p), or to the input [0, n)."""
    start = np.arange(a.out) * a.s - a.p
    end = np.minimum(start + a.k, a.n + a.p)
    if count_include_pad:
        return end - start
    return np.minimum(end, a.n) - np.maximum(start, 0)


class _AvgPool(Function):
    """Mean over windows of a (B, H, W) view; windows are summed one axis at a time."""

    @staticmethod
    def forward(ctx, x, ah=None, aw=None, out_shape=None, count_include_pad=True, divisor=None):
        if divisor is None:
            div = np.outer(_avg_counts(ah, count_include_pad), _avg_counts(aw, count_include_pad))
            div = div.astype(x.dtype)
        else:
            div = x.dtype.type(divisor)
        xp = _pad3(x.reshape(-1, ah.n, aw.n), ah, aw, 0)
        ctx.meta = (x.shape, xp.shape, ah, aw, div)
        return (_window_reduce(_window_reduce(xp, 2, aw), 1, ah) / div).reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        xshape, pshape, ah, aw, div = ctx.meta
        gd = g.reshape(-1, ah.out, aw.out) / div
        if ah.tiles() and aw.tiles():  # disjoint windows: repeat each gradient k x k times
            gx = np.repeat(np.repeat(gd, aw.k, axis=2), ah.k, axis=1)
            H, W = ah.n, aw.n
            if gx.shape[1:] != (H, W):
                gx = np.pad(gx, ((0, 0), (0, H - gx.shape[1]), (0, W - gx.shape[2])))
            return gx.reshape(xshape)
        gp = _window_sum_T(_window_sum_T(gd, 1, ah, pshape[1]), 2, aw, pshape[2])
        return _unpad(gp, ah, aw, xshape)


def _avg_pool(op, nd, input, kernel_size, stride, padding, ceil_mode,
              count_include_pad, divisor_override):
    x = _check_input(op, input, nd)
    _check_bool(op, "count_include_pad", count_include_pad)
    if divisor_override is not None and (
            not isinstance(divisor_override, numbers.Integral)
            or isinstance(divisor_override, bool) or divisor_override == 0):
        raise ValueError(f"{op}: divisor_override must be None or a non-zero int, "
                         f"received divisor_override={divisor_override!r}")
    ah, aw = _geometry(op, x, nd, kernel_size, stride, padding, 1, ceil_mode)
    out_shape = x.shape[:-nd] + ((aw.out,) if nd == 1 else (ah.out, aw.out))
    return _AvgPool.apply(x, ah=ah, aw=aw, out_shape=out_shape,
                          count_include_pad=count_include_pad, divisor=divisor_override)


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True, divisor_override=None):
    """Mean over (kH, kW) windows: (N, C, H, W) or (C, H, W) -> (N, C, OH, OW).

    Output size as in the module docstring. Divisor (PyTorch's rule): divisor_override if
    given; else with count_include_pad the window clipped to the padded input [-p, n+p)
    (a ceil_mode overhang past it is not counted); else the window clipped to the input.
    """
    return _avg_pool("avg_pool2d", 2, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, divisor_override)


def avg_pool1d(input, kernel_size, stride=None, padding=0, ceil_mode=False,
               count_include_pad=True):
    """Mean over windows of length k: (N, C, L) or (C, L) -> (N, C, OL); see avg_pool2d."""
    return _avg_pool("avg_pool1d", 1, input, kernel_size, stride, padding, ceil_mode,
                     count_include_pad, None)


# ------------------------------------------------------------------------ adaptive average
def _adaptive_matrix(n: int, out: int, dtype):
    """(out, n) averaging matrix of PyTorch's bins [floor(i*n/out), ceil((i+1)*n/out))."""
    i = np.arange(out)
    start, end = (i * n) // out, -((-(i + 1) * n) // out)
    pos = np.arange(n)
    inside = (pos >= start[:, None]) & (pos < end[:, None])
    return (inside / (end - start)[:, None]).astype(dtype)


class _AdaptiveAvgPool(Function):
    """Adaptive mean of a (B, H, W) view: window sums when the output size divides the input
    size (a global mean for 1 x 1), else the separable bin-averaging matrices A_h X A_w^T."""

    @staticmethod
    def forward(ctx, x, in_hw=None, out_hw=None, out_shape=None):
        (oh, ow), (H, W) = out_hw, in_hw
        x3 = x.reshape(-1, H, W)
        ctx.meta = (x.shape, in_hw, out_hw)
        if (oh, ow) == (1, 1):
            out = x3.reshape(-1, H * W).mean(axis=1)
        elif H % oh == 0 and W % ow == 0:
            kh, kw = H // oh, W // ow
            ah, aw = _Axis(kh, kh, 0, 1, H, oh), _Axis(kw, kw, 0, 1, W, ow)
            out = _window_reduce(_window_reduce(x3, 2, aw), 1, ah) / x.dtype.type(kh * kw)
        else:
            mh, mw = _adaptive_matrix(H, oh, x.dtype), _adaptive_matrix(W, ow, x.dtype)
            ctx.mats = (mh, mw)
            t = (x3.reshape(-1, W) @ mw.T).reshape(-1, H, ow)
            out = np.tensordot(t, mh, axes=([1], [1])).transpose(0, 2, 1)
        return out.reshape(out_shape)

    @staticmethod
    def backward(ctx, g):
        xshape, (H, W), (oh, ow) = ctx.meta
        g3 = g.reshape(-1, oh, ow)
        if H % oh == 0 and W % ow == 0:  # each window gets its mean gradient: one write
            kh, kw = H // oh, W // ow
            gx = np.empty((g3.shape[0], oh, kh, ow, kw), g.dtype)
            np.divide(g3[:, :, None, :, None], g.dtype.type(kh * kw), out=gx)
            return gx.reshape(xshape)
        mh, mw = ctx.mats
        t = (g3.reshape(-1, ow) @ mw).reshape(-1, oh, W)
        return np.tensordot(t, mh, axes=([1], [0])).transpose(0, 2, 1).reshape(xshape)


def adaptive_size(op, output_size, sizes=(1, 1)):
    """Validate output_size: an int >= 1, or len(sizes) ints >= 1 or None (None keeps that
    input size). Returns the tuple of output sizes."""
    nd = len(sizes)
    vals = tuple(output_size) if isinstance(output_size, (tuple, list)) else (output_size,) * nd
    ok = output_size is not None and len(vals) == nd and all(
        v is None or (isinstance(v, numbers.Integral) and not isinstance(v, bool) and v >= 1)
        for v in vals)
    if not ok:
        what = "an int >= 1" + (" or a pair of ints >= 1" if nd == 2 else "")
        raise ValueError(f"{op}: output_size must be {what} (or None to keep a size), "
                         f"received output_size={output_size!r}")
    return tuple(int(n if v is None else v) for v, n in zip(vals, sizes))


def adaptive_avg_pool2d(input, output_size):
    """Mean over adaptive bins: (N, C, H, W) or (C, H, W) -> (N, C, oh, ow).

    output_size is an int or a pair; a None entry keeps that input size. Output i along an
    axis of size n averages input [floor(i*n/out), ceil((i+1)*n/out)) (PyTorch's bins).
    """
    op = "adaptive_avg_pool2d"
    x = _check_input(op, input, 2)
    out_hw = adaptive_size(op, output_size, x.shape[-2:])
    return _AdaptiveAvgPool.apply(x, in_hw=x.shape[-2:], out_hw=out_hw,
                                  out_shape=x.shape[:-2] + out_hw)


def adaptive_avg_pool1d(input, output_size):
    """Mean over adaptive bins: (N, C, L) or (C, L) -> (N, C, output_size); see the 2-d op."""
    op = "adaptive_avg_pool1d"
    x = _check_input(op, input, 1)
    (ol,) = adaptive_size(op, output_size, x.shape[-1:])
    return _AdaptiveAvgPool.apply(x, in_hw=(1, x.shape[-1]), out_hw=(1, ol),
                                  out_shape=x.shape[:-1] + (ol,))
