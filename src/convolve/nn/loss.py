"""Loss layers: CrossEntropyLoss, NLLLoss, MSELoss, BCEWithLogitsLoss (thin, over the functional).

Class weights and pos_weight are registered as buffers named as in PyTorch, so they appear
in ``state_dict()`` exactly when PyTorch's do.
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..tensor import Tensor
from .module import Module

__all__ = ["BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss", "NLLLoss"]

_REDUCTIONS = ("none", "mean", "sum")


def _reduction(layer: str, reduction) -> str:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{layer}: reduction must be 'none', 'mean' or 'sum', "
                         f"received reduction={reduction!r}")
    return reduction


def _float_buffer(layer: str, name: str, value):
    """A weight argument as a floating ndarray (or None) for register_buffer."""
    if value is None:
        return None
    arr = value.data if isinstance(value, Tensor) else np.asarray(value)
    if arr.dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a floating tensor, received dtype {arr.dtype}")
    return arr.copy()


def _ignore_index(layer: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool):
        raise TypeError(f"{layer}: ignore_index must be an int, received ignore_index={value!r}")
    return int(value)


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = _reduction(type(self).__name__, reduction)


class CrossEntropyLoss(_Loss):
    """Logits (N, C, *) and class indices (N, *) -> () or (N, *); see F.cross_entropy."""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0):
        super().__init__(reduction)
        self.register_buffer("weight", _float_buffer("CrossEntropyLoss", "weight", weight))
        self.ignore_index = _ignore_index("CrossEntropyLoss", ignore_index)
        if not isinstance(label_smoothing, numbers.Real) or not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(f"CrossEntropyLoss: label_smoothing must be in [0, 1], "
                             f"received label_smoothing={label_smoothing!r}")
        self.label_smoothing = float(label_smoothing)

    def forward(self, input, target):
        return F.cross_entropy(input, target, self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_Loss):
    """Log-probabilities (N, C, *) and class indices (N, *) -> () or (N, *); see F.nll_loss."""

    def __init__(self, weight=None, *, ignore_index: int = -100, reduction: str = "mean"):
        super().__init__(reduction)
        self.register_buffer("weight", _float_buffer("NLLLoss", "weight", weight))
        self.ignore_index = _ignore_index("NLLLoss", ignore_index)

    def forward(self, input, target):
        return F.nll_loss(input, target, self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class MSELoss(_Loss):
    """Mean (or sum, or none) of (input - target)^2; input and target share one shape."""

    def __init__(self, *, reduction: str = "mean"):
        super().__init__(reduction)

    def forward(self, input, target):
        return F.mse_loss(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Sigmoid + binary cross entropy on logits; see F.binary_cross_entropy_with_logits."""

    def __init__(self, weight=None, *, reduction: str = "mean", pos_weight=None):
        super().__init__(reduction)
        self.register_buffer("weight", _float_buffer("BCEWithLogitsLoss", "weight", weight))
        self.register_buffer("pos_weight",
                             _float_buffer("BCEWithLogitsLoss", "pos_weight", pos_weight))

    def forward(self, input, target):
        return F.binary_cross_entropy_with_logits(input, target, self.weight,
                                                  reduction=self.reduction,
                                                  pos_weight=self.pos_weight)
