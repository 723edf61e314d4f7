"""PyTorch's Tensor methods beyond arithmetic: sizes, conversions to Python numbers and
dtypes, views, devices. ``Tensor`` inherits them from :class:`TensorMethods`."""

from __future__ import annotations

import importlib
import math

import numpy as np

from . import device as _device
from . import dtypes


class Size(tuple):
    """A shape, as ``torch.Size``: a tuple of ints with ``numel()``."""

    __slots__ = ()

    def numel(self) -> int:
        return math.prod(self)

    def __getitem__(self, index):
        out = tuple.__getitem__(self, index)
        return Size(out) if isinstance(index, slice) else out

    def __repr__(self) -> str:
        return f"convolve.Size({list(self)})"

    def __str__(self) -> str:  # messages and print() show the plain tuple: (2, 3)
        return tuple.__repr__(self)


class ConversionError(ValueError, RuntimeError):
    """A tensor that is not one element was converted to a Python number (PyTorch raises
    ValueError or RuntimeError, depending on the call: this is both)."""


class DimError(IndexError, ValueError):
    """A dim outside a tensor's rank (an IndexError, as in PyTorch, and a ValueError)."""


# torch.Tensor.type()'s names for each dtype
_TYPE_NAMES = {"float32": "FloatTensor", "float64": "DoubleTensor", "float16": "HalfTensor",
               "int64": "LongTensor", "int32": "IntTensor", "int16": "ShortTensor",
               "int8": "CharTensor", "uint8": "ByteTensor", "bool": "BoolTensor"}
_TYPE_DTYPES = {f"torch.{v}": k for k, v in _TYPE_NAMES.items()}


def _wrap(arr):
    from .tensor import _wrap as wrap

    return wrap(arr)


def _ops(name):
    return importlib.import_module(f".functional.{name}", __package__)


