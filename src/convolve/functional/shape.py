"""Shape ops: reshape, transpose/permute, flatten, indexing, constant padding, cat/stack."""

from __future__ import annotations

import math

import numpy as np

from ..function import Function
from ..tensor import Tensor
from ..tensor_methods import DimError


class Reshape(Function):
    @staticmethod
    def forward(ctx, a, shape=None):
        ctx.in_shape = a.shape
        return a.reshape(shape)

    @staticmethod
    def backward(ctx, g):
        return g.reshape(ctx.in_shape)


class Permute(Function):
    @staticmethod
    def forward(ctx, a, axes=None):
        ctx.axes = axes
        return np.transpose(a, axes)

    @staticmethod
    def backward(ctx, g):
        return np.transpose(g, np.argsort(ctx.axes))


class GetItem(Function):
    @staticmethod
    def forward(ctx, a, index=None):
        ctx.meta = (a.shape, a.dtype, index)
        return a[index]

    @staticmethod
    def backward(ctx, g):
        shape, _dtype, index = ctx.meta
        out = np.zeros(shape, dtype=g.dtype)
        np.add.at(out, index, g)  # repeated integer indices accumulate
        return out


class Pad(Function):
    @staticmethod
    def forward(ctx, a, widths=None, value=0.0):
        ctx.slices = tuple(slice(lo, lo + n) for (lo, _), n in zip(widths, a.shape))
        return np.pad(a, widths, mode="constant", constant_values=value)

    @staticmethod
    def backward(ctx, g):
        return g[ctx.slices]


class Concat(Function):
    @staticmethod
    def forward(ctx, *arrays, axis=0):
        ctx.axis = axis
        ctx.bounds = np.cumsum([a.shape[axis] for a in arrays])[:-1]
        return np.concatenate(arrays, axis=axis)

    @staticmethod
    def backward(ctx, g):
        return tuple(np.split(g, ctx.bounds, axis=ctx.axis))


class Clone(Function):
    @staticmethod
    def forward(ctx, a):
        return a.copy()

    @staticmethod
    def backward(ctx, g):
        return g


def clone(x):
    """A copy that stays in the graph (gradients flow back to ``x``)."""
    return Clone.apply(x)


def _dim(op: str, dim, rank: int, arg: str = "dim", shape=None) -> int:
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool) \
            or not -rank <= dim < rank:
        of = "" if shape is None else f" for an input of shape {tuple(shape)}"
        raise DimError(f"{op}: {arg}={dim!r} is out of range [{-rank}, {rank - 1}]{of}")
    return int(dim) % rank


def unsqueeze(x, dim: int):
    """Insert a dim of size 1 at ``dim`` (in [-x.ndim - 1, x.ndim])."""
    d = _dim("unsqueeze", dim, x.ndim + 1)
    return Reshape.apply(x, shape=x.shape[:d] + (1,) + x.shape[d:])


def squeeze(x, dim=None):
    """Remove dims of size 1: all of them, or ``dim`` (an int or tuple) where its size is 1."""
    shape = tuple(x.shape)
    if dim is None:
        dims = range(len(shape))
    else:
        dims = [_dim("squeeze", d, max(len(shape), 1)) for d in
                (dim if isinstance(dim, (tuple, list)) else (dim,))]
    drop = {d for d in dims if d < len(shape) and shape[d] == 1}
    return Reshape.apply(x, shape=tuple(n for i, n in enumerate(shape) if i not in drop))


