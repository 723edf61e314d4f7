"""Transposed convolution layers: ConvTranspose1d/2d/3d (PyTorch's parameters,
init and repr) over :mod:`convolve.functional.conv_transpose`."""

from __future__ import annotations

import numpy as np

from .. import functional as F
from ..functional._util import ntuple
from . import init
from .conv import _check_input, _positive_int
from .module import Module, add_weight_and_bias

__all__ = ["ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d"]


class _ConvTransposeNd(Module):
    """weight (C_in, C_out/groups, *kernel), bias (C_out,); init as PyTorch (fan_in from
    weight.shape[1] * prod(kernel))."""

    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0,
                 output_padding=0, groups=1, bias=True, dilation=1, padding_mode="zeros",
                 dtype=np.float32):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.groups = _positive_int(name, "groups", groups)
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(f"{name}: {arg} must be divisible by groups, "
                                 f"received {arg}={value}, groups={groups}")
        if padding_mode != "zeros":
            raise ValueError(f"{name}: only padding_mode='zeros' is supported (as in PyTorch), "
                             f"received padding_mode={padding_mode!r}")
        self.kernel_size = ntuple(kernel_size, nd, name, "kernel_size")
        self.stride = ntuple(stride, nd, name, "stride")
        self.padding = ntuple(padding, nd, name, "padding", minimum=0)
        self.output_padding = ntuple(output_padding, nd, name, "output_padding", minimum=0)
        self.dilation = ntuple(dilation, nd, name, "dilation")
        if any(o >= max(s, d) for o, s, d in zip(self.output_padding, self.stride,
                                                 self.dilation)):
            raise ValueError(f"{name}: output_padding must be smaller than stride or dilation, "
                             f"received output_padding={self.output_padding}, "
                             f"stride={self.stride}, dilation={self.dilation}")
        self.padding_mode = padding_mode
        shape = (in_channels, out_channels // groups) + self.kernel_size
        add_weight_and_bias(self, shape, (out_channels,) if bias else None, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.default_weight_bias_(self.weight, self.bias)

    def forward(self, x):
        _check_input(type(self).__name__, x, self._nd, self.in_channels)
        fn = {1: F.conv_transpose1d, 2: F.conv_transpose2d, 3: F.conv_transpose3d}[self._nd]
        return fn(x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
                  self.groups, self.dilation)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        for arg, default in (("padding", 0), ("output_padding", 0), ("dilation", 1)):
            if getattr(self, arg) != (default,) * self._nd:
                s += f", {arg}={getattr(self, arg)}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        return s + (", bias=False" if self.bias is None else "")


class ConvTranspose1d(_ConvTransposeNd):
    """1-D transposed convolution: (N, C_in, L) -> (N, C_out, L_out) with
    L_out = (L - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1."""

    _nd = 1


class ConvTranspose2d(_ConvTransposeNd):
    """2-D transposed convolution: (N, C_in, H, W) -> (N, C_out, H_out, W_out) with
    H_out = (H - 1)*stride - 2*padding + dilation*(kernel_size - 1) + output_padding + 1."""

    _nd = 2


class ConvTranspose3d(_ConvTransposeNd):
    """3-D transposed convolution: (N, C_in, D, H, W) -> (N, C_out, D_out, H_out, W_out)."""

    _nd = 3
