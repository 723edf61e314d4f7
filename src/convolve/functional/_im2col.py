"""The convolution engine behind ``functional/conv.py``: strided windows, padding, ConvNd.

Output size per spatial dim (PyTorch's formula)::

    out = floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1

``ConvNd`` is one fused Function per convolution. Forward pads the input, takes
a strided window view of it and copies it into a column block for a
(group-batched) GEMM. The batch is walked in chunks of about ``_CHUNK_BYTES`` of
columns so each block is still in cache when its GEMM reads it; backward
recomputes the blocks from the saved padded input instead of storing them. When
BLAS runs several threads, the chunks run on that many worker threads instead
(each GEMM single-threaded meanwhile), so the copies are parallel too. Column
layouts, picked by the length of the contiguous runs the gather copies:

* NHWC: rows = output positions, columns = (kH, kW, C/groups), gathered from an
  NHWC copy of the input in runs of C/groups*kW elements (most layers);
* channel-major: rows = (C/groups, kH, kW), columns = output positions, gathered
  in runs of whole output rows (few input channels, e.g. an RGB or grey input).

GEMMs whose output would be narrow (few output channels) run per sample in the
orientation W @ cols^T, writing the NCHW output (or reading the NCHW gradient)
directly instead of through a transposed copy.

Backward: the weight gradient is a GEMM per chunk (partial sums added in chunk
order, so results do not depend on the thread count); the input gradient is a
full correlation of the output gradient with the flipped kernel (stride 1, zero
padding) or a GEMM plus a col2im (a Numba loop from ``_conv_kernels.py`` when
Numba is installed, else NumPy adds over kernel offsets).

3x3 stride-1 undilated ungrouped zero-padded convs with at least
``_WINOGRAD_MIN_C`` input channels go to Winograd F(2x2, 3x3) (``_winograd.py``)
instead, when Numba is installed.
"""

from __future__ import annotations

import functools
import itertools
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .._blas import single_blas
from ..function import Function

_CHUNK_BYTES = 2 << 20  # column block per GEMM: small enough to stay in cache
_MIN_GATHER_RUN = 16  # NHWC gathers copy runs of C/groups*kW elements; shorter is slow
_CORR_RATIO = 4  # stride-1 input grad by correlation unless O > 4*C (then col2im)
_SCRATCH_KEEP = 32 << 20  # per-thread work arrays up to this size are reused between calls
_USE_WINOGRAD = True  # 3x3 stride-1 ungrouped zero-padded convs by Winograd F(2x2, 3x3)
_WINOGRAD = None  # the imported _winograd module (False: Numba is missing)
_WINOGRAD_MIN_C = 8  # fewer input channels: GEMMs with K = C are too thin, im2col wins
_USE_NUMBA = True  # ungrouped NHWC input grads by a Numba col2im (else correlation/NumPy)
_KERNELS = None  # the imported _conv_kernels module (False: Numba is missing)
_PER_SAMPLE_MAX_O = 32  # NHWC forward as per-sample W cols^T GEMMs when O/groups < this
_NUMBA_MAX_C = 32  # ... when C < this (a narrow correlation GEMM) or col2im is chosen anyway


# ------------------------------------------------------------------ windows
def conv_output_size(size: int, kernel: int, stride: int = 1, padding=0, dilation: int = 1) -> int:
    """Output length of one spatial dim: floor((size + lo + hi - dilation*(kernel-1) - 1)/stride) + 1.

    ``padding`` is the per-side int or a (lo, hi) pair. The result may be <= 0
    (callers report that as an error).
    """
    lo, hi = padding if isinstance(padding, (tuple, list)) else (padding, padding)
    return (size + lo + hi - dilation * (kernel - 1) - 1) // stride + 1


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


