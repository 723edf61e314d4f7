"""matmul and linear (y = x W^T + b, PyTorch's weight layout (out_features, in_features))."""

from __future__ import annotations

import numpy as np

from .. import _parallel
from ..function import Function
from ..tensor import Tensor
from ._util import check_float


def _sum_to(g, shape):
    from ..tensor import unbroadcast

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


_SPLIT_MACS = 1 << 22  # GEMMs this large are split over the threads (see _parallel.py)
_BLAS_MT_MACS = 1 << 18  # OpenBLAS threads GEMMs from about here; between: one BLAS thread


def _gemms(jobs: list, macs: int) -> None:
    """Run jobs (each computes one block of an output in place): split over the threads
    when the GEMMs are large enough to pay for it, else serially on one BLAS thread."""
    if macs >= _SPLIT_MACS and _parallel.thread_count() > 1:
        _parallel.parallel_map(lambda job: job(), jobs)
    elif macs >= _BLAS_MT_MACS:
        _parallel.single_blas(lambda: [job() for job in jobs])
    else:
        for job in jobs:
            job()


def _blocks(n: int, macs: int) -> list:
    """Row blocks of an n-row output: two per thread for split GEMMs, else one."""
    threads = _parallel.thread_count() if macs >= _SPLIT_MACS else 1
    return _parallel.split(n, 2 * threads if threads > 1 else 1)


def _matmul_into(out, a, b):
    return lambda: np.matmul(a, b, out=out)


class Linear(Function):
    """Fused x @ W^T + b over any leading dims of x.

    Rows of x (and of the weight gradient) are split over the threads for large GEMMs;
    mid-sized ones run on one BLAS thread (a multi-threaded BLAS stalls on a busy machine).
    """

    @staticmethod
    def forward(ctx, x, w, b=None):
        ctx.save_for_backward(x, w)
        ctx.has_bias = b is not None
        x2 = x.reshape(-1, x.shape[-1])
        macs = x2.shape[0] * w.shape[0] * w.shape[1]
        if macs < _BLAS_MT_MACS:
            y = x2 @ w.T
        else:
            y = np.empty((x2.shape[0], w.shape[0]), dtype=np.result_type(x, w))
            _gemms([_matmul_into(y[sl], x2[sl], w.T) for sl in _blocks(len(x2), macs)], macs)
        if b is not None:
            y += b
        return y.reshape(x.shape[:-1] + (w.shape[0],))

    @staticmethod
    def backward(ctx, g):
        x, w = ctx.saved
        nx, nw, nb = (ctx.needs_input_grad + [False])[:3]
        g2 = g.reshape(-1, g.shape[-1])
        x2 = x.reshape(-1, x.shape[-1])
        gx = np.empty(x2.shape, dtype=np.result_type(g, w)) if nx else None
        gw = np.empty(w.shape, dtype=np.result_type(g, x)) if nw else None
        macs = x2.shape[0] * w.shape[0] * w.shape[1]
        jobs = [_matmul_into(gx[sl], g2[sl], w) for sl in _blocks(len(x2), macs)] if nx else []
        if nw:
            jobs += [_matmul_into(gw[sl], g2[:, sl].T, x2) for sl in _blocks(len(w), macs)]
        _gemms(jobs, macs)
        gb = g2.sum(axis=0) if (ctx.has_bias and nb) else None
        return (None if gx is None else gx.reshape(x.shape)), gw, gb


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


def linear(input, weight, bias=None):  # noqa: A002 - PyTorch's name
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
