"""Transposed convolutions (conv_transpose1d/2d/3d) and conv3d, PyTorch's names and semantics.

conv3d is a sum over the kernel's depth taps of 2-D convolutions (the public ``conv2d``)
of strided depth slices folded into the batch, so it needs no engine of its own.

A transposed convolution is the gradient of a convolution with respect to its input. It is
computed as a plain convolution (the public ``conv1d``/``conv2d``, so it uses whatever
engine those pick) on the input with ``stride - 1`` zeros inserted between samples and
padded by ``dilation * (kernel - 1) - padding`` on each side (plus ``output_padding`` on
the high side), with the kernel flipped and its in/out channel axes swapped per group.
Every step is a differentiable op with an exact backward, so the gradients are exact too.

Output size per spatial dim::

    out = (size - 1) * stride - pad_lo - pad_hi + dilation * (kernel - 1) + output_padding + 1
"""

from __future__ import annotations

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ._util import check_float, ntuple
from .conv import conv1d, conv2d
from .shape import getitem, pad, permute, reshape

__all__ = ["conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d"]


class ZeroInsert(Function):
    """Insert ``stride - 1`` zeros between neighbouring samples of the trailing dims."""

    @staticmethod
    def forward(ctx, x, strides=None):
        nd = len(strides)
        ctx.index = (Ellipsis,) + tuple(slice(None, None, s) for s in strides)
        shape = x.shape[:-nd] + tuple((n - 1) * s + 1 for n, s in zip(x.shape[-nd:], strides))
        out = np.zeros(shape, dtype=x.dtype)
        out[ctx.index] = x
        return out

    @staticmethod
    def backward(ctx, g):
        return np.ascontiguousarray(g[ctx.index])


