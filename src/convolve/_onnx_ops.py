"""ONNX operators for the importer: the registry, elementwise, shape and reduction ops.

Values in a running graph are Tensors when floating (so autograd flows through
``convolve.functional``) and plain NumPy arrays when integer or boolean (shapes, axes,
class labels). An op is ``fn(c, *inputs)`` with ``c`` a :class:`Call` (attributes,
opset, training flag); it returns one value or a tuple. Convolution, pooling,
normalisation, Gemm, softmax and loss ops live in :mod:`convolve._onnx_ops_nn`.
"""

from __future__ import annotations

import itertools

import numpy as np

from . import functional as F
from .function import Function
from .functional.elementwise import _erf
from .functional.elementwise import cast as _fcast
from .tensor import Tensor

OPS: dict = {}
MAX_ELEMENTS = 1 << 28  # ops that allocate from shape values (ConstantOfShape, Expand)


def op(*names):
    def register(fn):
        for n in names:
            OPS[n] = fn
        return fn
    return register


def supported() -> set:
    from . import _onnx_ops_nn, _onnx_ops_select  # noqa: F401 - register the rest

    return set(OPS)


class Call:
    """What an op sees of its node: attributes, opset and the module's training flag."""

    __slots__ = ("node", "opset", "training")

    def __init__(self, node, training):
        self.node, self.opset, self.training = node, node.opset, training

    def a(self, name, default=None):
        return self.node.attrs.get(name, default)


def to_value(x):
    """Tensor for floating data, ndarray otherwise."""
    if isinstance(x, Tensor):
        return x if x.data.dtype.kind == "f" else x.data
    arr = np.asarray(x)
    return Tensor(arr, dtype=arr.dtype) if arr.dtype.kind == "f" else arr


def arr(v) -> np.ndarray:
    return v.data if isinstance(v, Tensor) else np.asarray(v)


def as_tensor(v, like=None):
    if isinstance(v, Tensor):
        return v
    a = np.asarray(v)
    dt = like.dtype if like is not None and a.dtype.kind != "f" else a.dtype
    return Tensor(a, dtype=dt)


def run_node(module, node, args) -> tuple:
    fn = OPS[node.op_type]
    try:
        out = fn(Call(node, module.training), *args)
    except (ValueError, TypeError, IndexError) as err:
        msg = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise ValueError(f"onnx: {node.describe()}: {msg}") from err
    return out if isinstance(out, tuple) else (out,)


def ints(v) -> list:
    return [int(i) for i in arr(v).reshape(-1)]


def axes_of(c, v, slot_name="axes"):
    """Axes from an input (newer opsets) or the attribute (older ones); None if absent."""
    if v is not None:
        return ints(v)
    a = c.a(slot_name)
    return None if a is None else [int(i) for i in a]


def check_size(shape, what: str) -> tuple:
    shape = tuple(int(d) for d in shape)
    if any(d < 0 for d in shape) or int(np.prod(shape, dtype=np.float64)) > MAX_ELEMENTS:
        raise ValueError(f"{what}: shape {shape} is negative or over {MAX_ELEMENTS} elements")
    return shape


# ---------------------------------------------------------------------------- elementwise
def _binary(fn, npfn):
    def run(c, a, b):
        if isinstance(a, Tensor) or isinstance(b, Tensor):
            return fn(as_tensor(a, b), as_tensor(b, a))
        return np.asarray(npfn(a, b)).astype(np.result_type(a, b))
    return run


def _int_div(a, b):
    return np.trunc(np.asarray(a, dtype=np.float64) / b) if np.asarray(a).dtype.kind in "iu" \
        else np.divide(a, b)


OPS.update(Add=_binary(F.add, np.add), Sub=_binary(F.sub, np.subtract),
           Mul=_binary(F.mul, np.multiply), Div=_binary(F.div, _int_div))


