"""Tensor constructors with PyTorch's names, call forms and dtype rules: zeros, ones, full,
empty, eye, rand, randn, randint, randperm, arange, linspace, the ``*_like`` forms, from_numpy,
as_tensor; and ``where``. Random values come from convolve's generator
(``convolve.manual_seed``), so they differ from PyTorch's for the same seed."""

from __future__ import annotations

import math
import operator

import numpy as np

from . import device as _device
from . import dtypes
from .function import Function
from .random import get_rng
from .tensor import Tensor, _wrap


class ArgumentError(ValueError, RuntimeError):
    """A bad bound or step (a ValueError, and a RuntimeError as PyTorch raises)."""


def _size(op: str, size) -> tuple:
    """A size given as ints (``zeros(2, 3)``) or one sequence (``zeros((2, 3))``)."""
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        size = tuple(size[0])
    try:
        out = tuple(operator.index(s) for s in size)
    except TypeError:
        raise TypeError(f"{op}: size must be ints or one tuple of ints, received {size!r}") \
            from None
    if any(s < 0 for s in out):
        raise ArgumentError(f"{op}: size entries must be >= 0, received {out}")
    return out


def _size_kw(op: str, size, kw) -> tuple:
    """The size from ``*size`` or the ``size=`` keyword; layout= and pin_memory= are ignored."""
    if "size" in kw:
        if size:
            raise TypeError(f"{op}: size given both positionally and as size=")
        size = (kw.pop("size"),)
    unknown = set(kw) - {"layout", "pin_memory", "generator"}
    if unknown:
        raise TypeError(f"{op}: unexpected keyword arguments {sorted(unknown)}")
    return _size(op, size)


def _finish(op: str, arr, requires_grad=False, device=None) -> Tensor:
    if device is not None:
        _device.check(device, op)
    return _wrap(arr).requires_grad_(requires_grad) if requires_grad else _wrap(arr)


def _dt(dtype, default=dtypes.DEFAULT_FLOAT):
    return default if dtype is None else dtypes.as_dtype(dtype)


def _float_dt(op: str, dtype):
    dt = _dt(dtype)
    if dt.kind != "f":
        raise dtypes.DtypeError(f"{op}: dtype must be floating, received {dt}")
    return dt


def zeros(*size, dtype=None, device=None, requires_grad=False, **kw):
    size = _size_kw("zeros", size, kw)
    return _finish("zeros", np.zeros(size, _dt(dtype)), requires_grad, device)


def ones(*size, dtype=None, device=None, requires_grad=False, **kw):
    size = _size_kw("ones", size, kw)
    return _finish("ones", np.ones(size, _dt(dtype)), requires_grad, device)


def empty(*size, dtype=None, device=None, requires_grad=False, **kw):
    """Like ``zeros`` (convolve never hands out uninitialised memory)."""
    size = _size_kw("empty", size, kw)
    return _finish("empty", np.zeros(size, _dt(dtype)), requires_grad, device)


def full(size, fill_value, *, dtype=None, device=None, requires_grad=False):
    """``size`` filled with ``fill_value``; the dtype follows the value (bool, int64, float32)."""
    if dtype is None:
        dtype = dtypes.infer_dtype(np.asarray(fill_value), fill_value)
    arr = np.full(_size("full", (size,)), fill_value, _dt(dtype))
    return _finish("full", arr, requires_grad, device)


def eye(n, m=None, *, dtype=None, device=None, requires_grad=False):
    return _finish("eye", np.eye(n, n if m is None else m, dtype=_dt(dtype)), requires_grad,
                   device)


def rand(*size, dtype=None, device=None, requires_grad=False, **kw):
    """Uniform on [0, 1)."""
    size = _size_kw("rand", size, kw)
    arr = get_rng().random(size, dtype=_float_dt("rand", dtype))
    return _finish("rand", arr, requires_grad, device)


def randn(*size, dtype=None, device=None, requires_grad=False, **kw):
    """Standard normal."""
    size = _size_kw("randn", size, kw)
    arr = get_rng().standard_normal(size, dtype=_float_dt("randn", dtype))
    return _finish("randn", arr, requires_grad, device)


def randint(*args, size=None, dtype=None, device=None, requires_grad=False, generator=None):
    """Integers uniform on [low, high): randint(high, size) or randint(low, high, size)."""
    if size is None and args and isinstance(args[-1], (tuple, list)):
        args, size = args[:-1], args[-1]
    if size is None or len(args) not in (1, 2):
        raise TypeError(f"randint: expected randint(high, size) or randint(low, high, size), "
                        f"received {len(args)} bounds and size={size!r}")
    low, high = (0, args[0]) if len(args) == 1 else args
    if not high > low:
        raise ArgumentError(f"randint: expected low < high, received low={low}, high={high}")
    arr = get_rng().integers(low, high, _size("randint", (size,)))
    return _finish("randint", arr.astype(_dt(dtype, dtypes.int64)), requires_grad, device)


