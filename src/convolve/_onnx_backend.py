"""``convolve.onnx.backend``: an ONNX ``Backend`` over the importer (CPU, NumPy).

``prepare(model)`` loads the model with :func:`convolve.onnx.load` (eval mode) and
returns a ``BackendRep`` whose ``run(inputs)`` evaluates it without recording
gradients and returns NumPy arrays. ``run_model`` and ``run_node`` are the usual
shortcuts; ``supports_device`` is true for ``"CPU"`` only. It is what
``onnx.backend.test.BackendTest`` drives in ``tests/test_onnx_backend.py``.
"""

from __future__ import annotations

import numpy as np
from onnx.backend.base import Backend, BackendRep

from ._onnx_import import load
from .grad_mode import no_grad
from .tensor import Tensor


class ConvolveRep(BackendRep):
    """A prepared model: ``run(inputs)`` -> list of NumPy outputs."""

    def __init__(self, module):
        super().__init__()
        self.module = module

    def run(self, inputs, **kwargs):
        if isinstance(inputs, dict):
            inputs = [inputs[n] for n in self.module.input_names]
        elif isinstance(inputs, np.ndarray):
            inputs = [inputs]
        with no_grad():
            out = self.module(*[np.asarray(x) for x in inputs])
        out = out if isinstance(out, tuple) else (out,)
        return [o.data if isinstance(o, Tensor) else np.asarray(o) for o in out]


class ConvolveBackend(Backend):
    """ONNX backend running models through convolve's functional ops."""

    @classmethod
    def prepare(cls, model, device: str = "CPU", **kwargs):
        if not cls.supports_device(device):
            raise ValueError(f"convolve.onnx.backend: device must be 'CPU', received "
                             f"{device!r}")
        return ConvolveRep(load(model))

    @classmethod
    def run_model(cls, model, inputs, device: str = "CPU", **kwargs):
        return cls.prepare(model, device, **kwargs).run(inputs)

    @classmethod
    def run_node(cls, node, inputs, device: str = "CPU", outputs_info=None, **kwargs):
        """Run one NodeProto on a list of arrays (wrapped in a one-node model)."""
        import onnx
        from onnx import helper

        super().run_node(node, inputs, device, outputs_info, **kwargs)  # onnx's node checker
        arrays = [np.asarray(x) for x in inputs]
        names = [n for n in node.input if n]
        infos = [helper.make_tensor_value_info(
            n, helper.np_dtype_to_tensor_dtype(x.dtype), x.shape) for n, x in zip(names, arrays)]
        outs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                for o in node.output if o]
        opset = kwargs.get("opset_version", onnx.defs.onnx_opset_version())
        model = helper.make_model(helper.make_graph([node], "run_node", infos, outs),
                                  opset_imports=[helper.make_opsetid("", opset)])
        return cls.run_model(model, arrays, device)

    @classmethod
    def supports_device(cls, device: str) -> bool:
        return str(device).upper().split(":")[0] == "CPU"


prepare = ConvolveBackend.prepare
run_model = ConvolveBackend.run_model
run_node = ConvolveBackend.run_node
supports_device = ConvolveBackend.supports_device