# ------------------------------------------------------------------ padding
def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source index of each padded position for reflect / replicate / circular padding."""
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        return (n - 1) - np.abs((n - 1) - np.abs(j))
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return j % n


def pad_array(x: np.ndarray, pads: tuple, mode: str) -> np.ndarray:
    """Pad the last len(pads) dims of x by pads = ((lo, hi), ...); returns x itself if no pad.

    mode: 'zeros', 'reflect', 'replicate' or 'circular' (PyTorch's padding modes).
    """
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


def unpad_array(g: np.ndarray, pads: tuple, mode: str) -> np.ndarray:
    """Adjoint of ``pad_array``: fold the gradient of the padded array back onto the input."""
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


# ------------------------------------------------------- chunks and threads
_FORCE_THREADS = 0  # > 0: use this many chunk workers whatever BLAS's thread count (tests)
_local = threading.local()
_pool_lock = threading.Lock()
_executors = {}  # (pid, threads) -> ThreadPoolExecutor
_blas_state = {}  # pid -> threadpoolctl controller of the BLAS libraries, or None


def _scratch(name: str, shape: tuple, dtype) -> np.ndarray:
    """A reusable per-thread work array of the given shape (contents undefined).

    Arrays over _SCRATCH_KEEP bytes are allocated afresh and not kept.
    """
    size = math.prod(shape)
    if size * np.dtype(dtype).itemsize > _SCRATCH_KEEP:
        return np.empty(shape, dtype=dtype)
    buf = getattr(_local, name, None)
    if buf is None or buf.dtype != dtype or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        setattr(_local, name, buf)
    return buf[:size].reshape(shape)


def _batch_chunks(n: int, per_sample: int) -> list:
    """Batch slices of about _CHUNK_BYTES each (an even count when more than one)."""
    count = -(-n * max(per_sample, 1) // _CHUNK_BYTES)
    count = min(n, count + count % 2) if count > 1 else 1
    step = -(-n // count) if n else 1
    return [slice(s, min(n, s + step)) for s in range(0, n, step)]


def _blas_controller():
    """threadpoolctl's controller of the BLAS libraries (cached per process), or None."""
    pid = os.getpid()
    if pid not in _blas_state:
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:
            _blas_state[pid] = None
        else:
            _blas_state[pid] = ThreadpoolController().select(user_api="blas")
    return _blas_state[pid]


def _thread_count() -> int:
    """Worker threads for chunks: _FORCE_THREADS if set, else BLAS's current thread count."""
    if _FORCE_THREADS:
        return _FORCE_THREADS
    blas = _blas_controller()
    return 1 if blas is None else max([c.num_threads for c in blas.lib_controllers] or [1])


def _map_chunks(fn, chunks: list) -> list:
    """[fn(c) for c in chunks], on ``_thread_count()`` threads (the caller included) when > 1.

    Threads pull chunks off a shared counter, so a stalled worker cannot hold up the
    call; helpers that never started are cancelled. Meanwhile BLAS runs single-threaded.
    One parallel call at a time: a concurrent caller (another Python thread) runs serially.
    """
    threads = min(_thread_count(), len(chunks))
    if threads < 2 or not _pool_lock.acquire(blocking=False):
        # one BLAS thread even here: a multi-threaded call leaves OpenBLAS workers spinning
        # (~0.1 s), which then compete with the next call's chunk threads for the cores
        return single_blas(lambda: [fn(c) for c in chunks])
    try:
        key = (os.getpid(), threads)  # a forked child must not reuse the parent's threads
        if key not in _executors:
            _executors[key] = ThreadPoolExecutor(threads - 1, thread_name_prefix="convolve-conv")
        return single_blas(lambda: _pull_chunks(_executors[key], threads - 1, fn, chunks))
    finally:
        _pool_lock.release()


def _pull_chunks(executor, helpers: int, fn, chunks: list) -> list:
    """Run fn on every chunk from this thread and ``helpers`` executor threads."""
    results, errors = [None] * len(chunks), []
    counter, lock = iter(range(len(chunks))), threading.Lock()

    def work():
        while not errors:
            with lock:
                i = next(counter, None)
            if i is None:
                return
            try:
                results[i] = fn(chunks[i])
            except Exception as exc:  # noqa: BLE001 - re-raised by the caller
                errors.append(exc)

    futures = [executor.submit(work) for _ in range(helpers)]
    work()
    for f in futures:
        if not f.cancel():
            f.result()
    if errors:
        raise errors[0]
    return results


def _blas_libs() -> list:
    """The BLAS lib controllers (set_num_threads costs ~2 us, threadpoolctl.limit ~13 us)."""
    blas = _blas_controller()
    return [] if blas is None else blas.lib_controllers


# -------------------------------------------------------------- convolution
class ConvNd(Function):
    """Fused 1-D/2-D grouped convolution with bias and padding (see the module docstring).

    1-D is 2-D with H = 1 and unbatched input gets N = 1 (views only). Arguments are
    normalised by the callers: stride, dilation (sh, sw); pads ((lo, hi), (lo, hi)).
    """

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
                groups=1, mode="zeros"):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x4, w4 = _as_4d(x, w.ndim - 2), _as_4d(w, w.ndim - 2)
        keep = ctx.parents is not None and ctx.needs_input_grad[1]  # recording a weight grad
        ctx.winograd = _winograd_engine(w4.shape, stride, dilation, groups, mode) \
            if w4.shape[1] >= _WINOGRAD_MIN_C else None
        if ctx.winograd is not None:
            res = ctx.winograd.forward(x4, w4, b, pads, _map_chunks, _thread_count())
            ctx.geom = pads
            ctx.save_for_backward(x4 if keep else None, w4)
            return res.reshape(_out_shape(x.shape, w.ndim - 2, *res.shape[1:]))
        ctx.channel_major = w4.shape[1] * w4.shape[3] < _MIN_GATHER_RUN
        fwd = _forward_cm if ctx.channel_major else _forward_nhwc
        res, saved = fwd(x4, w4, b, stride, pads, dilation, groups, mode, keep)
        ctx.geom = (stride, pads, dilation, groups, mode, x4.shape)
        ctx.save_for_backward(saved, w4)
        return res.reshape(_out_shape(x.shape, w.ndim - 2, *res.shape[1:]))

    @staticmethod
    def backward(ctx, g):
        saved, w4 = ctx.saved
        nx, nw, nb = (list(ctx.needs_input_grad) + [False])[:3]
        g4 = _as_4d(g, len(ctx.w_shape) - 2)
        gb = g4.sum(axis=(0, 2, 3)) if nb else None
        if not (nx or nw):
            return None, None, gb
        if ctx.winograd is not None:
            gx, gw = ctx.winograd.backward(g4, saved, w4, ctx.geom, nx, nw, _map_chunks,
                                           _thread_count())
        else:
            bwd = _backward_cm if ctx.channel_major else _backward_nhwc
            gx, gw = bwd(g4, saved, w4, nx, nw, *ctx.geom)
        return (None if gx is None else gx.reshape(ctx.x_shape)), \
            (None if gw is None else gw.reshape(ctx.w_shape)), gb


