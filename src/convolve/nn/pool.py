"""Pooling layers as in torch.nn: MaxPool1d/2d, AvgPool1d/2d, AdaptiveAvgPool1d/2d, BlurPool2d.

Layers are thin: ``__init__`` validates and stores the arguments (stride None becomes
kernel_size, as in PyTorch), ``forward`` calls the functional op, which checks them against
the input. None of these layers has parameters or persistent state: ``state_dict()`` is
empty (BlurPool2d's fixed filter included; see its docstring).
"""

from __future__ import annotations

import numbers

import numpy as np

from .. import functional as F
from ..functional.blur_pool import _binomial, blur_args
from ..functional.pool import adaptive_size, window_args
from .module import Module

__all__ = ["AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AvgPool1d", "AvgPool2d", "BlurPool2d",
           "MaxPool1d", "MaxPool2d"]


def _check_bool(layer: str, name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{layer}: {name} must be a bool, received {name}={value!r}")


def _single(v):
    """PyTorch's _single: AvgPool1d stores (and prints) its arguments as 1-tuples."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v,)


class _MaxPoolNd(Module):
    _nd = 2

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1,
                 return_indices=False, ceil_mode=False):
        super().__init__()
        window_args(type(self).__name__, self._nd, kernel_size, stride, padding, dilation,
                    ceil_mode)
        if not isinstance(return_indices, bool):
            raise TypeError(f"{type(self).__name__}: return_indices must be a bool, "
                            f"received return_indices={return_indices!r}")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.dilation = dilation
        self.return_indices = return_indices
        self.ceil_mode = ceil_mode

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
                f", dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """Max over windows of length k: (N, C, L) or (C, L) -> (N, C, L_out); see F.max_pool1d."""

    _nd = 1

    def forward(self, x):
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class MaxPool2d(_MaxPoolNd):
    """Max over (kH, kW) windows: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).

    H_out = floor((H + 2p - d(k-1) - 1) / s) + 1 (ceil with ceil_mode); see F.max_pool2d.
    """

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation,
                            self.ceil_mode, self.return_indices)


class AvgPool1d(Module):
    """Mean over windows of length k: (N, C, L) or (C, L) -> (N, C, L_out); see F.avg_pool1d."""

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True):
        super().__init__()
        window_args("AvgPool1d", 1, kernel_size, stride, padding, 1, ceil_mode)
        _check_bool("AvgPool1d", "count_include_pad", count_include_pad)
        self.kernel_size = _single(kernel_size)
        self.stride = _single(stride if stride is not None else kernel_size)
        self.padding = _single(padding)
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad

    def forward(self, x):
        return F.avg_pool1d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over (kH, kW) windows: (N, C, H, W) or (C, H, W) -> (N, C, H_out, W_out).

    H_out = floor((H + 2p - k) / s) + 1 (ceil with ceil_mode); divisor rules in F.avg_pool2d.
    """

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):
        super().__init__()
        window_args("AvgPool2d", 2, kernel_size, stride, padding, 1, ceil_mode)
        _check_bool("AvgPool2d", "count_include_pad", count_include_pad)
        if divisor_override is not None and (not isinstance(divisor_override, numbers.Integral)
                                             or isinstance(divisor_override, bool)
                                             or divisor_override == 0):
            raise ValueError(f"AvgPool2d: divisor_override must be None or a non-zero int, "
                             f"received divisor_override={divisor_override!r}")
        self.kernel_size = kernel_size
        self.stride = stride if stride is not None else kernel_size
        self.padding = padding
        self.ceil_mode = ceil_mode
        self.count_include_pad = count_include_pad
        self.divisor_override = divisor_override

    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class _AdaptiveAvgPoolNd(Module):
    _nd = 2

    def __init__(self, output_size):
        super().__init__()
        adaptive_size(type(self).__name__, output_size, *(((1,),) if self._nd == 1 else ()))
        self.output_size = output_size

    def forward(self, x):
        fn = F.adaptive_avg_pool1d if self._nd == 1 else F.adaptive_avg_pool2d
        return fn(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"


class AdaptiveAvgPool1d(_AdaptiveAvgPoolNd):
    """Mean over adaptive bins: (N, C, L) or (C, L) -> (N, C, output_size)."""

    _nd = 1


class AdaptiveAvgPool2d(_AdaptiveAvgPoolNd):
    """Mean over adaptive bins: (N, C, H, W) or (C, H, W) -> (N, C, *output_size).

    output_size is an int or a pair whose None entries keep the input size.
    """

    _nd = 2


class BlurPool2d(Module):
    """Anti-aliased downsampling (Zhang 2019, antialiased-cnns' BlurPool); see F.blur_pool2d.

    (N, C, H, W) or (C, H, W) -> (N, C, ceil(H/stride), ceil(W/stride)). ``channels`` is
    optional: when given, forward checks the input has that many channels. The binomial
    filter is a fixed function of kernel_size (the ``filt`` property shows it); it is not a
    buffer, so state_dict() is empty (antialiased-cnns stores it as buffer 'filt').
    """

    def __init__(self, channels=None, kernel_size=3, stride=2, padding_mode="reflect"):
        super().__init__()
        if channels is not None and (not isinstance(channels, numbers.Integral)
                                     or isinstance(channels, bool) or channels < 1):
            raise ValueError(f"BlurPool2d: channels must be None or a positive int, "
                             f"received channels={channels!r}")
        blur_args("BlurPool2d", kernel_size, stride, padding_mode)
        self.channels = None if channels is None else int(channels)
        self.kernel_size = kernel_size
        self.stride = stride
        self.padding_mode = padding_mode

    @property
    def filt(self) -> np.ndarray:
        """The (k, k) float32 filter: outer product of the normalised binomial row."""
        row = _binomial(self.kernel_size, np.float32)
        return row[:, None] * row[None, :]

    def forward(self, x):
        if self.channels is not None and (x.ndim not in (3, 4) or x.shape[-3] != self.channels):
            raise ValueError(f"BlurPool2d: expected input with {self.channels} channels "
                             f"(channels), received shape {tuple(x.shape)}")
        return F.blur_pool2d(x, self.kernel_size, self.stride, self.padding_mode)

    def extra_repr(self) -> str:
        head = "" if self.channels is None else f"channels={self.channels}, "
        return (f"{head}kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding_mode={self.padding_mode!r}")