@op("Pow")
def _pow(c, a, b):
    if isinstance(a, Tensor):
        return F.pow(a, as_tensor(b, a) if isinstance(b, Tensor) else
                     np.asarray(b).astype(a.dtype))
    return np.power(a, arr(b)).astype(np.asarray(a).dtype)


def _unary(fn, npfn=None):
    def run(c, x):
        if isinstance(x, Tensor) or npfn is None:
            return fn(as_tensor(x))
        return npfn(x)
    return run


OPS.update(Neg=_unary(F.neg, np.negative), Abs=_unary(F.abs, np.abs), Sqrt=_unary(F.sqrt),
           Exp=_unary(F.exp), Log=_unary(F.log), Relu=_unary(F.relu, lambda x: np.maximum(x, 0)),
           Sigmoid=_unary(F.sigmoid), Tanh=_unary(F.tanh))


class Erf(Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return _erf(x).astype(x.dtype)

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved
        return g * (2 / np.sqrt(np.pi)) * np.exp(-x * x)


@op("Erf")
def _erf_op(c, x):
    return Erf.apply(as_tensor(x))


@op("Reciprocal")
def _reciprocal(c, x):
    return F.pow(x, -1.0)


@op("Identity")
def _identity(c, x):
    return x


def _cast_to(x, dtype):
    if dtype.kind not in "fiub":
        raise ValueError(f"Cast: target dtype {dtype} is not supported")
    if isinstance(x, Tensor) and dtype.kind == "f":
        return _fcast(x, dtype) if x.dtype != dtype else x
    return to_value(arr(x).astype(dtype))


@op("Cast")
def _cast(c, x):
    from .onnx import require_onnx

    return _cast_to(x, np.dtype(require_onnx().helper.tensor_dtype_to_np_dtype(c.a("to"))))


@op("CastLike")
def _cast_like(c, x, like):
    return _cast_to(x, arr(like).dtype)


@op("Constant")
def _constant(c):
    for key in ("value", "value_float", "value_floats", "value_int", "value_ints"):
        v = c.a(key)
        if v is not None:
            a = np.asarray(v, dtype=np.float32 if "float" in key else
                           np.int64 if "int" in key else None)
            return to_value(a.copy())
    raise ValueError("Constant: no supported value attribute (value, value_float(s), "
                     "value_int(s))")


@op("ConstantOfShape")
def _constant_of_shape(c, shape):
    value = c.a("value")
    value = np.zeros(1, np.float32) if value is None else np.asarray(value)
    return to_value(np.full(check_size(ints(shape), "ConstantOfShape"), value.reshape(-1)[0],
                            dtype=value.dtype))


@op("Shape")
def _shape(c, x):
    shape = np.array(arr(x).shape, dtype=np.int64)
    start, end = c.a("start", 0), c.a("end")
    return shape[start:end]


# ------------------------------------------------------------------------------ shape ops
def _apply_shape(x, shape):
    return F.reshape(x, tuple(shape)) if isinstance(x, Tensor) else np.reshape(x, shape)


@op("Reshape")
def _reshape(c, x, shape):
    target = ints(shape)
    if not c.a("allowzero", 0):
        target = [arr(x).shape[i] if d == 0 else d for i, d in enumerate(target)]
    return _apply_shape(x, target)


@op("Flatten")
def _flatten(c, x):
    shape = arr(x).shape
    axis = c.a("axis", 1) % (len(shape) or 1) if c.a("axis", 1) != len(shape) else len(shape)
    return _apply_shape(x, (int(np.prod(shape[:axis])), int(np.prod(shape[axis:]))))


@op("Transpose")
def _transpose(c, x):
    perm = c.a("perm") or list(reversed(range(arr(x).ndim)))
    return F.permute(x, *perm) if isinstance(x, Tensor) else np.transpose(x, perm)


@op("Squeeze")
def _squeeze(c, x, axes=None):
    shape = arr(x).shape
    ax = axes_of(c, axes)
    ax = [i for i, d in enumerate(shape) if d == 1] if ax is None else \
        [a % len(shape) for a in ax]
    return _apply_shape(x, [d for i, d in enumerate(shape) if i not in ax])


@op("Unsqueeze")
def _unsqueeze(c, x, axes=None):
    shape = list(arr(x).shape)
    ax = sorted(a % (len(shape) + len(axes_of(c, axes))) for a in axes_of(c, axes))
    for a in ax:
        shape.insert(a, 1)
    return _apply_shape(x, shape)


@op("Concat")
def _concat(c, *xs):
    axis = c.a("axis")
    if any(isinstance(x, Tensor) for x in xs):
        like = next(x for x in xs if isinstance(x, Tensor))
        return F.cat([as_tensor(x, like) for x in xs], dim=axis)
    return np.concatenate(xs, axis=axis)


def _index(x, index):
    return F.getitem(x, index) if isinstance(x, Tensor) else np.asarray(x)[index]


@op("Gather")
def _gather(c, x, indices):
    axis = c.a("axis", 0) % arr(x).ndim
    idx = arr(indices).astype(np.int64)
    idx = np.where(idx < 0, idx + arr(x).shape[axis], idx)
    return _index(x, (slice(None),) * axis + (idx,))


@op("Slice")
def _slice(c, x, starts=None, ends=None, axes=None, steps=None):
    nd = arr(x).ndim
    starts = ints(starts) if starts is not None else c.a("starts")
    ends = ints(ends) if ends is not None else c.a("ends")
    axes = ints(axes) if axes is not None else c.a("axes") or list(range(len(starts)))
    steps = ints(steps) if steps is not None else [1] * len(starts)
    index = [slice(None)] * nd
    for s, e, a, st in zip(starts, ends, axes, steps):
        n = arr(x).shape[a]
        s, e = (max(-n - 1, min(s, n)), max(-n - 1, min(e, n)))
        index[a % nd] = slice(s if s >= -n else (None if st < 0 else 0),
                              e if e >= -n else (None if st < 0 else 0), st)
    return _index(x, tuple(index))


@op("Expand")
def _expand(c, x, shape):
    target = np.broadcast_shapes(arr(x).shape, check_size(ints(shape), "Expand"))
    if isinstance(x, Tensor):
        return F.add(x, np.zeros(target, dtype=x.dtype))
    return np.broadcast_to(x, target).copy()


@op("Split")
def _split(c, x, split=None):
    axis = c.a("axis", 0) % arr(x).ndim
    n = arr(x).shape[axis]
    sizes = ints(split) if split is not None else c.a("split")
    if not sizes:
        parts = c.a("num_outputs") or len(c.node.outputs)
        size = -(-n // parts)
        sizes = [min(size, n - k * size) for k in range(parts)]
    bounds = [int(b) for b in np.cumsum([0, *sizes])]
    return tuple(_index(x, (slice(None),) * axis + (slice(a, b),))
                 for a, b in itertools.pairwise(bounds))


# ----------------------------------------------------------------------------- reductions
def _reduce(fn, npfn):
    def run(c, x, axes=None):
        ax = axes_of(c, axes)
        keep = bool(c.a("keepdims", 1))
        if not ax:
            if c.a("noop_with_empty_axes", 0):
                return x
            ax = list(range(arr(x).ndim))
        ax = tuple(a % arr(x).ndim for a in ax)
        if isinstance(x, Tensor):
            return fn(x, dim=ax, keepdim=keep)
        return npfn(x, axis=ax, keepdims=keep)
    return run


OPS.update(ReduceSum=_reduce(F.sum, np.sum), ReduceMean=_reduce(F.mean, np.mean),
           ReduceMax=_reduce(F.amax, np.max), ReduceMin=_reduce(F.amin, np.min))


@op("Sum", "Mean")
def _variadic_sum(c, *xs):
    out = xs[0]
    for x in xs[1:]:
        out = OPS["Add"](c, out, x)
    return F.div(out, float(len(xs))) if c.node.op_type == "Mean" else out
