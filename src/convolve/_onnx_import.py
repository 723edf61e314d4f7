"""Load an ONNX model as a trainable ``convolve.nn.Module`` (``convolve.onnx.load``).

The file is parsed with the ``onnx`` package's protobuf parser (no code runs), within
bounds: a file-size cap, a node-count cap, and every initializer's and Constant's
declared size is checked against its bytes and an element cap before anything is
allocated. External-data tensors are refused (they would make the loader read other
files). Nodes are put in topological order (a cycle is an error naming a node on it).

:class:`OnnxModule` keeps float initializers that feed a weight slot (Conv/Gemm/MatMul
weights, biases, BatchNorm scale/bias, Add operands) as Parameters and every other
initializer (shapes, running statistics, scalar constants) as a buffer; ``forward``
evaluates the graph with the ops of :mod:`convolve._onnx_ops`. A loaded model starts in
eval mode (BatchNormalization uses its running statistics, Dropout is the identity);
call ``.train()`` to fine-tune.
"""

from __future__ import annotations

import os
import re
from collections import deque
from pathlib import Path

import numpy as np

from .nn.module import Module, Parameter
from .tensor import Tensor

MAX_FILE_BYTES = 2 * 1024 ** 3 - 1  # protobuf's own limit
MAX_NODES = 100_000
MAX_ELEMENTS = 1 << 28  # per declared tensor (1 GiB of float32)

# (op_type, input slot) whose float initializer is a trainable Parameter
WEIGHT_SLOTS = {("Conv", 1), ("Conv", 2), ("ConvTranspose", 1), ("ConvTranspose", 2),
                ("Gemm", 0), ("Gemm", 1), ("Gemm", 2), ("MatMul", 0), ("MatMul", 1),
                ("BatchNormalization", 1), ("BatchNormalization", 2), ("PRelu", 1),
                ("InstanceNormalization", 1), ("InstanceNormalization", 2),
                ("Add", 0), ("Add", 1)}


class OnnxImportError(ValueError):
    """A model that cannot be loaded (message names the file, node or tensor and why)."""


# ------------------------------------------------------------------------------ parsing
def _read_proto(source, onnx, max_bytes: int):
    """A ModelProto from a path, bytes or a ModelProto, with the size cap and parse errors."""
    if isinstance(source, onnx.ModelProto):
        return source, "model"
    if isinstance(source, (bytes, bytearray)):
        data, where = bytes(source), "bytes"
    elif isinstance(source, (str, os.PathLike)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"load: {path} is not a file, expected an ONNX model file")
        size = path.stat().st_size
        if size > max_bytes:
            raise OnnxImportError(f"load: {path} is {size} bytes, over the cap of {max_bytes}")
        data, where = path.read_bytes(), str(path)
    else:
        raise TypeError(f"load: expected a path, bytes or onnx.ModelProto, received "
                        f"{type(source).__name__}")
    if len(data) > max_bytes:
        raise OnnxImportError(f"load: {where} is {len(data)} bytes, over the cap of {max_bytes}")
    from google.protobuf.message import DecodeError

    proto = onnx.ModelProto()
    try:
        proto.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError) as err:
        raise OnnxImportError(f"load: {where} is not a valid ONNX model (truncated or corrupt "
                              f"protobuf: {err})") from None
    if not proto.HasField("graph"):
        raise OnnxImportError(f"load: {where} holds no graph (empty or not an ONNX model)")
    return proto, where


def tensor_to_array(t, onnx, where: str) -> np.ndarray:
    """A TensorProto's values, after checking the declared size against its data."""
    dims = [int(d) for d in t.dims]
    if any(d < 0 for d in dims):
        raise OnnxImportError(f"load: {where}: tensor {t.name!r} declares negative dims {dims}")
    count = 1
    for d in dims:
        count *= d
    if count > MAX_ELEMENTS:
        raise OnnxImportError(f"load: {where}: tensor {t.name!r} declares shape {dims} "
                              f"({count} elements), over the cap of {MAX_ELEMENTS}")
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise OnnxImportError(f"load: {where}: tensor {t.name!r} uses external data, which "
                              f"is not supported (it would read other files)")
    np_type = onnx.helper.tensor_dtype_to_np_dtype(t.data_type) if t.data_type else None
    if t.HasField("raw_data") and np_type is not None \
            and len(t.raw_data) != count * np.dtype(np_type).itemsize:
        raise OnnxImportError(f"load: {where}: tensor {t.name!r} declares shape {dims} but "
                              f"holds {len(t.raw_data)} bytes")
    try:
        return onnx.numpy_helper.to_array(t)
    except (ValueError, TypeError, KeyError) as err:
        raise OnnxImportError(f"load: {where}: tensor {t.name!r} cannot be read: {err}") from None


