"""Reductions: sum, mean, amax/amin over all elements or over given dims; max/min as
PyTorch's (all elements, or ``(values, indices)`` over one dim, or elementwise of two)."""

from __future__ import annotations

import builtins
from collections import namedtuple

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


def _dim_alias(dim, axis):
    """PyTorch accepts NumPy's ``axis=`` for ``dim=`` in reductions."""
    if axis is None:
        return dim
    if dim is not None:
        raise TypeError(f"reduction: give dim or axis, not both (received dim={dim!r}, "
                        f"axis={axis!r})")
    return axis


def _tensor(x):
    """Tensors pass; arrays and numbers (e.g. ``out.data``, an ndarray) are wrapped."""
    from ..tensor import Tensor, _wrap

    return x if isinstance(x, Tensor) else _wrap(np.asarray(x))


def _reduce(fn, op, x, dim, keepdim):
    x = _tensor(x)
    axes = _axes(dim, x.ndim, op)
    if x.data.size == 0 and fn in (Max, Min):
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {tuple(x.shape)}")
    return fn.apply(x, axes=axes, keepdim=keepdim)


def sum(x, dim=None, keepdim: bool = False, *, axis=None):
    dim = _dim_alias(dim, axis)
    return _reduce(Sum, "sum", x, dim, keepdim)


def mean(x, dim=None, keepdim: bool = False, *, axis=None):
    dim = _dim_alias(dim, axis)
    x = _tensor(x)
    if x.data.dtype.kind not in "fc":
        raise DtypeError(f"mean: input dtype must be floating, received {x.data.dtype} "
                         f"(call .float() first, as in PyTorch)")
    return _reduce(Mean, "mean", x, dim, keepdim)


def var(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None):
    """Variance over ``dim`` with PyTorch's Bessel ``correction`` (default 1, unbiased;
    ``unbiased=False`` is 0) and its argument order; differentiable, built from other ops."""
    dim = _dim_alias(dim, axis)
    x = _tensor(x)
    if correction is None:
        correction = 1 if unbiased is None else int(bool(unbiased))
    axes = _axes(dim, x.ndim, "var")
    n = x.data.size if axes is None else int(np.prod([x.shape[i] for i in axes]))
    d = x - mean(x, dim, keepdim=True)
    return sum(d * d, dim, keepdim) / builtins.max(n - correction, 0)


def std(x, dim=None, unbiased=None, keepdim: bool = False, *, correction=None, axis=None):
    """Standard deviation: the square root of :func:`var` (same arguments)."""
    return var(x, dim, unbiased, keepdim, correction=correction, axis=axis).sqrt()


def amax(x, dim=None, keepdim: bool = False, *, axis=None):
    """Largest value over ``dim`` (an int, a tuple or None); ties share the gradient evenly."""
    dim = _dim_alias(dim, axis)
    return _reduce(Max, "amax", x, dim, keepdim)


def amin(x, dim=None, keepdim: bool = False, *, axis=None):
    """Smallest value over ``dim`` (an int, a tuple or None); ties share the gradient evenly."""
    dim = _dim_alias(dim, axis)
    return _reduce(Min, "amin", x, dim, keepdim)


# PyTorch's torch.return_types.max / .min: named tuples (values, indices)
max_result = namedtuple("max", ["values", "indices"])
min_result = namedtuple("min", ["values", "indices"])


class TakeAlong(Function):
    """Values of ``a`` at ``idx`` (an index per position along ``axis``, kept as a size-1 dim):
    max/min over a dim. The gradient goes to those indices only."""

    @staticmethod
    def forward(ctx, a, idx=None, axis=0, keepdim=False):
        ctx.meta = (a.shape, axis, idx)
        out = np.take_along_axis(a, idx, axis)
        return out if keepdim else np.squeeze(out, axis)

    @staticmethod
    def backward(ctx, g):
        shape, axis, idx = ctx.meta
        grad = np.zeros(shape, dtype=g.dtype)
        np.put_along_axis(grad, idx, g.reshape(idx.shape), axis)
        return grad


def _extremum(op, all_fn, pick, result, x, dim, keepdim, other_fn):
    from ..tensor import Tensor, _wrap

    if isinstance(dim, Tensor):  # max(a, b): elementwise, as torch.max(input, other)
        return other_fn(x, dim)
    x = _tensor(x)
    if dim is None:
        return _reduce(all_fn, op, x, None, False)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{op}: dim must be an int (use a{op} for several dims), received {dim!r}")
    (axis,) = _axes(int(dim), x.ndim, op)
    if x.ndim == 0:
        return result(_reduce(all_fn, op, x, None, False), _wrap(np.array(0)))
    if x.shape[axis] == 0:
        raise ValueError(f"{op}: cannot reduce over dim {dim} of size 0 (shape {tuple(x.shape)})")
    # the first extremum; NaN counts as the extremum, as in PyTorch
    idx = np.expand_dims(pick(x.data, axis=axis), axis).astype(np.int64, copy=False)
    values = TakeAlong.apply(x, idx=idx, axis=axis, keepdim=bool(keepdim))
    return result(values, _wrap(idx if keepdim else np.squeeze(idx, axis)))


def max(x, dim=None, keepdim: bool = False, *, axis=None):
    """torch.max: the largest element; over an int ``dim``, the named tuple (values, indices);
    with a tensor as second argument, the elementwise maximum."""
    from .elementwise import maximum

    dim = _dim_alias(dim, axis)
    return _extremum("max", Max, np.argmax, max_result, x, dim, keepdim, maximum)


def min(x, dim=None, keepdim: bool = False, *, axis=None):
    """torch.min: the smallest element; over an int ``dim``, the named tuple (values, indices);
    with a tensor as second argument, the elementwise minimum."""
    from .elementwise import minimum

    dim = _dim_alias(dim, axis)
    return _extremum("min", Min, np.argmin, min_result, x, dim, keepdim, minimum)


def _arg(op, pick, x, dim, keepdim):
    from ..tensor import _wrap

    data = _tensor(x).data
    if dim is None:
        out = pick(data.reshape(-1))
        return _wrap(np.full((1,) * data.ndim if keepdim else (), out, dtype=np.int64))
    (axis,) = _axes(dim, data.ndim, op)
    return _wrap(pick(data, axis=axis, keepdims=bool(keepdim)).astype(np.int64))


def argmax(x, dim=None, keepdim: bool = False, *, axis=None):
    """Index of the first largest element (over all elements, flattened, or over ``dim``)."""
    dim = _dim_alias(dim, axis)
    return _arg("argmax", np.argmax, x, dim, keepdim)


def argmin(x, dim=None, keepdim: bool = False, *, axis=None):
    """Index of the first smallest element (over all elements, flattened, or over ``dim``)."""
    dim = _dim_alias(dim, axis)
    return _arg("argmin", np.argmin, x, dim, keepdim)
