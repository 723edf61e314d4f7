"""The one pad/unpad pair of the library: zero, reflect, replicate and circular padding of
trailing dims (``pad_array``) and its adjoint (``unpad_array``), plus ``pad_nd``, the
differentiable op on Tensors built from them."""

from __future__ import annotations

import itertools

import numpy as np

from ...function import Function

PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _pad_index(n: int, lo: int, hi: int, mode: str) -> np.ndarray:
    """Source index of each padded position for reflect / replicate / circular padding."""
    j = np.arange(-lo, n + hi)
    if mode == "reflect":
        return (n - 1) - np.abs((n - 1) - np.abs(j))
    if mode == "replicate":
        return np.clip(j, 0, n - 1)
    return j % n


def pad_array(x: np.ndarray, pads: tuple, mode: str, out=None) -> np.ndarray:
    """Pad the last len(pads) dims of x by pads = ((lo, hi), ...); returns x itself if no pad.

    mode: 'zeros', 'reflect', 'replicate' or 'circular' (PyTorch's padding modes). With
    ``out`` (zeros mode only) the result is written there (its border zeroed) and returned.
    """
    if not any(lo or hi for lo, hi in pads):
        if out is not None:
            np.copyto(out, x)
            return out
        return x
    first = x.ndim - len(pads)
    inner = (...,) + tuple(slice(lo, lo + n) for n, (lo, _) in zip(x.shape[first:], pads))
    if mode == "zeros":
        if out is None:
            shape = x.shape[:first] + tuple(n + lo + hi
                                            for n, (lo, hi) in zip(x.shape[first:], pads))
            out = np.zeros(shape, dtype=x.dtype)
        else:
            zero_border(out, pads)
        out[inner] = x
        return out
    for axis, (lo, hi) in enumerate(pads, start=first):
        if lo or hi:
            x = np.take(x, _pad_index(x.shape[axis], lo, hi, mode), axis=axis)
    return x


def zero_border(a: np.ndarray, pads: tuple) -> None:
    """Zero the padding frame ((lo, hi), ...) of the trailing len(pads) dims of a, in place."""
    first = a.ndim - len(pads)
    for axis, (lo, hi) in enumerate(pads, start=first):
        pre = (slice(None),) * axis
        a[pre + (slice(0, lo),)] = 0
        a[pre + (slice(a.shape[axis] - hi, a.shape[axis]),)] = 0


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


def check_mode_pads(op: str, mode: str, pads: tuple, sizes: tuple) -> None:
    """Raise ValueError for an unknown padding mode or pads too large for the mode."""
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
        out = pad_array(x, pads, mode)
        return out.copy() if out is x else out

    @staticmethod
    def backward(ctx, g):
        return unpad_array(g, ctx.pads, ctx.mode)


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
    check_mode_pads("pad_nd", mode, pads, tuple(x.shape[x.ndim - k:]))
    return PadND.apply(x, pads=pads, mode=mode)
