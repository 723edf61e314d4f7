"""Gradient clipping and flat parameter vectors, as in ``torch.nn.utils``: clip_grad_norm_,
clip_grad_value_, get_total_norm, clip_grads_with_norm_, parameters_to_vector,
vector_to_parameters. ``foreach`` is accepted and ignored (one NumPy implementation)."""

from __future__ import annotations

import math
import types
import warnings

import numpy as np

from .. import functional as F
from ..tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "clip_grads_with_norm_",
    "get_total_norm",
    "parameters_to_vector",
    "vector_to_parameters",
]


class NonFiniteNormError(RuntimeError, ValueError):
    """The total gradient norm is nan or inf and error_if_nonfinite=True (a RuntimeError,
    as in PyTorch, and a ValueError)."""


def _params(op: str, parameters) -> list:
    if isinstance(parameters, Tensor):
        return [parameters]
    generator = isinstance(parameters, types.GeneratorType)
    try:
        params = list(parameters)
    except TypeError:
        raise TypeError(f"{op}: parameters must be a Tensor or an iterable of Tensors, "
                        f"received {type(parameters).__name__}") from None
    for i, p in enumerate(params):
        if not isinstance(p, Tensor):
            raise TypeError(f"{op}: parameters[{i}] must be a Tensor, received "
                            f"{type(p).__name__}")
    if generator and not params:
        warnings.warn("`parameters` is an empty generator, no gradient clipping will occur.",
                      stacklevel=3)
    return params


def _grad_arrays(params: list) -> list:
    """The parameters' gradients as arrays (the arrays themselves, for in-place updates)."""
    grads = [p.grad for p in params if p.grad is not None]
    return [g.data if isinstance(g, Tensor) else g for g in grads]


def _real(op: str, arg: str, value) -> float:
    try:
        value = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{op}: {arg} must be a number, received {arg}={value!r}") from None
    if math.isnan(value):
        raise ValueError(f"{op}: {arg} must be a number, received {arg}={value!r}")
    return value


def _vector_norm(x: np.ndarray, p: float):
    """torch.linalg.vector_norm(x, p) of a flat view, in x's dtype."""
    a = np.abs(x.reshape(-1))
    if p == math.inf:
        return a.max(initial=0)
    if p == -math.inf:
        return a.min(initial=math.inf).astype(x.dtype)
    if p == 0:
        return x.dtype.type(np.count_nonzero(a))
    if p == 1:
        return a.sum()
    if p == 2:
        return np.sqrt(np.dot(a, a))
    return (a**p).sum() ** (1 / p)


def get_total_norm(tensors, norm_type: float = 2.0, error_if_nonfinite: bool = False,
                   foreach=None) -> Tensor:
    """The norm of the per-tensor norms (= the norm of all entries together), a 0-d Tensor.

    ``tensors`` are Tensors or arrays (e.g. gradients); an empty list gives tensor(0.).
    """
    tensors = [tensors] if isinstance(tensors, (Tensor, np.ndarray)) else list(tensors)
    arrays = [t.data if isinstance(t, Tensor) else np.asarray(t) for t in tensors]
    norm_type = _real("get_total_norm", "norm_type", norm_type)
    if not arrays:
        return Tensor(np.array(0.0, dtype=np.float32))
    dtype = np.result_type(*arrays)
    norms = np.array([_vector_norm(a, norm_type) for a in arrays], dtype=dtype)
    total = np.asarray(_vector_norm(norms, norm_type), dtype=dtype)
    if error_if_nonfinite and not np.isfinite(total):
        raise NonFiniteNormError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            f"non-finite ({total}), so it cannot be clipped. To disable this error and scale "
            f"the gradients by the non-finite norm anyway, set `error_if_nonfinite=False`")
    return Tensor(total)


def clip_grads_with_norm_(parameters, max_norm: float, total_norm, foreach=None) -> None:
    """Scale every gradient in place by min(1, max_norm / (total_norm + 1e-6))."""
    params = _params("clip_grads_with_norm_", parameters)
    max_norm = _real("clip_grads_with_norm_", "max_norm", max_norm)
    grads = _grad_arrays(params)
    if not grads:
        return
    total = total_norm.data if isinstance(total_norm, Tensor) else np.asarray(total_norm)
    one = total.dtype.type(1)
    coef = one / (total + total.dtype.type(1e-6)) * total.dtype.type(max_norm)  # as torch
    coef = np.minimum(coef, one)
    with np.errstate(invalid="ignore"):  # inf * 0 -> nan, silently as in torch
        for g in grads:
            g *= coef.astype(g.dtype)


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False, foreach=None) -> Tensor:
    """Scale the gradients of ``parameters`` in place so that their total norm (of order
    ``norm_type``, inf for the max-abs norm) is at most ``max_norm``; return the total norm
    before clipping as a 0-d Tensor. Parameters without a gradient are skipped."""
    params = _params("clip_grad_norm_", parameters)
    total = get_total_norm(_grad_arrays(params), norm_type, error_if_nonfinite)
    clip_grads_with_norm_(params, max_norm, total)
    return total


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient of ``parameters`` in place to [-clip_value, clip_value]."""
    params = _params("clip_grad_value_", parameters)
    clip_value = _real("clip_grad_value_", "clip_value", clip_value)
    for g in _grad_arrays(params):
        np.clip(g, -clip_value, clip_value, out=g)


def parameters_to_vector(parameters) -> Tensor:
    """All parameters flattened and concatenated into one 1-D Tensor (differentiable)."""
    params = _params("parameters_to_vector", parameters)
    if not params:
        raise ValueError("parameters_to_vector: expected at least one parameter, received none")
    return F.cat([p.reshape(-1) for p in params], 0)


def vector_to_parameters(vec, parameters) -> None:
    """Copy consecutive slices of the 1-D ``vec`` into the parameters (in place)."""
    params = _params("vector_to_parameters", parameters)
    v = vec.data if isinstance(vec, Tensor) else np.asarray(vec)
    total = sum(p.data.size for p in params)
    if v.ndim != 1 or v.size != total:
        raise ValueError(f"vector_to_parameters: expected a 1-D vector of {total} entries "
                         f"(the parameters' total size), received shape {v.shape}")
    start = 0
    for p in params:
        n = p.data.size
        p.data[...] = v[start:start + n].reshape(p.data.shape)
        start += n
