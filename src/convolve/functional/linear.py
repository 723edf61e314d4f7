"""matmul and linear (y = x W^T + b, PyTorch's weight layout (out_features, in_features))."""

from __future__ import annotations

import numpy as np

from .. import _blas
from ..function import Function
from ..tensor import Tensor
from ._util import check_float


def _sum_to(g, shape):
    from ..autograd import unbroadcast

    return unbroadcast(g, shape)


class MatMul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.matmul(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if a.ndim == 1 and b.ndim == 1:
            return (g * b if na else None), (g * a if nb else None)
        a2 = a[None, :] if a.ndim == 1 else a
        b2 = b[:, None] if b.ndim == 1 else b
        g2 = g
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if na:
            ga = _sum_to(np.matmul(g2, np.swapaxes(b2, -1, -2)), a2.shape).reshape(a.shape)
        if nb:
            gb = _sum_to(np.matmul(np.swapaxes(a2, -1, -2), g2), b2.shape).reshape(b.shape)
        return ga, gb


_ONE_THREAD_MACS = (1 << 18, 1 << 24)  # GEMMs of this size (multiply-adds) use one BLAS thread


def _gemm(fn, macs: int):
    """fn() (a GEMM): mid-sized ones on one BLAS thread (see ``_blas.py``); OpenBLAS itself
    runs smaller ones single-threaded, and larger ones gain from its threads."""
    lo, hi = _ONE_THREAD_MACS
    return _blas.single_blas(fn) if lo <= macs < hi else fn()


class Linear(Function):
    """Fused x @ W^T + b over any leading dims of x."""

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        macs = x.size // max(x.shape[-1], 1) * w.size
        y = _gemm(lambda: x @ w.T, macs)
        if b is not None:
            y += b
        return y

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        nx, nw, nb = (ctx.needs_input_grad + [False])[:3]
        g2 = g.reshape(-1, g.shape[-1])
        macs = g2.shape[0] * w.size
        gx = _gemm(lambda: g @ w, macs) if nx else None
        gw = _gemm(lambda: g2.T @ x.reshape(-1, x.shape[-1]), macs) if nw else None
        gb = g2.sum(axis=0) if (ctx.has_bias and nb) else None
        return gx, gw, gb


def matmul(a, b):
    if not isinstance(a, Tensor):
        a = Tensor(a, dtype=b.dtype if isinstance(b, Tensor) else None)
    if not isinstance(b, Tensor):
        b = Tensor(b, dtype=a.dtype)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim, received shapes "
                         f"{a.shape} and {b.shape}")
    ka = a.shape[-1]
    kb = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if ka != kb:
        raise ValueError(f"matmul: inner dimensions differ, received shapes {a.shape} and {b.shape}")
    return MatMul.apply(a, b)


def linear(input, weight, bias=None):
    """y = input @ weight.T + bias. input (*, in_features), weight (out_features, in_features)."""
    check_float("linear", input)
    if weight.ndim != 2:
        raise ValueError(f"linear: weight must be 2-D (out_features, in_features), "
                         f"received shape {tuple(weight.shape)}")
    if input.ndim < 1 or input.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input's last dim must equal in_features={weight.shape[1]}, "
            f"received input shape {tuple(input.shape)}"
        )
    if bias is not None and tuple(bias.shape) != (weight.shape[0],):
        raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), "
                         f"received {tuple(bias.shape)}")
    if bias is None:
        return Linear.apply(input, weight)
    return Linear.apply(input, weight, bias)
