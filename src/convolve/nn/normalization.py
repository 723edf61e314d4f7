"""GroupNorm, LayerNorm and channel dropout (Dropout1d, Dropout2d), with PyTorch's
arguments, defaults, parameters and state_dict keys."""

from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..functional.per_sample import normalized_shape_tuple
from .module import Module, Parameter
from .norm import Dropout

__all__ = ["Dropout1d", "Dropout2d", "GroupNorm", "LayerNorm"]


def _check_eps(layer: str, eps) -> None:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0:
        raise ValueError(f"{layer}: eps must be a non-negative number, received eps={eps!r}")


def _positive_int(layer: str, arg: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{layer}: {arg} must be a positive int, received {arg}={value!r}")
    return int(value)


def _affine_parameters(layer, name: str, shape: tuple, affine: bool, bias, device,
                       dtype) -> None:
    """weight (ones) and bias (zeros, or None when bias=False) of ``shape``, or both None."""
    if device is not None and str(getattr(device, "type", device)) != "cpu":
        raise ValueError(f"{name}: convolve runs on the CPU only, received device={device!r}; "
                         f"use device='cpu' or leave it out")
    dtype = np.dtype(np.float32 if dtype is None else dtype)
    layer.weight = Parameter(np.ones(shape, dtype=dtype)) if affine else None
    layer.bias = Parameter(np.zeros(shape, dtype=dtype)) if affine and bias else None
    for key in ("weight", "bias"):
        if getattr(layer, key) is None:
            layer.register_parameter(key, None)


def _reset(layer) -> None:
    if layer.weight is not None:
        layer.weight.data[...] = 1
    if layer.bias is not None:
        layer.bias.data[...] = 0


class GroupNorm(Module):
    """Normalise each sample's ``num_groups`` groups of channels of (N, C, *) input, then an
    optional per-channel affine map: weight (C,) starts at 1, bias (C,) at 0."""

    def __init__(self, num_groups: int, num_channels: int, eps: float = 1e-5,
                 affine: bool = True, device=None, dtype=None, *, bias: bool = True):
        super().__init__()
        self.num_groups = _positive_int("GroupNorm", "num_groups", num_groups)
        self.num_channels = _positive_int("GroupNorm", "num_channels", num_channels)
        if self.num_channels % self.num_groups:
            raise ValueError(f"GroupNorm: num_channels must be divisible by num_groups, "
                             f"received num_channels={num_channels}, num_groups={num_groups}")
        _check_eps("GroupNorm", eps)
        self.eps, self.affine = eps, bool(affine)
        _affine_parameters(self, "GroupNorm", (self.num_channels,), self.affine, bias, device,
                           dtype)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, x):
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"GroupNorm: expected input (N, {self.num_channels}, *) "
                             f"(num_channels={self.num_channels}), received shape "
                             f"{tuple(x.shape)}")
        return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}, "
                f"bias={self.bias is not None}")


class LayerNorm(Module):
    """Normalise over the trailing ``normalized_shape`` axes of the input; with
    elementwise_affine, weight (normalized_shape) starts at 1 and bias (unless bias=False)
    at 0."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.normalized_shape = normalized_shape_tuple("LayerNorm", normalized_shape)
        _check_eps("LayerNorm", eps)
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        _affine_parameters(self, "LayerNorm", self.normalized_shape, self.elementwise_affine,
                           bias, device, dtype)

    def reset_parameters(self) -> None:
        _reset(self)

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")


class Dropout1d(Dropout):
    """Zero whole channels of (N, C, L) or (C, L) input with probability p in training,
    scaling the rest by 1 / (1 - p); identity in eval."""

    def forward(self, x):
        return F.dropout1d(x, self.p, self.training)


class Dropout2d(Dropout):
    """Zero whole channels of (N, C, H, W) input with probability p in training, scaling the
    rest by 1 / (1 - p); identity in eval. As in PyTorch, 3D input is taken as (N, C, L)."""

    def forward(self, x):
        return F.dropout2d(x, self.p, self.training)