def _shape_arg(shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def reshape(x, *shape):
    shape = _shape_arg(shape)
    n = math.prod(x.shape)
    known = math.prod(s for s in shape if s != -1)
    if shape.count(-1) > 1 or any(s < -1 for s in shape) or (
        -1 not in shape and known != n
    ) or (-1 in shape and (known == 0 or n % known != 0)):
        raise ValueError(f"reshape: cannot reshape a tensor of shape {tuple(x.shape)} "
                         f"({n} elements) into {shape}")
    return Reshape.apply(x, shape=shape)


def permute(x, *axes):
    axes = _shape_arg(axes)
    if sorted(a % max(x.ndim, 1) for a in axes) != list(range(x.ndim)):
        raise ValueError(f"permute: axes {axes} are not a permutation of the {x.ndim} dims "
                         f"of a tensor of shape {tuple(x.shape)}")
    return Permute.apply(x, axes=tuple(a % x.ndim for a in axes))


def transpose(x, *dims):
    """Reverse the dims (no args, like ndarray.T) or swap two: transpose(x, d0, d1)."""
    dims = _shape_arg(dims)
    if not dims:
        return Permute.apply(x, axes=tuple(reversed(range(x.ndim))))
    if len(dims) == 2:
        axes = list(range(x.ndim))
        try:
            d0, d1 = (d % x.ndim for d in dims)
        except ZeroDivisionError:
            raise ValueError("transpose: cannot swap dims of a 0-d tensor") from None
        axes[d0], axes[d1] = axes[d1], axes[d0]
        return Permute.apply(x, axes=tuple(axes))
    return permute(x, *dims)


def flatten(x, start_dim: int = 0, end_dim: int = -1, *, op: str = "flatten"):
    """Merge dims start_dim..end_dim into one (PyTorch's torch.flatten); ``op`` names the
    caller in errors."""
    if x.ndim == 0:
        for arg, d in (("start_dim", start_dim), ("end_dim", end_dim)):
            _dim(op, d, 1, arg, x.shape)
        return reshape(x, 1)
    s = _dim(op, start_dim, x.ndim, "start_dim", x.shape)
    e = _dim(op, end_dim, x.ndim, "end_dim", x.shape)
    if s > e:
        raise ValueError(f"{op}: start_dim={start_dim} comes after end_dim={end_dim} "
                         f"for a tensor of shape {tuple(x.shape)}")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return Reshape.apply(x, shape=shape)


def _unwrap_index(index):
    if isinstance(index, Tensor):
        return index.data.astype(np.int64) if index.data.dtype.kind == "f" else index.data
    if isinstance(index, tuple):
        return tuple(_unwrap_index(i) for i in index)
    return index


def getitem(x, index):
    index = _unwrap_index(index)
    try:
        x.data[index]
    except IndexError as err:
        raise IndexError(f"getitem: bad index for a tensor of shape {tuple(x.shape)}: {err}") \
            from None
    return GetItem.apply(x, index=index)


def pad(x, pad, mode: str = "constant", value: float = 0.0):
    """Constant-pad the last len(pad)//2 dims; ``pad`` = (last_lo, last_hi, prev_lo, prev_hi, ...).

    Only mode='constant' here; conv's reflect/replicate/circular modes live in conv.py.
    """
    if mode != "constant":
        raise ValueError(f"pad: only mode='constant' is supported here, received mode={mode!r}")
    if len(pad) % 2 or len(pad) // 2 > x.ndim or any(int(p) != p or p < 0 for p in pad):
        raise ValueError(f"pad: pad must hold an even number (<= 2*ndim) of non-negative ints, "
                         f"received {tuple(pad)} for shape {tuple(x.shape)}")
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (int(pad[2 * i]), int(pad[2 * i + 1]))
    return Pad.apply(x, widths=tuple(widths), value=value)


def cat(tensors, dim: int = 0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("cat: expected a non-empty sequence of tensors")
    nd = tensors[0].ndim
    ax = dim % nd
    for t in tensors:
        if t.ndim != nd or t.shape[:ax] + t.shape[ax + 1:] != tensors[0].shape[:ax] + \
                tensors[0].shape[ax + 1:]:
            raise ValueError(f"cat: shapes must match except in dim {dim}, received "
                             f"{[tuple(t.shape) for t in tensors]}")
    return Concat.apply(*tensors, axis=ax)


def stack(tensors, dim: int = 0):
    tensors = list(tensors)
    if not tensors:
        raise ValueError("stack: expected a non-empty sequence of tensors")
    shape = tensors[0].shape
    if any(t.shape != shape for t in tensors):
        raise ValueError(f"stack: all tensors must have one shape, received "
                         f"{[tuple(t.shape) for t in tensors]}")
    ax = dim % (len(shape) + 1)
    new = shape[:ax] + (1,) + shape[ax:]
    return Concat.apply(*[Reshape.apply(t, shape=new) for t in tensors], axis=ax)