def _opset(proto) -> int:
    for imp in proto.opset_import:
        if imp.domain in ("", "ai.onnx"):
            return int(imp.version)
    return 1


# ------------------------------------------------------------------------------- graph
class Node:
    """One parsed node: op, inputs/outputs by name, attributes as Python values."""

    __slots__ = ("attrs", "index", "inputs", "name", "op_type", "opset", "outputs")

    def __init__(self, proto, index, opset, onnx, where):
        self.name, self.op_type, self.index, self.opset = proto.name, proto.op_type, index, opset
        self.inputs, self.outputs = list(proto.input), list(proto.output)
        self.attrs = {}
        for a in proto.attribute:
            if a.type == onnx.AttributeProto.TENSOR:
                self.attrs[a.name] = tensor_to_array(a.t, onnx, f"{where}: {self.describe()}")
            elif a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS):
                self.attrs[a.name] = None  # subgraphs: no supported op uses them
            else:
                self.attrs[a.name] = onnx.helper.get_attribute_value(a)
        for k, v in self.attrs.items():
            if isinstance(v, bytes):
                self.attrs[k] = v.decode("utf-8", "replace")

    def describe(self) -> str:
        return f"node {self.index} (name={self.name!r}, op_type={self.op_type!r})"


def toposort(nodes, available: set, where: str) -> list:
    """Kahn's algorithm; a node whose inputs nobody produces, or a cycle, is an error."""
    producers = {}
    for n in nodes:
        for o in n.outputs:
            if o:
                producers[o] = n.index
    needs = {n.index: {i for i in n.inputs if i and i not in available} for n in nodes}
    for n in nodes:
        for i in needs[n.index]:
            if i not in producers:
                raise OnnxImportError(f"load: {where}: {n.describe()} reads {i!r}, which no "
                                      f"node, input or initializer provides")
    users = {}
    for n in nodes:
        for i in needs[n.index]:
            users.setdefault(producers[i], set()).add(n.index)
    waiting = {k: len({producers[i] for i in v}) for k, v in needs.items()}
    ready = deque(n.index for n in nodes if not waiting[n.index])
    order = []
    while ready:
        k = ready.popleft()
        order.append(k)
        for u in sorted(users.get(k, ())):
            waiting[u] -= 1
            if not waiting[u]:
                ready.append(u)
    if len(order) != len(nodes):
        stuck = next(n for n in nodes if waiting[n.index])
        raise OnnxImportError(f"load: {where}: the graph has a cycle (through "
                              f"{stuck.describe()}); ONNX graphs must be acyclic")
    by_index = {n.index: n for n in nodes}
    return [by_index[k] for k in order]


def _attr_name(name: str, taken: set) -> str:
    base = re.sub(r"\W", "_", name) or "tensor"
    base = base if not base[0].isdigit() else f"t_{base}"
    out, k = base, 1
    while out in taken:
        k += 1
        out = f"{base}_{k}"
    taken.add(out)
    return out