def _flip_weight(w, groups: int):
    """(C_in, C_out/g, *k) -> (C_out, C_in/g, *k) with the kernel flipped in space."""
    cin, cout_g, *k = w.shape
    nd = len(k)
    w = reshape(w, (groups, cin // groups, cout_g, *k))
    w = permute(w, 0, 2, 1, *range(3, 3 + nd))
    w = reshape(w, (groups * cout_g, cin // groups, *k))
    return getitem(w, (Ellipsis,) + (slice(None, None, -1),) * nd)


def _check(op, nd, x, w, b, groups):
    for arg, a in (("input", x), ("weight", w)):
        if not isinstance(a, Tensor):
            raise TypeError(f"{op}: {arg} must be a Tensor, received {type(a).__name__}")
    check_float(op, x)
    if x.ndim not in (nd + 1, nd + 2) or w.ndim != nd + 2:
        raise ValueError(f"{op}: expected input of rank {nd + 1} or {nd + 2} and weight of rank "
                         f"{nd + 2}, received shapes {tuple(x.shape)} and {tuple(w.shape)}")
    if not isinstance(groups, (int, np.integer)) or groups < 1 or w.shape[0] % groups:
        raise ValueError(f"{op}: groups must be a positive int dividing weight.shape[0]="
                         f"{w.shape[0]}, received groups={groups!r}")
    if x.shape[-nd - 1] != w.shape[0]:
        raise ValueError(f"{op}: input has {x.shape[-nd - 1]} channels but weight expects "
                         f"{w.shape[0]} (weight is (C_in, C_out/groups, *kernel)), received "
                         f"shapes {tuple(x.shape)} and {tuple(w.shape)}")
    if b is not None and tuple(b.shape) != (w.shape[1] * groups,):
        raise ValueError(f"{op}: bias must have shape ({w.shape[1] * groups},), received "
                         f"{tuple(b.shape)}")


def conv_transpose_nd(op, nd, x, w, b, stride, pads, output_padding, dilation, groups):
    """The shared body; ``pads`` is ((lo, hi),) * nd (lets the ONNX importer pass asymmetric
    pads); output_padding must be < max(stride, dilation) per dim, as in PyTorch."""
    _check(op, nd, x, w, b, groups)
    unbatched = x.ndim == nd + 1
    if unbatched:
        x = reshape(x, (1, *x.shape))
    k = w.shape[2:]
    for s, d, o in zip(stride, dilation, output_padding):
        if not 0 <= o < max(s, d):
            raise ValueError(f"{op}: output_padding must be >= 0 and smaller than stride or "
                             f"dilation, received output_padding={tuple(output_padding)}, "
                             f"stride={tuple(stride)}, dilation={tuple(dilation)}")
    z = ZeroInsert.apply(x, strides=tuple(stride)) if any(s > 1 for s in stride) else x
    grow = [(d * (kk - 1) - lo, d * (kk - 1) - hi + o)
            for kk, d, (lo, hi), o in zip(k, dilation, pads, output_padding)]
    flat = [max(p, 0) for pair in reversed(grow) for p in pair]
    z = pad(z, flat) if any(flat) else z
    if any(p < 0 for pair in grow for p in pair):
        crop = tuple(slice(-min(lo, 0), z.shape[2 + i] + min(hi, 0))
                     for i, (lo, hi) in enumerate(grow))
        z = getitem(z, (Ellipsis,) + crop)
    conv = {1: conv1d, 2: conv2d, 3: _conv3d}[nd]
    y = conv(z, _flip_weight(w, int(groups)), b, 1, 0, tuple(dilation), int(groups))
    return reshape(y, y.shape[1:]) if unbatched else y


def _conv3d(x, w, b, stride, padding, dilation, groups):
    """x (N, C, D, H, W), w (O, C/g, kD, kH, kW); padding ((lo, hi),) * 3 or ints."""
    s, d = ntuple(stride, 3, "conv3d", "stride"), ntuple(dilation, 3, "conv3d", "dilation")
    pads = padding if isinstance(padding, tuple) and padding and isinstance(padding[0], tuple) \
        else tuple((p, p) for p in ntuple(padding, 3, "conv3d", "padding", minimum=0))
    flat = [p for pair in reversed(pads) for p in pair]
    x = pad(x, flat) if any(flat) else x
    n, c, depth = x.shape[:3]
    kd = w.shape[2]
    od = (depth - d[0] * (kd - 1) - 1) // s[0] + 1
    if od < 1:
        raise ValueError(f"conv3d: the kernel's depth extent {d[0] * (kd - 1) + 1} exceeds the "
                         f"padded input depth {depth}")
    y = None
    for t in range(kd):  # a loop over kernel taps, not over data
        sl = getitem(x, (slice(None), slice(None),
                         slice(t * d[0], t * d[0] + (od - 1) * s[0] + 1, s[0])))
        folded = reshape(permute(sl, 0, 2, 1, 3, 4), (n * od, c, *x.shape[3:]))
        part = conv2d(folded, getitem(w, (slice(None), slice(None), t)), None, s[1:], 0,
                      d[1:], groups)
        y = part if y is None else y + part
    y = permute(reshape(y, (n, od, *y.shape[1:])), 0, 2, 1, 3, 4)
    return y if b is None else y + reshape(b, (1, -1, 1, 1, 1))


def conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    """3-D cross-correlation, PyTorch's F.conv3d (zero padding, int or 3-tuple arguments).

    input (N, C, D, H, W) or (C, D, H, W); weight (O, C/groups, kD, kH, kW); bias (O,).
    """
    for arg, a in (("input", input), ("weight", weight)):
        if not isinstance(a, Tensor):
            raise TypeError(f"conv3d: {arg} must be a Tensor, received {type(a).__name__}")
    check_float("conv3d", input)
    if input.ndim not in (4, 5) or weight.ndim != 5:
        raise ValueError(f"conv3d: expected input of rank 4 or 5 and weight of rank 5, "
                         f"received shapes {tuple(input.shape)} and {tuple(weight.shape)}")
    unbatched = input.ndim == 4
    x = reshape(input, (1, *input.shape)) if unbatched else input
    if x.shape[1] != weight.shape[1] * groups:
        raise ValueError(f"conv3d: input has {x.shape[1]} channels, weight expects "
                         f"{weight.shape[1] * groups} (groups={groups})")
    y = _conv3d(x, weight, bias, stride, padding, dilation, groups)
    return reshape(y, y.shape[1:]) if unbatched else y


def conv_transpose3d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """3-D transposed convolution, PyTorch's F.conv_transpose3d; see conv_transpose2d."""
    op = "conv_transpose3d"
    s, p, o, d = _args(op, 3, stride, padding, output_padding, dilation)
    return conv_transpose_nd(op, 3, input, weight, bias, s, p, o, d, groups)


def _args(op, nd, stride, padding, output_padding, dilation):
    s = ntuple(stride, nd, op, "stride")
    p = ntuple(padding, nd, op, "padding", minimum=0)
    o = ntuple(output_padding, nd, op, "output_padding", minimum=0)
    d = ntuple(dilation, nd, op, "dilation")
    return s, tuple((v, v) for v in p), o, d


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """2-D transposed convolution, PyTorch's F.conv_transpose2d.

    input (N, C_in, H, W) or (C_in, H, W); weight (C_in, C_out/groups, kH, kW); bias
    (C_out,) or None. Output (N, C_out, OH, OW) with
    OH = (H - 1)*sH - 2*pH + dH*(kH - 1) + output_padding_H + 1.
    """
    op = "conv_transpose2d"
    s, p, o, d = _args(op, 2, stride, padding, output_padding, dilation)
    return conv_transpose_nd(op, 2, input, weight, bias, s, p, o, d, groups)


def conv_transpose1d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups=1, dilation=1):
    """1-D transposed convolution, PyTorch's F.conv_transpose1d; see conv_transpose2d."""
    op = "conv_transpose1d"
    s, p, o, d = _args(op, 1, stride, padding, output_padding, dilation)
    return conv_transpose_nd(op, 1, input, weight, bias, s, p, o, d, groups)