def _winograd_engine(w_shape, stride, dilation, groups, mode):
    """The ``_winograd`` module when it handles this conv (and Numba imports), else None."""
    global _WINOGRAD
    if not _USE_WINOGRAD or not (tuple(w_shape[2:]) == (3, 3) and tuple(stride) == (1, 1)
                                 and tuple(dilation) == (1, 1) and groups == 1
                                 and mode == "zeros"):
        return None
    if _WINOGRAD is None:
        try:
            from . import _winograd as engine
        except ImportError:  # Numba missing: im2col handles every conv
            engine = False
        _WINOGRAD = engine
    return _WINOGRAD or None


def _as_4d(a: np.ndarray, nd: int) -> np.ndarray:
    """View (N, C, L) / (C, L) / (N, C, H, W) / (C, H, W) as (N, C, H, W)."""
    if nd == 1:
        a = a[..., None, :]
    return a if a.ndim == 4 else a[None]


def _out_shape(x_shape: tuple, nd: int, o: int, oh: int, ow: int) -> tuple:
    spatial = (ow,) if nd == 1 else (oh, ow)
    batch = x_shape[:1] if len(x_shape) == nd + 2 else ()
    return batch + (o,) + spatial


def _sum_partials(parts: list):
    if not parts or parts[0] is None:
        return None  # in chunk order; partials are fresh arrays, so add into the first
    return functools.reduce(lambda a, b: np.add(a, b, out=a), parts)