class TensorMethods:
    """Methods mixed into Tensor (which holds ``data``, an ndarray)."""

    __slots__ = ()

    # ----------------------------------------------------------- sizes
    def size(self, dim=None):
        """The shape as a :class:`Size`, or the length of dim ``dim``."""
        if dim is None:
            return Size(self.data.shape)
        nd = self.data.ndim
        if not isinstance(dim, (int, np.integer)) or not -max(nd, 1) <= dim < max(nd, 1):
            raise DimError(f"size: dim {dim!r} is out of range for a tensor of rank {nd}")
        return self.data.shape[dim] if nd else 1

    def ndimension(self) -> int:
        return self.data.ndim

    def nelement(self) -> int:
        return self.data.size

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    # --------------------------------------------- one-element conversions
    def _one(self, op: str):
        if self.data.size != 1:
            raise ConversionError(f"{op}: only one-element tensors can be converted to Python "
                                  f"scalars, received shape {tuple(self.data.shape)}")
        return self.data.reshape(()).item()

    def item(self):
        return self._one("item")

    def __float__(self):
        return float(self._one("float"))

    def __int__(self):
        return int(self._one("int"))

    def __bool__(self):
        if self.data.size != 1:
            raise ConversionError(f"bool: the truth value of a tensor of shape "
                                  f"{tuple(self.data.shape)} is ambiguous (use .any() or .all())")
        return bool(self.data.reshape(()))

    def __index__(self):
        if self.data.size != 1 or self.data.dtype.kind not in "iub":
            raise TypeError(f"__index__: only one-element integer tensors can be used as an "
                            f"index, received shape {tuple(self.data.shape)} {self.data.dtype}")
        return int(self.data.reshape(()))

    def __format__(self, spec):
        if self.data.size == 1 and spec:
            return format(self.data.reshape(()).item(), spec)
        return format(repr(self), spec)

    # ------------------------------------------------------------ dtypes
    def type(self, dtype=None):
        """With no argument, PyTorch's type name ('torch.FloatTensor'); else cast to ``dtype``."""
        if dtype is None:
            return f"torch.{_TYPE_NAMES.get(self.data.dtype.name, 'Tensor')}"
        if isinstance(dtype, str) and dtype in _TYPE_DTYPES:
            dtype = _TYPE_DTYPES[dtype]
        return self.astype(dtypes.as_dtype(dtype, "type: dtype"))

    def long(self):
        return self.astype(np.int64)

    def int(self):
        return self.astype(np.int32)

    def bool(self):
        return self.astype(np.bool_)

    def half(self):
        return self.astype(np.float16)

    # ----------------------------------------------------------- devices
    @property
    def device(self):
        return _device.CPU

    @property
    def is_cuda(self) -> bool:
        return False

    def to(self, *args, **kwargs):
        """to(device), to(dtype), to(tensor), to(device, dtype): the CPU is the only device."""
        dtype, copy = _device.parse_to("Tensor.to", args, kwargs)
        out = self if dtype is None else self.astype(dtype)
        return out.clone() if copy and out is self else out

    def cpu(self):
        return self

    def cuda(self, device=None, non_blocking: bool = False):
        _device.check("cuda" if device is None else device, "Tensor.cuda")

    # ------------------------------------------------------------- views
    def clone(self):
        return _ops("shape").clone(self)

    def contiguous(self):
        return self

    def view_as(self, other):
        return self.reshape(other.data.shape)

    reshape_as = view_as

    def unsqueeze(self, dim: int):
        return _ops("shape").unsqueeze(self, dim)

    def squeeze(self, dim=None):
        return _ops("shape").squeeze(self, dim)

    def t(self):
        if self.data.ndim > 2:
            raise ValueError(f"t: expects a tensor of rank <= 2, received shape "
                             f"{tuple(self.data.shape)} (use transpose(d0, d1))")
        return self.transpose() if self.data.ndim == 2 else self

    # ------------------------------------------------------ arithmetic
    def add(self, other, *, alpha=1):
        return self + (other if alpha == 1 else other * alpha)

    def sub(self, other, *, alpha=1):
        return self - (other if alpha == 1 else other * alpha)

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self ** exponent

    def neg(self):
        return -self

    def matmul(self, other):
        return self @ other

    mm = matmul

    # ------------------------------------------------ comparisons, reductions
    def ne(self, other):
        return self.__ne__(other)

    def lt(self, other):
        return self.__lt__(other)

    def le(self, other):
        return self.__le__(other)

    def gt(self, other):
        return self.__gt__(other)

    def ge(self, other):
        return self.__ge__(other)

    def argmin(self, dim=None, keepdim: bool = False, *, axis=None):
        return _ops("reduce").argmin(self, dim, keepdim, axis=axis)

    def amax(self, dim=None, keepdim: bool = False, *, axis=None):
        return _ops("reduce").amax(self, dim, keepdim, axis=axis)

    def amin(self, dim=None, keepdim: bool = False, *, axis=None):
        return _ops("reduce").amin(self, dim, keepdim, axis=axis)

    def var(self, dim=None, unbiased=None, keepdim: bool = False, **kw):
        return _ops("reduce").var(self, dim, unbiased, keepdim, **kw)

    def std(self, dim=None, unbiased=None, keepdim: bool = False, **kw):
        return _ops("reduce").std(self, dim, unbiased, keepdim, **kw)

    def softmax(self, dim):
        return _ops("loss").softmax(self, dim)

    def log_softmax(self, dim):
        return _ops("loss").log_softmax(self, dim)

    # ------------------------------------------------ logical (bool / int)
    def _bitwise(self, other, fn):
        o = other.data if isinstance(other, TensorMethods) else other
        return _wrap(fn(self.data, o))

    def __and__(self, other):
        return self._bitwise(other, np.bitwise_and)

    def __or__(self, other):
        return self._bitwise(other, np.bitwise_or)

    def __xor__(self, other):
        return self._bitwise(other, np.bitwise_xor)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__

    def __invert__(self):
        return _wrap(np.invert(self.data))

    def logical_not(self):
        return _wrap(np.logical_not(self.data))

    def any(self):
        return _wrap(np.any(self.data))

    def all(self):
        return _wrap(np.all(self.data))

    # ---------------------------------------------------------- in place
    def _check_in_place(self, op: str):
        from .grad_mode import is_grad_enabled

        if self.requires_grad and (self._ctx is not None or is_grad_enabled()):
            raise RuntimeError(f"{op}: cannot write in place into a tensor that requires grad "
                               f"(wrap the write in convolve.no_grad() for a leaf, or build a "
                               f"new tensor, e.g. with convolve.where)")

    def __setitem__(self, index, value):
        self._check_in_place("__setitem__")
        from .functional.shape import _unwrap_index

        self.data[_unwrap_index(index)] = value.data if isinstance(value, TensorMethods) \
            else value

    def _fill(self, op: str, value):
        self._check_in_place(op)
        self.data[...] = value.data if isinstance(value, TensorMethods) else value
        return self

    def fill_(self, value):
        return self._fill("fill_", value)

    def zero_(self):
        return self._fill("zero_", 0)

    def _in_place(self, op: str, fn, other, **kw):
        self._check_in_place(op)
        o = other.data if isinstance(other, TensorMethods) else other
        fn(self.data, o, out=self.data, casting="same_kind", **kw)
        return self

    def add_(self, other, *, alpha=1):
        return self._in_place("add_", np.add, other if alpha == 1 else other * alpha)

    def sub_(self, other, *, alpha=1):
        return self._in_place("sub_", np.subtract, other if alpha == 1 else other * alpha)

    def mul_(self, other):
        return self._in_place("mul_", np.multiply, other)

    def div_(self, other):
        return self._in_place("div_", np.true_divide, other)

    def copy_(self, src):
        self._check_in_place("copy_")
        np.copyto(self.data, src.data if isinstance(src, TensorMethods) else src,
                  casting="unsafe")
        return self

    def clamp_(self, min=None, max=None):
        self._check_in_place("clamp_")
        np.clip(self.data, min, max, out=self.data)
        return self

    def __getattr__(self, name):  # runs only for attributes Tensor does not have
        hint = _NOT_PROVIDED.get(name)
        if hint is None:
            raise AttributeError(f"'Tensor' object has no attribute {name!r}")
        raise AttributeError(f"Tensor.{name}: not provided ({hint})")


_NOT_PROVIDED = {
    "normal_": "initialise with convolve.nn.init.normal_(tensor, mean, std)",
    "uniform_": "initialise with convolve.nn.init.uniform_(tensor, a, b)",
    "data_ptr": "a Tensor holds a NumPy array: use t.numpy().ctypes.data",
    "storage": "a Tensor holds a NumPy array: use t.numpy()",
    "untyped_storage": "a Tensor holds a NumPy array: use t.numpy()",
    "pin_memory": "there is no device memory to pin; use the tensor as it is",
    "share_memory_": "use t.numpy() with multiprocessing.shared_memory",
    "register_hook": "tensor hooks are not provided; use Module.register_forward_hook",
    "grad_fn": "the op that made a tensor is not exposed; check t.requires_grad and t.is_leaf",
    "to_sparse": "sparse tensors are not provided; use dense tensors",
}