def randperm(n, *, dtype=None, device=None, requires_grad=False, generator=None):
    """A random permutation of 0..n-1 (int64)."""
    n = operator.index(n)
    if n < 0:
        raise ArgumentError(f"randperm: n must be >= 0, received {n}")
    arr = get_rng().permutation(n).astype(_dt(dtype, dtypes.int64))
    return _finish("randperm", arr, requires_grad, device)


def arange(start, end=None, step=1, *, dtype=None, device=None, requires_grad=False):
    """start, start + step, ... up to but excluding end; int64 when every bound is an int."""
    if end is None:
        start, end = 0, start
    bounds = [b.item() if isinstance(b, Tensor) else b for b in (start, end, step)]
    if bounds[2] == 0 or not (bounds[1] - bounds[0]) * bounds[2] >= 0:
        raise ArgumentError(f"arange: step={step} must be non-zero and go from start={start} "
                         f"towards end={end}")
    ints = all(isinstance(b, (int, np.integer)) for b in bounds)
    dt = _dt(dtype, dtypes.int64 if ints else dtypes.DEFAULT_FLOAT)
    n = math.ceil((bounds[1] - bounds[0]) / bounds[2])
    arr = (bounds[0] + np.arange(n, dtype=np.int64 if ints else np.float64) * bounds[2])
    return _finish("arange", arr.astype(dt), requires_grad, device)


def linspace(start, end, steps, *, dtype=None, device=None, requires_grad=False):
    """``steps`` evenly spaced values from start to end inclusive (PyTorch's symmetric rule)."""
    steps = operator.index(steps)
    if steps < 0:
        raise ValueError(f"linspace: steps must be >= 0, received {steps}")
    step = (end - start) / (steps - 1) if steps > 1 else 0.0
    i = np.arange(steps)
    arr = np.where((i < steps // 2) | (steps == 1), start + step * i, end - step * (steps - 1 - i))
    return _finish("linspace", arr.astype(_dt(dtype)), requires_grad, device)


def _like(fn, x, dtype, kw):
    return fn(*x.shape, dtype=x.dtype if dtype is None else dtype, **kw)


def zeros_like(input, *, dtype=None, **kw):
    return _like(zeros, input, dtype, kw)


def ones_like(input, *, dtype=None, **kw):
    return _like(ones, input, dtype, kw)


def empty_like(input, *, dtype=None, **kw):
    return _like(zeros, input, dtype, kw)


def rand_like(input, *, dtype=None, **kw):
    return _like(rand, input, dtype, kw)


def randn_like(input, *, dtype=None, **kw):
    return _like(randn, input, dtype, kw)


def full_like(input, fill_value, *, dtype=None, **kw):
    return full(tuple(input.shape), fill_value, dtype=input.dtype if dtype is None else dtype,
                **kw)


def from_numpy(ndarray) -> Tensor:
    """A tensor sharing ``ndarray``'s memory (writes to one show in the other)."""
    if not isinstance(ndarray, np.ndarray):
        raise TypeError(f"from_numpy: expected an np.ndarray, received {type(ndarray).__name__}")
    return _wrap(ndarray)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """``data`` as a tensor, without copying when it already is one (or an ndarray) of ``dtype``."""
    if device is not None:
        _device.check(device, "as_tensor")
    dt = None if dtype is None else dtypes.as_dtype(dtype)
    if isinstance(data, Tensor):
        return data if dt is None else data.astype(dt)
    if isinstance(data, np.ndarray) and (dt is None or dt == data.dtype):
        return _wrap(data)
    return Tensor(data, dtype=dt)


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def numel(input) -> int:
    return input.numel()


class Where(Function):
    @staticmethod
    def forward(ctx, cond, a, b):
        ctx.save_for_backward(cond)
        return np.where(cond, a, b)

    @staticmethod
    def backward(ctx, g):
        (cond,) = ctx.saved
        zero = g.dtype.type(0)
        na, nb = ctx.needs_input_grad[1:]
        return None, (np.where(cond, g, zero) if na else None), \
            (np.where(cond, zero, g) if nb else None)


def where(condition, input=None, other=None):
    """``input`` where ``condition`` holds, else ``other`` (broadcast, promoted as PyTorch);
    with ``condition`` alone, the indices of its non-zero entries, one tensor per dim."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if input is None and other is None:
        return tuple(_wrap(i.astype(np.int64)) for i in np.nonzero(cond))
    if cond.dtype != np.bool_:
        raise dtypes.DtypeError(f"where: condition must be a bool tensor, received {cond.dtype}")
    arrays = [x.data if isinstance(x, Tensor) else x for x in (input, other)]
    dt = dtypes.result_type(*(a if isinstance(a, (bool, int, float)) else np.asarray(a)
                              for a in arrays))
    a, b = (x.astype(dt) if isinstance(x, Tensor) else np.asarray(x, dt) for x in (input, other))
    return Where.apply(cond, a, b)
