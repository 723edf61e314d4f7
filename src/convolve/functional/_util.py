"""Argument normalisation and validation shared by the functional ops and the layers."""

from __future__ import annotations

import numbers

import numpy as np

from ..tensor import Tensor


def ntuple(value, n: int, op: str, arg: str, minimum: int = 1) -> tuple:
    """Expand an int to an n-tuple and check every entry is an int >= ``minimum``.

    ``_pair`` in PyTorch's terms; the error names the op and the argument.
    """
    if type(value) is int and value >= minimum:  # fast paths: plain ints (no ABC checks)
        return (value,) * n
    if type(value) is tuple and len(value) == n and \
            all(type(v) is int and v >= minimum for v in value):
        return value
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        vals = (int(value),) * n
    elif isinstance(value, (tuple, list)) and len(value) == n:
        vals = tuple(value)
    else:
        raise ValueError(
            f"{op}: {arg} must be an int or a tuple of {n} ints, received {arg}={value!r}"
        )
    for v in vals:
        if not isinstance(v, numbers.Integral) or isinstance(v, bool) or v < minimum:
            raise ValueError(
                f"{op}: {arg} entries must be integers >= {minimum}, received {arg}={value!r}"
            )
    return tuple(int(v) for v in vals)


def check_float(op: str, x) -> None:
    """Raise TypeError unless x is a Tensor (or array) with a floating dtype."""
    dt = x.data.dtype if isinstance(x, Tensor) else np.asarray(x).dtype
    if dt.kind != "f":
        raise TypeError(f"{op}: expected a floating-point input, received dtype {dt}")


def check_ndim(op: str, x, allowed: tuple, what: str) -> None:
    """Raise ValueError unless x.ndim is in ``allowed``; ``what`` describes the layout."""
    nd = x.ndim
    if nd not in allowed:
        raise ValueError(
            f"{op}: expected a {what} input of rank {' or '.join(map(str, allowed))}, "
            f"received shape {tuple(x.shape)}"
        )
