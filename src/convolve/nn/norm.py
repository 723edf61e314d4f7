"""BatchNorm1d, BatchNorm2d and Dropout, with PyTorch's parameters, buffers and state_dict keys."""

from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from . import init
from .module import Module, add_weight_and_bias

__all__ = ["BatchNorm1d", "BatchNorm2d", "Dropout"]


class _BatchNorm(Module):
    """Per-channel normalisation of (N, C, *) input; weight/bias (C,), running stats (C,).

    momentum=None uses a cumulative moving average (factor 1 / num_batches_tracked).
    """

    _ranks: tuple = ()
    _layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True, dtype=np.float32, *,
                 bias: bool = True):
        super().__init__()
        self._check_args(num_features, eps, momentum)
        self.num_features, self.eps, self.momentum = int(num_features), eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            add_weight_and_bias(self, (self.num_features,),
                                (self.num_features,) if bias else None, dtype)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        track = self.track_running_stats
        self.register_buffer("running_mean", np.zeros(self.num_features, dtype) if track else None)
        self.register_buffer("running_var", np.ones(self.num_features, dtype) if track else None)
        self.register_buffer("num_batches_tracked",
                             np.array(0, dtype=np.int64) if track else None)
        self.reset_parameters()

    def _check_args(self, num_features, eps, momentum) -> None:
        name = type(self).__name__
        if not isinstance(num_features, numbers.Integral) or isinstance(num_features, bool) \
                or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive int, "
                             f"received num_features={num_features!r}")
        if not isinstance(eps, numbers.Real) or eps < 0:
            raise ValueError(f"{name}: eps must be a non-negative number, received eps={eps!r}")
        if momentum is not None and (not isinstance(momentum, numbers.Real)
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"{name}: momentum must be None or in [0, 1], "
                             f"received momentum={momentum!r}")

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def _check_input(self, x) -> None:
        name = type(self).__name__
        if x.ndim not in self._ranks:
            raise ValueError(f"{name}: expected {self._layout} input, received shape "
                             f"{tuple(x.shape)} ({x.ndim}D)")
        if x.shape[1] != self.num_features:
            raise ValueError(f"{name}: expected input with {self.num_features} channels "
                             f"(num_features), received shape {tuple(x.shape)}")

    def forward(self, x):
        self._check_input(x)
        factor = 0.0 if self.momentum is None else self.momentum
        update = self.training and self.track_running_stats
        if update and self.momentum is None:
            factor = 1.0 / float(self.num_batches_tracked.data + 1)
        use_batch = self.training or self.running_mean is None
        out = F.batch_norm(x, self.running_mean if not self.training or update else None,
                           self.running_var if not self.training or update else None,
                           self.weight, self.bias, use_batch, factor, self.eps)
        if update:
            self.num_batches_tracked.data[...] += 1
        return out

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, bias={self.bias is not None}, "
                f"track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch norm of (N, C) or (N, C, L) input; output has the input's shape."""

    _ranks = (2, 3)
    _layout = "2D (N, C) or 3D (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm of (N, C, H, W) input; output has the input's shape."""

    _ranks = (4,)
    _layout = "4D (N, C, H, W)"


class Dropout(Module):
    """Inverted dropout in training (zero with probability p, scale by 1/(1-p)); identity in eval."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not isinstance(p, numbers.Real) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: probability p has to be between 0 and 1, received p={p!r}")
        self.p, self.inplace = p, bool(inplace)

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"
