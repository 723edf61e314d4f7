"""Reductions: sum, mean, max, min over all elements or over given dims."""

from __future__ import annotations

import numpy as np

from ..dtypes import DtypeError
from ..function import Function


def _axes(dim, ndim: int, op: str):
    if dim is None:
        return None
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    out = []
    for d in dims:
        if not isinstance(d, int) or not -ndim <= d < (ndim or 1):  # builtin max is shadowed
            raise ValueError(f"{op}: dim {d!r} is out of range for a tensor of rank {ndim}")
        out.append(d % (ndim or 1))
    return tuple(out)


def _expand(g, shape, axes, keepdim):
    """Reshape a reduced gradient so it broadcasts against the input of ``shape``."""
    if axes is None:
        return np.broadcast_to(np.reshape(g, (1,) * len(shape)), shape)
    if not keepdim:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


class Sum(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.meta = (a.shape, axes, keepdim)
        # integer and bool sums are int64, as in PyTorch (NumPy would keep uint64)
        dt = np.int64 if a.dtype.kind in "biu" else None
        return np.sum(a, axis=axes, keepdims=keepdim, dtype=dt)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand(g, shape, axes, keepdim)


class Mean(Function):
    @staticmethod
    def forward(ctx, a, axes=None, keepdim=False):
        ctx.meta = (a.shape, axes, keepdim)
        ctx.count = a.size if axes is None else int(np.prod([a.shape[i] for i in axes]))
        return np.mean(a, axis=axes, keepdims=keepdim)

    @staticmethod
    def backward(ctx, g):
        shape, axes, keepdim = ctx.meta
        return _expand(g / ctx.count, shape, axes, keepdim)


class _Extremum(Function):
    """max/min: the gradient is shared evenly among tied extrema (PyTorch's amax/amin rule)."""

    reduce = None

    @classmethod
    def forward(cls, ctx, a, axes=None, keepdim=False):
        out = cls.reduce(a, axis=axes, keepdims=True)
        mask = a == out
        ctx.save_for_backward(mask)
        ctx.meta = (a.shape, axes, keepdim)
        return out if keepdim else (out.reshape(()) if axes is None else np.squeeze(out, axes))

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        shape, axes, keepdim = ctx.meta
        count = mask.sum(axis=axes, keepdims=True)
        return _expand(g, shape, axes, keepdim) * mask / count


class Max(_Extremum):
    reduce = staticmethod(np.max)


class Min(_Extremum):
    reduce = staticmethod(np.min)


def _reduce(fn, op, x, dim, keepdim):
    axes = _axes(dim, x.ndim, op)
    if x.size == 0 and fn in (Max, Min):
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
    return fn.apply(x, axes=axes, keepdim=keepdim)


def sum(x, dim=None, keepdim: bool = False):
    return _reduce(Sum, "sum", x, dim, keepdim)


def mean(x, dim=None, keepdim: bool = False):
    if x.data.dtype.kind not in "fc":
        raise DtypeError(f"mean: input dtype must be floating, received {x.data.dtype} "
                         f"(call .float() first, as in PyTorch)")
    return _reduce(Mean, "mean", x, dim, keepdim)


def max(x, dim=None, keepdim: bool = False):
    return _reduce(Max, "max", x, dim, keepdim)


def min(x, dim=None, keepdim: bool = False):
    return _reduce(Min, "min", x, dim, keepdim)
