"""Export a convolve model to ONNX with the ``onnx`` package's helpers (no PyTorch involved).

``to_onnx(model, input_shape)`` builds an ``onnx.ModelProto`` for a model made of
(possibly nested) ``Sequential`` containers of supported layers, in inference mode
(BatchNorm uses its running statistics, Dropout is the identity). The graph has one
float32 input ``"input"`` of shape ``("N", *input_shape)`` with a dynamic batch dim and
one output ``"output"``. ``export(model, input_shape, path)`` also writes it, atomically:
the whole model is built and passes ``onnx.checker.check_model(full_check=True)`` in
memory first, then goes through :func:`convolve._fileio.atomic_write` (a temporary file
in the target's directory, ``os.replace``-d over ``path``), so a failed export leaves
``path`` as it was and a symbolic link or special file at ``path`` is refused.

The per-layer translations live in :mod:`convolve._onnx_layers`.

Note: this module is ``convolve.onnx``; ``import onnx`` inside it is an absolute
import and resolves to the top-level ``onnx`` package.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from ._fileio import atomic_write, check_destination

__all__ = ["MIN_OPSET", "ExportError", "export", "load", "to_onnx"]

MIN_OPSET = 13  # Softmax with a single axis, Squeeze/Unsqueeze/Split with axes as inputs


class ExportError(ValueError):
    """A model, layer or setting that cannot be expressed in ONNX (message names which)."""


def require_onnx():
    """Import and return the ``onnx`` package, or explain which extra provides it."""
    try:
        import onnx
    except ImportError:
        raise ImportError("convolve.onnx needs the 'onnx' package, which is not installed; "
                          "install the extra: pip install 'convolve[onnx]'") from None
    return onnx


# ------------------------------------------------------------------------ graph builder
class GraphBuilder:
    """Collects nodes and initializers; every op gets a fresh, readable output name."""

    def __init__(self, onnx, opset: int, dtype=np.float32):
        self.onnx, self.opset, self.dtype = onnx, opset, np.dtype(dtype)
        self.nodes, self.initializers = [], []
        self.where = "model"  # "layer 3 (Conv2d)", set while a layer is translated
        self.scope = "model"
        self._count = 0

    def fresh(self, hint: str) -> str:
        self._count += 1
        return f"{self.scope}/{hint}_{self._count}"

    def const(self, value, hint: str = "const", dtype=None) -> str:
        """An initializer holding ``value`` (float arrays are cast to the graph's dtype)."""
        arr = np.asarray(value)
        if dtype is not None:
            arr = arr.astype(dtype)
        elif arr.dtype.kind == "f":
            arr = arr.astype(self.dtype)
        name = self.fresh(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.ascontiguousarray(arr), name))
        return name

    def ints(self, values, hint: str = "shape") -> str:
        """A 1-D int64 initializer (shapes, pads, axes)."""
        return self.const(np.asarray(list(values), dtype=np.int64), hint, dtype=np.int64)

    def op(self, op_type: str, inputs, hint: str | None = None, **attrs) -> str:
        """Append one node with a single output; returns the output's name."""
        out = self.fresh(hint or op_type.lower())
        attrs = {k: v for k, v in attrs.items() if v is not None}
        name = out.replace("/", "_")
        self.nodes.append(self.onnx.helper.make_node(op_type, list(inputs), [out], name=name,
                                                     **attrs))
        return out

    def require_opset(self, minimum: int, what: str) -> None:
        if self.opset < minimum:
            raise ExportError(f"export: {self.where}: {what} needs ONNX opset >= {minimum}, "
                              f"received opset={self.opset}")

    def fail(self, why: str):
        raise ExportError(f"export: {self.where}: {why}")


# ------------------------------------------------------------------------------ walking
def _leaves(module, prefix: str = ""):
    """(dotted name, layer) of every non-container layer, in execution order."""
    from .nn import Sequential

    if isinstance(module, Sequential):
        for name, child in module.named_children():
            yield from _leaves(child, f"{prefix}.{name}" if prefix else name)
    else:
        yield prefix or "0", module


def _check_args(model, input_shape, opset, onnx) -> tuple:
    from .nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"export: model must be a convolve.nn.Module, received "
                        f"{type(model).__name__}")
    if isinstance(input_shape, numbers.Integral):
        input_shape = (input_shape,)
    if not isinstance(input_shape, (tuple, list)) or not input_shape or not all(
            isinstance(d, numbers.Integral) and not isinstance(d, bool) and d > 0
            for d in input_shape):
        raise ValueError(f"export: input_shape must be a non-empty tuple of positive ints "
                         f"(one sample, without the batch dim), received {input_shape!r}")
    latest = onnx.defs.onnx_opset_version()
    if not isinstance(opset, numbers.Integral) or isinstance(opset, bool) \
            or not MIN_OPSET <= opset <= latest:
        raise ValueError(f"export: opset must be an int in [{MIN_OPSET}, {latest}], "
                         f"received opset={opset!r}")
    return tuple(int(d) for d in input_shape), int(opset)


