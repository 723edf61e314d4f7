"""ONNX selection and comparison ops for the importer: Where, Max/Min (variadic),
GatherElements, and the comparisons (Equal, Less, Greater, ...). They appear in the
function-body expansions of activations and losses (e.g. NegativeLogLikelihoodLoss).

Comparisons give boolean arrays (no gradient). Where, Max, Min and GatherElements are
differentiable Functions with exact backward passes (Max/Min send the gradient to the
first operand on ties).
"""

from __future__ import annotations

import numpy as np

from ._onnx_ops import OPS, arr, as_tensor, op
from .function import Function
from .tensor import Tensor, unbroadcast


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.meta = (cond, a.shape, b.shape)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        cond, sa, sb = ctx.meta
        zero = np.zeros((), dtype=g.dtype)
        return None, unbroadcast(np.where(cond, g, zero), sa), \
            unbroadcast(np.where(cond, zero, g), sb)


def _where(cond, a, b):
    if isinstance(a, Tensor) or isinstance(b, Tensor):
        return Where.apply(np.asarray(cond, dtype=bool), as_tensor(a, b), as_tensor(b, a))
    return np.where(cond, a, b)


@op("Where")
def _where_op(c, cond, a, b):
    return _where(arr(cond), a, b)


def _extremum(pick):
    def run(c, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = _where(pick(arr(out), arr(x)) | np.isnan(arr(out)), out, x)
        return out
    return run


OPS.update(Max=_extremum(np.greater_equal), Min=_extremum(np.less_equal))

_COMPARE = {"Equal": np.equal, "Less": np.less, "Greater": np.greater,
            "LessOrEqual": np.less_equal, "GreaterOrEqual": np.greater_equal}


def _compare(fn):
    return lambda c, a, b: fn(arr(a), arr(b))


OPS.update({name: _compare(fn) for name, fn in _COMPARE.items()})
OPS["Not"] = lambda c, a: np.logical_not(arr(a))


class GatherElements(Function):
    @staticmethod
    def forward(ctx, x, index=None, axis=0):
        ctx.meta = (x.shape, index, axis)
        return np.take_along_axis(x, index, axis=axis)

    @staticmethod
    def backward(ctx, g):
        shape, index, axis = ctx.meta
        out = np.zeros(shape, dtype=g.dtype)
        grid = list(np.indices(index.shape, sparse=True))
        grid[axis] = index
        np.add.at(out, tuple(grid), g)
        return out


@op("GatherElements")
def _gather_elements(c, x, indices):
    axis = c.a("axis", 0) % arr(x).ndim
    idx = arr(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + arr(x).shape[axis], idx)
    if isinstance(x, Tensor):
        return GatherElements.apply(x, index=idx, axis=axis)
    return np.take_along_axis(x, idx, axis=axis)