class OnnxModule(Module):
    """An imported ONNX graph; ``forward(*inputs)`` returns one Tensor or a tuple."""

    def __init__(self, nodes, initializers, input_names, output_names, trainable, opset):
        super().__init__()
        object.__setattr__(self, "_nodes", nodes)
        object.__setattr__(self, "_input_names", input_names)
        object.__setattr__(self, "_output_names", output_names)
        object.__setattr__(self, "opset", opset)
        slots, taken = {}, set()
        for name, arr in initializers.items():
            attr = _attr_name(name, taken)
            slots[name] = attr
            if name in trainable:
                self.register_parameter(attr, Parameter(arr, dtype=arr.dtype))
            else:
                self.register_buffer(attr, Tensor(arr, dtype=arr.dtype))
        object.__setattr__(self, "_slots", slots)
        self.eval()

    @property
    def input_names(self) -> list:
        return list(self._input_names)

    @property
    def initializer_names(self) -> dict:
        """ONNX initializer name -> this module's parameter/buffer name."""
        return dict(self._slots)

    @property
    def output_names(self) -> list:
        return list(self._output_names)

    def forward(self, *inputs):
        from ._onnx_ops import run_node, to_value

        if len(inputs) != len(self._input_names):
            raise ValueError(f"OnnxModule: expected {len(self._input_names)} inputs "
                             f"{self._input_names}, received {len(inputs)}")
        env = {name: to_value(getattr(self, attr)) for name, attr in self._slots.items()}
        env.update((n, to_value(x)) for n, x in zip(self._input_names, inputs))
        for node in self._nodes:
            args = [env[i] if i else None for i in node.inputs]
            outs = run_node(self, node, args)
            for o, v in zip(node.outputs, outs):
                if o:
                    env[o] = v
        result = tuple(env[o] for o in self._output_names)
        return result[0] if len(result) == 1 else result


def _trainable(nodes, initializers) -> set:
    names = set()
    for n in nodes:
        for slot, i in enumerate(n.inputs):
            arr = initializers.get(i)
            if arr is not None and arr.dtype.kind == "f" and arr.ndim >= 1 \
                    and (n.op_type, slot) in WEIGHT_SLOTS:
                names.add(i)
    return names


def load(source, max_bytes: int = MAX_FILE_BYTES, max_nodes: int = MAX_NODES) -> OnnxModule:
    """Load an ONNX model (path, bytes or ModelProto) as an :class:`OnnxModule` in eval mode.

    Raises OnnxImportError (a ValueError) naming the node for an unsupported operator,
    and for truncated/corrupt files, cycles, oversized tensors or too many nodes.
    """
    from ._onnx_ops import supported
    from .onnx import require_onnx

    onnx = require_onnx()
    proto, where = _read_proto(source, onnx, max_bytes)
    graph, opset = proto.graph, _opset(proto)
    if len(graph.node) > max_nodes:
        raise OnnxImportError(f"load: {where}: {len(graph.node)} nodes, over the cap of "
                              f"{max_nodes}")
    initializers = {t.name: tensor_to_array(t, onnx, where) for t in graph.initializer}
    nodes = [Node(p, k, opset, onnx, where) for k, p in enumerate(graph.node)]
    for n in nodes:
        if n.op_type not in supported() or not _domain_ok(graph.node[n.index]):
            raise OnnxImportError(f"load: {where}: {n.describe()} is not supported "
                                  f"(operator {n.op_type!r}, opset {opset})")
    inputs = [i.name for i in graph.input if i.name not in initializers]
    nodes = toposort(nodes, set(inputs) | set(initializers), where)
    outputs = [o.name for o in graph.output]
    known = set(inputs) | set(initializers) | {o for n in nodes for o in n.outputs}
    for o in outputs:
        if o not in known:
            raise OnnxImportError(f"load: {where}: graph output {o!r} is not produced")
    module = OnnxModule(nodes, initializers, inputs, outputs,
                        _trainable(nodes, initializers), opset)
    object.__setattr__(module, "spec", {"input_shape": _sample_shape(graph, inputs)})
    return module


def _sample_shape(graph, inputs):
    """The first input's declared per-sample shape (dims after the batch dim), else None."""
    info = next((i for i in graph.input if inputs and i.name == inputs[0]), None)
    if info is None or not info.type.tensor_type.HasField("shape"):
        return None
    dims = [d.dim_value if d.HasField("dim_value") else 0 for d in info.type.tensor_type.shape.dim]
    return tuple(dims[1:]) if len(dims) > 1 and all(d > 0 for d in dims[1:]) else None


def _domain_ok(node_proto) -> bool:
    return node_proto.domain in ("", "ai.onnx")