def _layer_shapes(model, leaves, input_shape, dtype) -> list:
    """Run each layer in eval mode on a zero batch of 1; returns [(in_shape, out_shape)].

    This validates ``input_shape`` with the layers' own error messages and gives every
    translation its exact shapes. Training flags are restored afterwards.
    """
    from .grad_mode import no_grad
    from .tensor import Tensor

    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    shapes, x = [], Tensor(np.zeros((1, *input_shape), dtype=dtype))
    try:
        with no_grad():
            for name, layer in leaves:
                try:
                    y = layer(x)
                except (ValueError, TypeError) as err:
                    raise ExportError(f"export: layer {name} ({type(layer).__name__}) rejects "
                                      f"input of shape {x.shape}: {err}") from err
                if not isinstance(y, Tensor):
                    hint = " (return_indices=True)" if getattr(layer, "return_indices", 0) else ""
                    raise ExportError(f"export: layer {name} ({type(layer).__name__}) returns a "
                                      f"{type(y).__name__}{hint}, not one tensor; it cannot be "
                                      f"exported")
                shapes.append((tuple(x.shape), tuple(y.shape)))
                x = y
    finally:
        for m, mode in modes:
            object.__setattr__(m, "training", mode)
    return shapes


def _rename_output(g: GraphBuilder, last: str) -> None:
    """Give the final tensor the graph-output name "output"."""
    if last == "input":
        g.nodes.append(g.onnx.helper.make_node("Identity", ["input"], ["output"],
                                               name="output_identity"))
        return
    for node in g.nodes:
        node.output[:] = ["output" if o == last else o for o in node.output]
        node.input[:] = ["output" if i == last else i for i in node.input]


def _value_info(onnx, name: str, shape: tuple):
    dims = ["N", *shape[1:]]
    return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)


# --------------------------------------------------------------------------- public API
def to_onnx(model, input_shape, opset: int = 17, check: bool = True):
    """Build the ONNX model of ``model`` for samples of ``input_shape`` (no batch dim).

    Input "input" (N, *input_shape) float32, output "output" (N, *out); N is dynamic.
    Raises ExportError naming the layer for anything ONNX cannot express at ``opset``.
    """
    onnx = require_onnx()
    from ._onnx_layers import translator_for

    input_shape, opset = _check_args(model, input_shape, opset, onnx)
    leaves = list(_leaves(model))
    translators = []
    for name, layer in leaves:
        fn = translator_for(layer)
        if fn is None:
            raise ExportError(f"export: layer {name} ({type(layer).__name__}) is not supported "
                              f"for ONNX export")
        translators.append(fn)
    params = [p.data.dtype for p in model.parameters() if p.data.dtype.kind == "f"]
    shapes = _layer_shapes(model, leaves, input_shape, params[0] if params else np.float32)
    g = GraphBuilder(onnx, opset)
    x = "input"
    for (name, layer), fn, (in_shape, out_shape) in zip(leaves, translators, shapes):
        g.where, g.scope = f"layer {name} ({type(layer).__name__})", f"{name}"
        x = fn(g, layer, x, in_shape, out_shape)
    _rename_output(g, x)
    out_shape = shapes[-1][1] if shapes else (1, *input_shape)
    graph = onnx.helper.make_graph(
        g.nodes, "convolve", [_value_info(onnx, "input", (1, *input_shape))],
        [_value_info(onnx, "output", out_shape)], initializer=g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    from . import __version__

    proto = onnx.helper.make_model(graph, opset_imports=opsets, producer_name="convolve",
                                   producer_version=__version__,
                                   ir_version=onnx.helper.find_min_ir_version_for(opsets))
    if check:
        try:
            onnx.checker.check_model(proto, full_check=True)
        except Exception as err:  # checker and shape inference raise several types
            raise ExportError(f"export: the ONNX graph failed onnx.checker: {err}") from err
    return proto


def export(model, input_shape, path, opset: int = 17) -> Path:
    """Write ``model`` as an ONNX file at ``path`` (see :func:`to_onnx`); returns the path.

    Nothing is written unless the whole model translates and passes the checker; the file
    appears atomically (temporary file in the same directory, fsync, ``os.replace``), by
    :func:`convolve._fileio.atomic_write`: a symbolic link, FIFO, device or directory at
    ``path`` is refused (:class:`convolve._fileio.UnsafeWriteError`) and left as it is.
    """
    check_destination(path)  # fail before translating, not after
    data = to_onnx(model, input_shape, opset).SerializeToString()
    return atomic_write(path, data)


# ------------------------------------------------------------------------------- import
def load(source, **limits):
    """Load an ONNX model (path, bytes or ModelProto) as a trainable convolve Module.

    See :mod:`convolve._onnx_import` (bounds, which initializers become Parameters).
    """
    from ._onnx_import import load as _load

    return _load(source, **limits)


def __getattr__(name):
    if name == "backend":  # convolve.onnx.backend: the ONNX Backend over the importer
        from . import _onnx_backend

        return _onnx_backend
    if name == "OnnxImportError":
        from ._onnx_import import OnnxImportError

        return OnnxImportError
    raise AttributeError(f"module 'convolve.onnx' has no attribute {name!r}")
