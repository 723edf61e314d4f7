"""LPPool1d / LPPool2d layers (PyTorch's names and arguments) over F.lp_pool1d/2d."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["LPPool1d", "LPPool2d"]


class _LPPoolNd(Module):
    _nd = 2

    def __init__(self, norm_type, kernel_size, stride=None, ceil_mode=False):
        super().__init__()
        self.norm_type, self.kernel_size = norm_type, kernel_size
        self.stride, self.ceil_mode = stride, ceil_mode

    def forward(self, x):
        fn = F.lp_pool2d if self._nd == 2 else F.lp_pool1d
        return fn(x, self.norm_type, self.kernel_size, self.stride, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"norm_type={self.norm_type}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, ceil_mode={self.ceil_mode}")


class LPPool1d(_LPPoolNd):
    """(sum over each window of x ** p) ** (1/p): (N, C, L) -> (N, C, L_out)."""

    _nd = 1


class LPPool2d(_LPPoolNd):
    """(sum over each (kH, kW) window of x ** p) ** (1/p): (N, C, H, W) -> pooled."""

    _nd = 2
