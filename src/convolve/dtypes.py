"""Dtypes with PyTorch's names and PyTorch's rules for inferring and promoting them.

convolve's dtypes are NumPy dtypes, so ``t.dtype == convolve.float32`` and
``t.dtype == np.float32`` both hold. The rules follow PyTorch 2.13:

- inference (``convolve.tensor(data)``): NumPy arrays and NumPy scalars keep their dtype;
  Python bools become bool, Python ints int64, Python floats float32 (the default dtype);
- promotion (``a + b``): a floating operand wins over an integer one and keeps its own
  width (int64 + float32 -> float32); dimensioned tensors outrank 0-d tensors, which
  outrank Python numbers, unless the lower group brings a higher category (integer ->
  floating); true division of integers gives the default float dtype.
"""

from __future__ import annotations

import builtins

import numpy as np

float16 = half = np.dtype(np.float16)
float32 = np.dtype(np.float32)
float64 = double = np.dtype(np.float64)
uint8 = np.dtype(np.uint8)
int8 = np.dtype(np.int8)
int16 = short = np.dtype(np.int16)
int32 = np.dtype(np.int32)
int64 = long = np.dtype(np.int64)
bool = np.dtype(np.bool_)  # PyTorch's name
float = float32  # torch.float is float32
int = int32  # torch.int is int32
complex64 = cfloat = np.dtype(np.complex64)
complex128 = cdouble = np.dtype(np.complex128)

DEFAULT_FLOAT = float32
_CATEGORY = {"b": 0, "u": 1, "i": 1, "f": 2, "c": 3}


def as_dtype(dtype, arg: str = "dtype") -> np.dtype:
    """Normalise a dtype argument (a NumPy dtype or type, a string, or Python's float/int/bool)."""
    if isinstance(dtype, np.dtype):
        return dtype
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{arg} must be a dtype such as convolve.float32, received {dtype!r}") \
            from None
    if dt.kind not in _CATEGORY:
        raise TypeError(f"{arg} must be a numeric or bool dtype, received {dtype!r}")
    return dt


def is_floating_point(dtype) -> builtins.bool:
    return np.dtype(dtype).kind == "f"


def infer_dtype(arr: np.ndarray, data) -> np.dtype:
    """The dtype PyTorch gives ``tensor(data)``, where ``arr = np.array(data)``."""
    if isinstance(data, (np.ndarray, np.generic)) or hasattr(data, "__array__"):
        return arr.dtype  # arrays and array-likes (a torch tensor) keep their dtype
    kind = arr.dtype.kind
    if kind == "f":
        return DEFAULT_FLOAT
    if kind == "c":
        return complex64
    if kind in "iu":
        return int64
    return arr.dtype


def promote_types(a: np.dtype, b: np.dtype) -> np.dtype:
    """PyTorch's promote_types: the floating (or complex) dtype wins over integers and bool."""
    ca, cb = _CATEGORY[a.kind], _CATEGORY[b.kind]
    if ca == cb:
        return np.promote_types(a, b)
    hi, lo = (a, b) if ca > cb else (b, a)
    if hi.kind == "c" and lo.kind == "f":
        return np.promote_types(hi, lo)
    return hi


def _scalar_dtype(x) -> np.dtype:
    if isinstance(x, builtins.bool):
        return bool
    if isinstance(x, builtins.int):
        return int64
    if isinstance(x, builtins.float):
        return DEFAULT_FLOAT
    return complex64


def _combine(higher, lower):
    """PyTorch's combine_categories: a lower-priority group only matters if it raises the category."""
    if higher is None:
        return lower
    if lower is None:
        return higher
    if higher.kind in "fc" and _CATEGORY[higher.kind] >= _CATEGORY[lower.kind]:
        return higher
    if higher.kind == "b" or _CATEGORY[lower.kind] > _CATEGORY[higher.kind]:
        return promote_types(higher, lower)
    return higher


def result_type(*operands) -> np.dtype:
    """The dtype of an elementwise op on ``operands`` (arrays, or Python numbers)."""
    groups = [None, None, None]  # dimensioned arrays, 0-d arrays, Python numbers
    for x in operands:
        if isinstance(x, (builtins.bool, builtins.int, builtins.float, builtins.complex)):
            g, dt = 2, _scalar_dtype(x)
        else:
            g, dt = (0 if x.ndim else 1), x.dtype
        groups[g] = dt if groups[g] is None else promote_types(groups[g], dt)
    return _combine(groups[0], _combine(groups[1], groups[2]))


class DtypeError(TypeError, RuntimeError):
    """A dtype PyTorch refuses for the operation: a TypeError, and a RuntimeError as in PyTorch."""