# ------------------------------------------------------------ NHWC columns
def _forward_nhwc(x4, w4, b, stride, pads, dilation, groups, mode, keep):
    """Output (N, O, OH, OW) from NHWC column blocks (rows: positions, cols: kH, kW, Cg).

    Also returns the padded NHWC input when ``keep`` (the weight gradient needs it).
    """
    (n, c, h, w), (o, _, kh, kw) = x4.shape, w4.shape
    oh, ow = _out_hw((h, w), (kh, kw), stride, pads, dilation)
    wa = _weight_cols(w4, groups)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)
    bias = None if b is None else b.reshape(1, groups, o // groups, 1, 1)
    (lh, hh), (lw, hw) = pads
    full = np.empty((n, h + lh + hh, w + lw + hw, c), dtype=x4.dtype) if keep else None

    def chunk(sl):
        xp = _nhwc_padded(x4[sl], pads, mode, None if full is None else full[sl])
        cols = _gather(_nhwc_windows(xp, (kh, kw), stride, dilation, groups), "cols")
        if o // groups < _PER_SAMPLE_MAX_O:  # W cols^T per sample: NCHW output, no copy
            m = sl.stop - sl.start
            dst = res[sl].reshape(m, groups, o // groups, oh * ow)
            np.matmul(wa.transpose(0, 2, 1), cols.reshape(m, oh * ow, groups, -1)
                      .transpose(0, 2, 3, 1), out=dst)
            if b is not None:
                dst += b.reshape(groups, o // groups, 1)
            return
        out = np.matmul(cols.transpose(1, 0, 2), wa)  # (G, m*OH*OW, Og)
        out = out.reshape(groups, -1, oh, ow, o // groups).transpose(1, 0, 4, 2, 3)
        _blocked_copy(res[sl].reshape(out.shape), out, 2, bias)

    _map_chunks(chunk, _batch_chunks(n, oh * ow * kh * kw * c * x4.itemsize))
    return res, full


def _backward_nhwc(g4, xp_all, w4, nx, nw, stride, pads, dilation, groups, mode, x_shape):
    """(input grad, weight grad) for the NHWC layout; either may be None when not needed."""
    n, o, oh, ow = g4.shape
    c, kh, kw = w4.shape[1] * groups, w4.shape[2], w4.shape[3]
    wa = _weight_cols(w4, groups)
    corr = stride == (1, 1) and mode == "zeros" and o <= c * _CORR_RATIO
    fast = nx and groups == 1 and dilation[1] == 1 and (not corr or c < _NUMBA_MAX_C) \
        and _numba_kernels() is not None
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None

    def chunk(sl):
        m = sl.stop - sl.start
        gs = g4[sl].reshape(m, groups, o // groups, oh * ow)
        part = None
        if nw:  # per-sample GEMMs g cols, summed: no transposed copy of g
            cols = _gather(_nhwc_windows(xp_all[sl], (kh, kw), stride, dilation, groups), "cols")
            cols = cols.reshape(m, oh * ow, groups, -1).transpose(0, 2, 1, 3)
            part = np.matmul(gs, cols).sum(axis=0).transpose(0, 2, 1)  # (G, Kg, Og)
        if nx and fast:
            _input_grad_numba(gs, w4, stride, pads, dilation, mode, gx[sl], oh, ow)
        elif nx:
            gc = _nhwc_grad(g4[sl], groups)  # (m*OH*OW, G, Og)
            if corr:
                _input_grad_corr(gc, w4, pads, dilation, groups, gx[sl], oh, ow)
            else:
                gx[sl] = _input_grad_col2im(gc, wa, w4.shape, stride, pads, dilation, mode,
                                            x_shape, oh, ow)
        return part

    per_sample = oh * ow * kh * kw * c * g4.itemsize  # columns and input-grad columns
    if nx and corr and not fast:  # correlation columns (m*H*W, kH*kW*O)
        per_sample = max(oh * ow, x_shape[2] * x_shape[3]) * kh * kw * max(c, o) * g4.itemsize
    gwa = _sum_partials(_map_chunks(chunk, _batch_chunks(n, per_sample)))
    gw = None if gwa is None else \
        gwa.reshape(groups, kh, kw, -1, o // groups).transpose(0, 4, 3, 1, 2)
    return gx, gw


def _out_hw(hw, kernel, stride, pads, dilation) -> tuple:
    return tuple(conv_output_size(*a) for a in zip(hw, kernel, stride, pads, dilation))


def _nhwc_padded(x4: np.ndarray, pads: tuple, mode: str, out=None) -> np.ndarray:
    """The padded (m, C, H, W) chunk as (m, Hp, Wp, C), in ``out`` or a per-thread work array."""
    (lh, hh), (lw, hw) = pads
    m, c, h, w = x4.shape
    xp = _scratch("xp", (m, h + lh + hh, w + lw + hw, c), x4.dtype) if out is None else out
    if mode != "zeros":
        _blocked_copy(xp, pad_array(x4, pads, mode).transpose(0, 2, 3, 1), 3)
        return xp
    _zero_border(xp, lh, hh, lw, hw)
    _blocked_copy(xp[:, lh:lh + h, lw:lw + w, :], x4.transpose(0, 2, 3, 1), 3)
    return xp


def _zero_border(a: np.ndarray, lh: int, hh: int, lw: int, hw: int) -> None:
    """Zero the padding frame of an (m, Hp, Wp, C) array."""
    a[:, :lh] = 0
    a[:, a.shape[1] - hh:] = 0
    a[:, :, :lw] = 0
    a[:, :, a.shape[2] - hw:] = 0


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


def _gather(wins: np.ndarray, name: str) -> np.ndarray:
    """Copy a window view (m, OH, OW, G, kH, kW, Cg) into columns (m*OH*OW, G, kH*kW*Cg)."""
    cols = _scratch(name, wins.shape, wins.dtype)
    np.copyto(cols, wins)
    m, oh, ow, g = wins.shape[:4]
    return cols.reshape(m * oh * ow, g, -1)


def _weight_cols(w4: np.ndarray, groups: int) -> np.ndarray:
    """Weight (O, Cg, kH, kW) as the GEMM operand (G, kH*kW*Cg, Og)."""
    o, cg, kh, kw = w4.shape
    wa = w4.reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 2, 1)
    return np.ascontiguousarray(wa).reshape(groups, kh * kw * cg, o // groups)


def _nhwc_grad(g4: np.ndarray, groups: int) -> np.ndarray:
    """Output-gradient chunk (m, O, OH, OW) as contiguous (m*OH*OW, G, Og)."""
    m, o, oh, ow = g4.shape
    gc = _scratch("gc", (m, oh, ow, groups, o // groups), g4.dtype)
    _blocked_copy(gc, g4.reshape(m, groups, o // groups, oh, ow).transpose(0, 3, 4, 1, 2), 4)
    return gc.reshape(m * oh * ow, groups, o // groups)


def _blocked_copy(dst: np.ndarray, src: np.ndarray, axis: int, add=None) -> None:
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


def _input_grad_col2im(gc, wa, w_shape, stride, pads, dilation, mode, x_shape, oh, ow):
    """dcol = W g^T (one batched GEMM), col2im over kernel offsets only, unpad; (m, C, H, W)."""
    groups = wa.shape[0]
    _, cg, kh, kw = w_shape
    m = gc.shape[0] // (oh * ow)
    dcol = np.matmul(wa, gc.transpose(1, 2, 0))  # (G, kH*kW*Cg, m*OH*OW)
    dcol = dcol.reshape(groups, kh, kw, cg, m, oh, ow).transpose(4, 0, 3, 5, 6, 1, 2)
    shape = (m, groups, cg) + tuple(np.add(x_shape[2:], [sum(p) for p in pads]))
    dxp = accumulate_windows(dcol, np.zeros(shape, dtype=gc.dtype), stride, dilation)
    return unpad_array(dxp.reshape(m, groups * cg, *shape[3:]), pads, mode)


def _input_grad_numba(gs, w4, stride, pads, dilation, mode, out, oh, ow):
    """Ungrouped input gradient: dcol = g^T W per sample (rows: positions, cols: kH, kW, C),
    then the Numba col2im onto the padded NHWC gradient; writes the (m, C, H, W) result
    into out. gs is the (m, 1, O, OH*OW) gradient chunk."""
    _, c, kh, kw = w4.shape
    m, _, h, w = out.shape
    (lh, hh), (lw, hw) = pads
    dcol = np.matmul(gs[:, 0].transpose(0, 2, 1), _weight_cols(w4, 1)[0].T)  # (m, P, K)
    dxp = _scratch("dxp", (m, h + lh + hh, w + lw + hw, c), gs.dtype)
    _numba_kernels().col2im_nhwc(dcol.reshape(m, oh, ow, kh, kw * c), c, stride[0], stride[1],
                                 dilation[0], dxp.reshape(m, dxp.shape[1], -1))
    dxp = dxp.transpose(0, 3, 1, 2)
    if mode == "zeros":
        _blocked_copy(out, dxp[:, :, lh:lh + h, lw:lw + w], 1)
    else:
        out[...] = unpad_array(dxp, pads, mode)


def _numba_kernels():
    """The ``_conv_kernels`` module, or None when Numba is missing or _USE_NUMBA is off."""
    global _KERNELS
    if not _USE_NUMBA:
        return None
    if _KERNELS is None:
        try:
            from . import _conv_kernels as kernels
        except ImportError:
            kernels = False
        _KERNELS = kernels
    return _KERNELS or None


def _input_grad_corr(gc, w4, pads, dilation, groups, out, oh, ow):
    """Stride-1 input gradient as a full correlation of g with the flipped kernel.

    gc is the (m*OH*OW, G, Og) gradient chunk; writes the (m, C, H, W) result into out.
    """
    o, cg, kh, kw = w4.shape
    m, _, h, w = out.shape
    (lh, _), (lw, _) = pads
    eh, ew = dilation[0] * (kh - 1), dilation[1] * (kw - 1)
    gpad = _scratch("gpad", (m, oh + 2 * eh, ow + 2 * ew, o), gc.dtype)
    _zero_border(gpad, eh, eh, ew, ew)
    gpad[:, eh:eh + oh, ew:ew + ow, :] = gc.reshape(m, oh, ow, o)
    region = gpad[:, lh:lh + h + eh, lw:lw + w + ew, :]
    cols = _gather(_nhwc_windows(region, (kh, kw), (1, 1), dilation, groups, (h, w)), "cols2")
    wf = w4[:, :, ::-1, ::-1].reshape(groups, o // groups, cg, kh, kw).transpose(0, 3, 4, 1, 2)
    wf = wf.reshape(groups, kh * kw * (o // groups), cg)
    dx = np.matmul(cols.transpose(1, 0, 2), wf)  # (G, m*H*W, Cg)
    dx = dx.reshape(groups, m, h, w, cg).transpose(1, 0, 4, 2, 3)
    _blocked_copy(out.reshape(dx.shape), dx, 2)


# --------------------------------------------------- channel-major columns
def _forward_cm(x4, w4, b, stride, pads, dilation, groups, mode, keep):
    """Output (N, O, OH, OW) from channel-major column blocks (rows: Cg, kH, kW).

    Also returns the input when ``keep``: backward re-pads it chunk by chunk.
    """
    (n, c, h, w), (o, _, kh, kw) = x4.shape, w4.shape
    oh, ow = _out_hw((h, w), (kh, kw), stride, pads, dilation)
    wm = w4.reshape(groups, o // groups, -1)
    res = np.empty((n, o, oh, ow), dtype=x4.dtype)

    def chunk(sl):
        m = sl.stop - sl.start
        wins = sliding_windows(pad_array(x4[sl], pads, mode), (kh, kw), stride, dilation)
        cols = _gather_cm(wins, groups).reshape(groups, -1, m, oh * ow).transpose(2, 0, 1, 3)
        dst = res[sl].reshape(m, groups, o // groups, oh * ow)
        np.matmul(wm, cols, out=dst)  # per-sample GEMMs straight into the NCHW output
        if b is not None:
            dst += b.reshape(groups, o // groups, 1)

    _map_chunks(chunk, _batch_chunks(n, oh * ow * kh * kw * c * x4.itemsize))
    return res, (x4 if keep else None)


def _backward_cm(g4, x4, w4, nx, nw, stride, pads, dilation, groups, mode, x_shape):
    """(input grad, weight grad) for the channel-major layout (input grad by col2im)."""
    n, o, oh, ow = g4.shape
    kernel = w4.shape[2:]
    wm = w4.reshape(groups, o // groups, -1)
    gx = np.empty(x_shape, dtype=g4.dtype) if nx else None
    padded = (x_shape[1],) + tuple(np.add(x_shape[2:], [sum(p) for p in pads]))

    def chunk(sl):
        m = sl.stop - sl.start
        gs = g4[sl].reshape(m, groups, o // groups, oh * ow)  # per-sample GEMMs: no transpose
        part = None
        if nw:
            wins = sliding_windows(pad_array(x4[sl], pads, mode), kernel, stride, dilation)
            cols = _gather_cm(wins, groups).reshape(groups, -1, m, oh * ow)
            part = np.matmul(gs, cols.transpose(2, 0, 3, 1)).sum(axis=0)  # (G, Og, Kg)
        if nx:
            dcol = np.matmul(wm.transpose(0, 2, 1), gs)  # (m, G, Cg*kH*kW, OH*OW)
            dcol = dcol.reshape(m, -1, *kernel, oh, ow)
            kernels = _numba_kernels()
            if kernels is None:
                dxp = accumulate_windows(dcol.transpose(0, 1, 4, 5, 2, 3),
                                         np.zeros((m,) + padded, dtype=g4.dtype), stride, dilation)
            else:
                dxp = _scratch("dxp", (m,) + padded, g4.dtype)
                kernels.col2im_nchw(dcol, *stride, *dilation, dxp)
            gx[sl] = unpad_array(dxp, pads, mode)
        return part

    per_sample = oh * ow * max(wm.shape[0] * wm.shape[2], o) * g4.itemsize
    return gx, _sum_partials(_map_chunks(chunk, _batch_chunks(n, per_sample)))


def _gather_cm(wins: np.ndarray, groups: int) -> np.ndarray:
    """Copy windows (m, C, OH, OW, kH, kW) into channel-major (G, Cg*kH*kW, m*OH*OW) columns."""
    m, c, oh, ow, kh, kw = wins.shape
    cols = _scratch("cols", (c, kh, kw, m, oh, ow), wins.dtype)
    np.copyto(cols.transpose(3, 0, 4, 5, 1, 2), wins)
    return cols.reshape(groups, c // groups * kh * kw, m * oh * ow)
