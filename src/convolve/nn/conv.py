"""Convolution layers: Conv1d, Conv2d (PyTorch's parameters, init and repr) and LocallyConnected2d."""

from __future__ import annotations

import math

import numpy as np

from .. import functional as F
from ..functional._util import ntuple
from ..functional.conv import PADDING_MODES, conv_output_size, normalize_padding
from . import init
from .module import Module, add_weight_and_bias

__all__ = ["Conv1d", "Conv2d", "LocallyConnected2d"]


def _positive_int(layer: str, arg: str, value) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{layer}: {arg} must be a positive int, received {arg}={value!r}")
    return int(value)


def _check_input(layer: str, x, nd: int, channels: int) -> None:
    """The layer-named version of the functional op's rank and channel checks."""
    if x.ndim not in (nd + 1, nd + 2):
        layout = "(N, C, L) or (C, L)" if nd == 1 else "(N, C, H, W) or (C, H, W)"
        raise ValueError(f"{layer}: expected a {layout} input of rank {nd + 1} or {nd + 2}, "
                         f"received shape {tuple(x.shape)}")
    if x.shape[-nd - 1] != channels:
        raise ValueError(f"{layer}: expected input with {channels} channels (in_channels), "
                         f"received shape {tuple(x.shape)}")


class _ConvNd(Module):
    """Shared __init__ / init / repr of Conv1d and Conv2d (PyTorch's _ConvNd)."""

    _nd = 2

    def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1,
                 groups=1, bias=True, padding_mode="zeros", dtype=np.float32):
        super().__init__()
        name, nd = type(self).__name__, self._nd
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.groups = _positive_int(name, "groups", groups)
        for arg, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if value % groups:
                raise ValueError(f"{name}: {arg} must be divisible by groups, "
                                 f"received {arg}={value}, groups={groups}")
        if padding_mode not in PADDING_MODES:
            raise ValueError(f"{name}: padding_mode must be one of {PADDING_MODES}, "
                             f"received padding_mode={padding_mode!r}")
        self.kernel_size = ntuple(kernel_size, nd, name, "kernel_size")
        self.stride = ntuple(stride, nd, name, "stride")
        self.dilation = ntuple(dilation, nd, name, "dilation")
        normalize_padding(padding, self.kernel_size, self.stride, self.dilation, name)
        self.padding = padding if isinstance(padding, str) else \
            ntuple(padding, nd, name, "padding", minimum=0)
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups) + self.kernel_size
        add_weight_and_bias(self, shape, (out_channels,) if bias else None, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """kaiming_uniform_(a=sqrt(5)) weight, U(-1/sqrt(fan_in), 1/sqrt(fan_in)) bias."""
        init.default_weight_bias_(self.weight, self.bias)

    def forward(self, x):
        _check_input(type(self).__name__, x, self._nd, self.in_channels)
        fn = F.conv1d if self._nd == 1 else F.conv2d
        return fn(x, self.weight, self.bias, self.stride, self.padding, self.dilation,
                  self.groups, padding_mode=self.padding_mode)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        if self.padding != (0,) * self._nd:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * self._nd:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv1d(_ConvNd):
    """1-D convolution. Input (N, C_in, L) or (C_in, L); output (N, C_out, L_out) with
    L_out = floor((L + 2*padding - dilation*(kernel_size-1) - 1)/stride) + 1.
    weight (C_out, C_in/groups, kernel_size), bias (C_out,)."""

    _nd = 1


class Conv2d(_ConvNd):
    """2-D convolution. Input (N, C_in, H, W) or (C_in, H, W); output (N, C_out, H_out, W_out)
    with H_out = floor((H + 2*padding[0] - dilation[0]*(kernel_size[0]-1) - 1)/stride[0]) + 1.
    weight (C_out, C_in/groups, kH, kW), bias (C_out,)."""

    _nd = 2


class LocallyConnected2d(Module):
    """Convolution without weight sharing: a separate filter bank per output position.

    in_size (H, W) fixes the output size (OH, OW) by the conv formula. Parameters:
    weight (OH, OW, out_channels, in_channels, kH, kW), bias (out_channels, OH, OW);
    both initialised like a Conv2d with fan_in = in_channels*kH*kW:
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)). Input (N, C, H, W) or (C, H, W).
    """

    def __init__(self, in_channels, out_channels, in_size, kernel_size, stride=1, padding=0,
                 dilation=1, bias=True, dtype=np.float32):
        super().__init__()
        name = "LocallyConnected2d"
        self.in_channels = _positive_int(name, "in_channels", in_channels)
        self.out_channels = _positive_int(name, "out_channels", out_channels)
        self.in_size = ntuple(in_size, 2, name, "in_size")
        self.kernel_size = ntuple(kernel_size, 2, name, "kernel_size")
        self.stride = ntuple(stride, 2, name, "stride")
        self.dilation = ntuple(dilation, 2, name, "dilation")
        pads = normalize_padding(padding, self.kernel_size, self.stride, self.dilation, name)
        self.padding = padding if isinstance(padding, str) else tuple(p for p, _ in pads)
        self.out_size = tuple(conv_output_size(*a) for a in zip(
            self.in_size, self.kernel_size, self.stride, pads, self.dilation))
        if min(self.out_size) < 1:
            raise ValueError(f"{name}: output size {self.out_size} is empty for in_size="
                             f"{self.in_size}, kernel_size={self.kernel_size}")
        shape = self.out_size + (out_channels, in_channels) + self.kernel_size
        add_weight_and_bias(self, shape, (out_channels,) + self.out_size if bias else None, dtype)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Conv2d's default distribution with fan_in = in_channels*kH*kW: U(+-1/sqrt(fan_in))."""
        bound = 1.0 / math.sqrt(self.in_channels * self.kernel_size[0] * self.kernel_size[1])
        init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            init.uniform_(self.bias, -bound, bound)

    def forward(self, x):
        _check_input("LocallyConnected2d", x, 2, self.in_channels)
        if tuple(x.shape[-2:]) != self.in_size:
            raise ValueError(f"LocallyConnected2d: expected input of spatial size "
                             f"{self.in_size} (in_size), received shape {tuple(x.shape)}")
        return F.locally_connected2d(x, self.weight, self.bias, self.stride, self.padding,
                                     self.dilation)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, in_size={self.in_size}, "
             f"kernel_size={self.kernel_size}, stride={self.stride}")
        if self.padding not in ((0, 0), "valid"):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.bias is None:
            s += ", bias=False"
        return s
