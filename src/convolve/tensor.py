"""Tensor: an ndarray with a gradient and a link to the op that made it.

``Tensor.backward`` hands the graph to ``autograd.py``, which walks it; gradients
accumulate into ``.grad`` of leaf tensors that require them, as plain NumPy arrays.
"""

from __future__ import annotations

import importlib

import numpy as np

from . import dtypes, grad_mode
from .tensor_methods import Size, TensorMethods

_FLOAT_KINDS = ("f",)


def _as_array(data, dtype=None) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        return np.array(data, dtype=dtypes.as_dtype(dtype))
    arr = np.array(data)
    if arr.dtype == object:
        raise TypeError(f"tensor: data must be numbers, nested lists of numbers or an array, "
                        f"received {type(data).__name__} holding ragged or non-numeric items")
    # PyTorch's inference: NumPy arrays and scalars keep their dtype; Python floats become
    # float32 (the default dtype), ints int64, bools bool.
    want = dtypes.infer_dtype(arr, data)
    return arr if arr.dtype == want else arr.astype(want)


class Tensor(TensorMethods):
    """A NumPy array that records the ops applied to it for reverse-mode autograd.

    NumPy arrays keep their dtype; Python floats become float32, ints int64 and
    bools bool, as in PyTorch (pass ``dtype=`` to choose).
    """

    __slots__ = ("__weakref__", "_ctx", "data", "grad", "requires_grad")
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, dtype=None):
        self.data = _as_array(data, dtype)
        if requires_grad and self.data.dtype.kind not in _FLOAT_KINDS:
            raise dtypes.DtypeError(
                f"Tensor: only floating tensors can require gradients, received dtype {self.data.dtype}"
            )
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._ctx = None

    # ------------------------------------------------------------------ basics
    @property
    def shape(self) -> Size:
        return Size(self.data.shape)

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self._ctx is None

    @property
    def T(self) -> Tensor:
        return self.transpose()

    def __len__(self) -> int:
        return len(self.data)

    def numel(self) -> int:
        return self.data.size

    def dim(self) -> int:
        return self.data.ndim

    def numpy(self) -> np.ndarray:
        return self.data

    def tolist(self):
        return self.data.tolist()

    def detach(self) -> Tensor:
        return _wrap(self.data)  # shares the array, as PyTorch's detach shares storage

    def requires_grad_(self, mode: bool = True) -> Tensor:
        if mode and self.data.dtype.kind not in _FLOAT_KINDS:
            raise dtypes.DtypeError(f"requires_grad_: tensor has non-floating dtype {self.data.dtype}")
        self.requires_grad = bool(mode)
        return self

    def zero_grad(self) -> None:
        self.grad = None

    def astype(self, dtype) -> Tensor:
        return _E.cast(self, dtype)

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="tensor(")
        extra = ""
        if self.data.dtype not in (np.float32, np.int64, np.bool_):  # PyTorch's defaults
            extra += f", dtype={self.data.dtype}"
        if self._ctx is not None:
            extra += f", grad_fn=<{self._ctx.fn.__name__}Backward>"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    def __array__(self, dtype=None, copy=None):
        if dtype is None:
            return self.data
        return self.data.astype(dtype)

    def __hash__(self):
        return id(self)

    # --------------------------------------------------------------- autograd
    def backward(self, gradient=None, retain_graph: bool = False) -> None:
        """Accumulate d(self)/d(leaf) into every leaf's ``.grad``.

        ``gradient`` defaults to 1 for a one-element tensor; otherwise it must
        have this tensor's shape.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: tensor does not require grad and has no grad_fn "
                "(was it created under no_grad, or from inputs without requires_grad?)"
            )
        if gradient is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: grad can be implicitly created only for scalar outputs, "
                    f"received shape {self.shape}; pass gradient="
                )
            gradient = np.ones_like(self.data)
        else:
            gradient = np.asarray(gradient.data if isinstance(gradient, Tensor) else gradient,
                                  dtype=self.data.dtype)
            if gradient.shape != self.shape:
                raise ValueError(
                    f"backward: gradient has shape {gradient.shape}, expected {self.shape}"
                )
        _autograd.run_backward(self, gradient, retain_graph)

    # ------------------------------------------------------------- operators
    def __add__(self, other):
        return _E.add(self, other)

    def __radd__(self, other):
        return _E.add(other, self)

    def __sub__(self, other):
        return _E.sub(self, other)

    def __rsub__(self, other):
        return _E.sub(other, self)

    def __mul__(self, other):
        return _E.mul(self, other)

    def __rmul__(self, other):
        return _E.mul(other, self)

    def __truediv__(self, other):
        return _E.div(self, other)

    def __rtruediv__(self, other):
        return _E.div(other, self)

    def __pow__(self, other):
        return _E.pow(self, other)

    def __rpow__(self, other):
        return _E.pow(other, self)

    def __neg__(self):
        return _E.neg(self)

    def __matmul__(self, other):
        return _L.matmul(self, other)

    def __rmatmul__(self, other):
        return _L.matmul(other, self)

    def __getitem__(self, index):
        return _S.getitem(self, index)

    def _cmp(self, other, op):
        o = other.data if isinstance(other, Tensor) else other
        return _wrap(op(self.data, o))

    def __eq__(self, other):  # elementwise, as in PyTorch
        return self._cmp(other, np.equal)

    def __ne__(self, other):
        return self._cmp(other, np.not_equal)

    def __lt__(self, other):
        return self._cmp(other, np.less)

    def __le__(self, other):
        return self._cmp(other, np.less_equal)

    def __gt__(self, other):
        return self._cmp(other, np.greater)

    def __ge__(self, other):
        return self._cmp(other, np.greater_equal)

    def eq(self, other):
        return self._cmp(other, np.equal)

    # ------------------------------------------------------------ reductions
    def sum(self, dim=None, keepdim: bool = False, *, axis=None):
        return _R.sum(self, dim, keepdim, axis=axis)

    def mean(self, dim=None, keepdim: bool = False, *, axis=None):
        return _R.mean(self, dim, keepdim, axis=axis)

    def max(self, dim=None, keepdim: bool = False, *, axis=None):
        return _R.max(self, dim, keepdim, axis=axis)

    def min(self, dim=None, keepdim: bool = False, *, axis=None):
        return _R.min(self, dim, keepdim, axis=axis)

    def argmax(self, dim=None, keepdim: bool = False, *, axis=None):
        return _R.argmax(self, dim, keepdim, axis=axis)

    # ----------------------------------------------------------------- shape
    def reshape(self, *shape):
        return _S.reshape(self, *shape)

    view = reshape

    def transpose(self, *axes):
        return _S.transpose(self, *axes)

    def permute(self, *axes):
        return _S.permute(self, *axes)

    def flatten(self, start_dim: int = 0, end_dim: int = -1):
        return _S.flatten(self, start_dim, end_dim)

    # ------------------------------------------------------------ elementwise
    def exp(self):
        return _E.exp(self)

    def log(self):
        return _E.log(self)

    def sqrt(self):
        return _E.sqrt(self)

    def abs(self):
        return _E.abs(self)

    def clip(self, min=None, max=None):
        return _E.clip(self, min, max)

    clamp = clip

    def relu(self):
        return _E.relu(self)

    def sigmoid(self):
        return _E.sigmoid(self)

    def tanh(self):
        return _E.tanh(self)


def _wrap(arr) -> Tensor:
    """A constant Tensor around ``arr`` without copying."""
    t = Tensor.__new__(Tensor)
    t.data = np.asarray(arr)
    t.grad = None
    t.requires_grad = False
    t._ctx = None
    return t


def tensor(data, requires_grad: bool = False, dtype=None, *, device=None,
           pin_memory: bool = False) -> Tensor:
    """Make a Tensor from array-like ``data`` (copied).

    NumPy arrays keep their dtype; Python floats become float32, ints int64 and bools
    bool, as in PyTorch; ``dtype`` overrides both. ``device`` must be the CPU.
    """
    if device is not None:
        from .device import check

        check(device, "tensor")
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# The graph walk and the op families, bound late to break the import cycle (they import Tensor).
from . import autograd as _autograd
from .autograd import unbroadcast  # noqa: F401 - its old home
from .functional import elementwise as _E

_L = importlib.import_module(".functional.linear", __package__)  # F.linear shadows the module
from .functional import reduce as _R
from .functional import shape as _S

_ = grad_mode  # re-exported for convenience
