"""Elementwise ops and activations: arithmetic with broadcasting, exp/log/sqrt, relu, gelu ...

Broadcast gradients are reduced back to each input's shape by the engine
(``autograd.unbroadcast``), so backward methods return full-shape gradients.
"""

from __future__ import annotations

import math

import numpy as np

from .. import dtypes
from ..function import Function
from ..tensor import Tensor
from ._backend import load as _load_kernels
from ._util import check_float

_KERNEL_MIN_SIZE = 4096  # smaller arrays: NumPy's call overhead is no worse


# ------------------------------------------------------------------ arithmetic
class Add(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.add(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, g


class Sub(Function):
    @staticmethod
    def forward(ctx, a, b):
        return np.subtract(a, b)

    @staticmethod
    def backward(ctx, g):
        return g, (-g if ctx.needs_input_grad[1] else None)


class Mul(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.multiply(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        return (g * b if na else None), (g * a if nb else None)


class Div(Function):
    @staticmethod
    def forward(ctx, a, b):
        ctx.save_for_backward(a, b)
        return np.divide(a, b)

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = g / b if na else None
        gb = -g * a / (b * b) if nb else None
        return ga, gb


class Pow(Function):
    @staticmethod
    def forward(ctx, a, b):
        out = np.power(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        ga = gb = None
        if na:  # 0 where the exponent is 0, even at a == 0 (PyTorch's rule), not 0 * inf
            with np.errstate(divide="ignore", invalid="ignore"):
                ga = g * np.where(b == 0, 0, b * np.power(a, b - 1))
        if nb:
            with np.errstate(divide="ignore", invalid="ignore"):
                gb = g * out * np.where(a > 0, np.log(np.where(a > 0, a, 1)), 0)
        return ga, gb


class Neg(Function):
    @staticmethod
    def forward(ctx, a):
        return np.negative(a)

    @staticmethod
    def backward(ctx, g):
        return -g


class Cast(Function):
    @staticmethod
    def forward(ctx, a, dtype=None):
        ctx.src = a.dtype
        return a.astype(dtype)

    @staticmethod
    def backward(ctx, g):
        return g.astype(ctx.src)


def _operand(x, other):
    """Turn a non-Tensor operand into something that keeps the Tensor's dtype.

    Python scalars stay Python scalars (NumPy 2 treats them as weak types);
    arrays and NumPy scalars become arrays of the tensor's floating dtype.
    """
    if isinstance(x, (Tensor, int, float)) and not isinstance(x, np.generic):
        return x  # Python bools too: NumPy and PyTorch treat them as weak bool scalars
    dt = other.data.dtype if isinstance(other, Tensor) else None
    return np.asarray(x, dtype=dt if dt is not None and dt.kind == "f" else None)


def _to(x, dt):
    if isinstance(x, Tensor):
        return x if x.data.dtype == dt else cast(x, dt)
    if isinstance(x, np.ndarray) and x.dtype != dt:
        return x.astype(dt)
    return x


def _promote(a, b, true_div: bool):
    """Cast both operands to PyTorch's result dtype (``dtypes.result_type``)."""
    if isinstance(a, Tensor) and a.data.dtype.kind == "f" and (
            type(b) in (int, float) or (isinstance(b, Tensor) and b.data.dtype == a.data.dtype)):
        return a, b  # the common cases: nothing to promote
    if isinstance(b, Tensor) and b.data.dtype.kind == "f" and type(a) in (int, float):
        return a, b
    arrays = [x.data if isinstance(x, Tensor) else x for x in (a, b)]
    dt = dtypes.result_type(*arrays)
    if true_div and dt.kind not in "fc":
        dt = dtypes.DEFAULT_FLOAT
    return _to(a, dt), _to(b, dt)


def _binary(fn, a, b, true_div: bool = False):
    a, b = _promote(_operand(a, b), _operand(b, a), true_div)
    return fn.apply(a, b)


def add(a, b):
    return _binary(Add, a, b)


def sub(a, b):
    return _binary(Sub, a, b)


def mul(a, b):
    return _binary(Mul, a, b)


def div(a, b):
    return _binary(Div, a, b, true_div=True)


def pow(a, b):
    return _binary(Pow, a, b)


class _Extremum2(Function):
    """maximum/minimum of two tensors; on ties each side gets half the gradient (PyTorch)."""

    pick = None

    @classmethod
    def forward(cls, ctx, a, b):
        out = cls.pick(a, b)
        ctx.save_for_backward(a, b, out)
        return out

    @staticmethod
    def backward(ctx, g):
        a, b, out = ctx.saved
        na, nb = ctx.needs_input_grad
        dt = g.dtype
        tie = (a == b).astype(dt) * dt.type(0.5)
        ga = g * ((a == out).astype(dt) - tie) if na else None
        gb = g * ((b == out).astype(dt) - tie) if nb else None
        return ga, gb


class Maximum(_Extremum2):
    pick = staticmethod(np.maximum)


class Minimum(_Extremum2):
    pick = staticmethod(np.minimum)


def maximum(a, b):
    """Elementwise maximum of two tensors (torch.maximum; NaN propagates)."""
    return _binary(Maximum, a, b)


def minimum(a, b):
    """Elementwise minimum of two tensors (torch.minimum; NaN propagates)."""
    return _binary(Minimum, a, b)


def neg(a):
    return Neg.apply(a)


def cast(a, dtype):
    dtype = np.dtype(dtype)
    if a.data.dtype == dtype:
        return a
    if dtype.kind != "f":  # an integer or bool result has no gradient, as in PyTorch
        return Tensor(a.data, dtype=dtype)
    return Cast.apply(a, dtype=dtype)


# ------------------------------------------------------------------ unary math
class Exp(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.exp(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


class Log(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.log(a)

    @staticmethod
    def backward(ctx, g):
        return g / ctx.saved[0]


class Sqrt(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.sqrt(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        return g / (2 * ctx.saved[0])


class Abs(Function):
    @staticmethod
    def forward(ctx, a):
        ctx.save_for_backward(a)
        return np.abs(a)

    @staticmethod
    def backward(ctx, g):
        return g * np.sign(ctx.saved[0])


class Clip(Function):
    @staticmethod
    def forward(ctx, a, lo=None, hi=None):
        mask = np.ones(a.shape, dtype=bool)
        if lo is not None:
            mask &= a >= lo
        if hi is not None:
            mask &= a <= hi
        ctx.save_for_backward(mask)
        return np.clip(a, lo, hi)

    @staticmethod
    def backward(ctx, g):
        return g * ctx.saved[0]


def exp(x):
    return Exp.apply(x)


def log(x):
    return Log.apply(x)


def sqrt(x):
    return Sqrt.apply(x)


def abs(x):
    return Abs.apply(x)


def clip(x, min=None, max=None):
    """Clamp to [min, max]; the gradient passes where min <= x <= max (as PyTorch)."""
    if min is None and max is None:
        raise ValueError("clip: at least one of min and max must be given, received both None")
    return Clip.apply(x, lo=min, hi=max)


clamp = clip


# ----------------------------------------------------------------- activations
class ReLU(Function):
    """max(x, 0); the gradient passes where x > 0 or x is NaN (PyTorch's rule: not x <= 0).
    Saves a one-byte mask for backward.

    Large contiguous inputs go through the compiled loops (``_backend.load("loops")``) once they are
    loaded (same results, one pass instead of two or three)."""

    @staticmethod
    def forward(ctx, a):
        nb = _load_kernels("loops") if a.size >= _KERNEL_MIN_SIZE and a.flags.c_contiguous \
            else None
        if nb is None:
            out = np.maximum(a, 0)
            mask = ~np.less_equal(a, 0) if ctx.parents is not None else None  # recording
        else:
            out = np.empty_like(a)
            mask = np.empty(a.shape, dtype=bool)
            nb.relu_forward(a.reshape(-1), out.reshape(-1), mask.reshape(-1))
        ctx.save_for_backward(mask)
        return out

    @staticmethod
    def backward(ctx, g):
        (mask,) = ctx.saved
        nb = _load_kernels("loops") if g.size >= _KERNEL_MIN_SIZE and g.flags.c_contiguous \
            else None
        if nb is None:
            return g * mask
        out = np.empty_like(g)
        nb.relu_backward(g.reshape(-1), mask.reshape(-1).view(np.uint8), out.reshape(-1))
        return out


class LeakyReLU(Function):
    @staticmethod
    def forward(ctx, a, slope=0.01):
        pos = a > 0
        ctx.save_for_backward(pos)
        ctx.slope = slope
        return np.where(pos, a, a * slope)

    @staticmethod
    def backward(ctx, g):
        return np.where(ctx.saved[0], g, g * ctx.slope)


class Sigmoid(Function):
    @staticmethod
    def forward(ctx, a):
        # stable for both signs: exp of a non-positive number only
        e = np.exp(-np.abs(a))
        out = np.where(a >= 0, 1 / (1 + e), e / (1 + e)).astype(a.dtype, copy=False)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        s = ctx.saved[0]
        return g * s * (1 - s)


class Tanh(Function):
    @staticmethod
    def forward(ctx, a):
        out = np.tanh(a)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, g):
        t = ctx.saved[0]
        return g * (1 - t * t)


def _erf(x):
    from scipy.special import erf  # scipy is imported lazily: only gelu needs it

    return erf(x)


class GELU(Function):
    @staticmethod
    def forward(ctx, a, approximate="none"):
        ctx.save_for_backward(a)
        ctx.approximate = approximate
        if approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            return 0.5 * a * (1 + np.tanh(k * (a + 0.044715 * a**3)))
        return (0.5 * a * (1 + _erf(a / math.sqrt(2)))).astype(a.dtype, copy=False)

    @staticmethod
    def backward(ctx, g):
        (a,) = ctx.saved
        if ctx.approximate == "tanh":
            k = math.sqrt(2 / math.pi)
            inner = k * (a + 0.044715 * a**3)
            t = np.tanh(inner)
            d = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * k * (1 + 3 * 0.044715 * a * a)
            return g * d
        cdf = 0.5 * (1 + _erf(a / math.sqrt(2)))
        pdf = np.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)
        return (g * (cdf + a * pdf)).astype(a.dtype, copy=False)


def relu(x):
    return ReLU.apply(x)


def leaky_relu(x, negative_slope: float = 0.01):
    return LeakyReLU.apply(x, slope=negative_slope)


def sigmoid(x):
    return Sigmoid.apply(x)


def tanh(x):
    return Tanh.apply(x)


def gelu(x, approximate: str = "none"):
    """Gaussian error linear unit; ``approximate`` is 'none' (erf) or 'tanh', as in PyTorch."""
    if approximate not in ("none", "tanh"):
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh', received {approximate!r}")
    check_float("gelu", x)
    return GELU.apply(x, approximate=approximate)
