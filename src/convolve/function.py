"""The Function base class: forward and backward of one differentiable op, side by side.

A Function subclass implements two static methods on plain NumPy arrays::

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved
            return grad * y

``Exp.apply(t)`` unwraps Tensor arguments to arrays, runs ``forward`` and, when
gradients are being recorded and some Tensor argument requires them, links the
result into the graph. ``backward`` returns one gradient (or None) per
positional argument of ``forward``; gradients for non-Tensor arguments are
ignored. Keyword arguments are passed through to ``forward`` untouched.
"""

from __future__ import annotations

import numpy as np

from . import grad_mode
from .tensor import Tensor


class Context:
    """Per-call storage shared by ``forward`` and ``backward``."""

    __slots__ = ("__dict__", "fn", "needs_input_grad", "parents", "saved")

    def __init__(self, fn, parents, needs_input_grad):
        self.fn = fn
        self.parents = parents
        self.needs_input_grad = needs_input_grad
        self.saved = ()

    def save_for_backward(self, *arrays):
        self.saved = arrays


class Function:
    """Base class of every differentiable op (see module docstring)."""

    @staticmethod
    def forward(ctx, *args, **kwargs):  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def backward(ctx, grad):  # pragma: no cover - abstract
        raise NotImplementedError

    @classmethod
    def apply(cls, *args, **kwargs):
        arrays = []
        needs = []
        record = False
        for a in args:
            if isinstance(a, Tensor):
                arrays.append(a.data)
                rg = a.requires_grad
                needs.append(rg)
                record = record or rg
            else:
                arrays.append(a)
                needs.append(False)
        record = record and grad_mode.is_grad_enabled()
        ctx = Context(cls, args if record else None, needs)
        out = cls.forward(ctx, *arrays, **kwargs)
        result = Tensor.__new__(Tensor)
        result.data = out if isinstance(out, np.ndarray) else np.asarray(out)
        result.grad = None
        result.requires_grad = record
        result._ctx = ctx if record else None
        return result
