"""Output shapes and parameter counts of layers, computed from their arguments alone.

Nothing here allocates an array, so a model description can be checked (shapes, memory
estimate) before any weight or activation exists, and ``convolve summary`` can describe a
model for an input of any size. Rules follow the layers' own formulas (PyTorch's); the tests
compare them with a real forward pass for every layer type.
"""

from __future__ import annotations

import inspect
import math
import numbers

from .functional._util import ntuple

__all__ = ["KNOWN", "SHAPED", "NoRule", "bound_args", "module_args", "output_shape",
           "param_count"]

_SAME = ("ReLU", "LeakyReLU", "Tanh", "Sigmoid", "GELU", "Softmax", "LogSoftmax", "Identity",
         "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "BatchNorm1d", "BatchNorm2d", "ELU",
         "SiLU", "Mish", "Softplus", "Hardtanh", "ReLU6", "Hardswish", "Hardsigmoid",
         "LogSigmoid", "Softsign", "Tanhshrink")
# keep the shape; their parameters are counted on the built layer (no rule here)
_SAME_PARAMS = ("GroupNorm", "LayerNorm", "InstanceNorm1d", "InstanceNorm2d", "PReLU")
KNOWN = frozenset(_SAME + ("Linear", "Conv1d", "Conv2d", "LocallyConnected2d", "MaxPool1d",
                           "MaxPool2d", "AvgPool1d", "AvgPool2d", "AdaptiveAvgPool1d",
                           "AdaptiveAvgPool2d", "BlurPool2d", "Flatten"))
SHAPED = KNOWN | frozenset(_SAME_PARAMS)  # layers with a shape rule


class NoRule(LookupError):
    """No shape or parameter rule for this layer type: build the layer to find out."""


def bound_args(cls, kwargs: dict, where: str) -> dict:
    """The constructor arguments of ``cls`` for ``kwargs``, defaults filled in."""
    try:
        bound = inspect.signature(cls).bind(**kwargs)
    except TypeError as err:
        raise ValueError(f"{where}: {err}") from None
    bound.apply_defaults()
    return dict(bound.arguments)


def module_args(module) -> dict:
    """The arguments a built layer was made with (its attributes), bias as a bool."""
    args = {k: v for k, v in vars(module).items() if not k.startswith("_")}
    params = module.__dict__.get("_parameters", {})
    args["bias"] = params.get("bias") is not None
    return args


def _window(n: int, k: int, s: int, lo: int, hi: int, d: int, ceil: bool = False) -> int:
    out = (n + lo + hi - d * (k - 1) - 1 + (s - 1 if ceil else 0)) // s + 1
    if ceil and (out - 1) * s >= n + lo:
        out -= 1
    return out


def _conv_pads(padding, k, s, d, nd, op) -> list:
    if padding == "same":
        if any(si != 1 for si in s):
            raise ValueError(f"{op}: padding='same' is not supported for strided convolutions")
        return [(dd * (kk - 1) // 2, dd * (kk - 1) - dd * (kk - 1) // 2) for kk, dd in zip(k, d)]
    if padding == "valid":
        return [(0, 0)] * nd
    return [(p, p) for p in ntuple(padding, nd, op, "padding", minimum=0)]


def _check_rank(op: str, shape: tuple, nd: int, channels=None) -> None:
    if len(shape) != nd + 1:
        raise ValueError(f"{op}: expected a per-sample input of rank {nd + 1} (C, spatial...), "
                         f"received shape {shape}")
    if channels is not None and shape[0] != channels:
        raise ValueError(f"{op}: expected input with {channels} channels, received shape {shape}")


def _spatial(op: str, shape: tuple, a: dict, nd: int, pool: bool) -> tuple:
    k = ntuple(a["kernel_size"], nd, op, "kernel_size")
    stride = a.get("stride")
    s = k if pool and stride in (None, ()) else ntuple(stride, nd, op, "stride")
    d = ntuple(a.get("dilation", 1), nd, op, "dilation")
    pads = _conv_pads(a.get("padding", 0), k, s, d, nd, op)
    ceil = bool(a.get("ceil_mode", False))
    out = tuple(_window(n, *x, ceil) for n, x in
                zip(shape[1:], ((ki, si, lo, hi, di) for ki, si, (lo, hi), di in zip(k, s, pads, d))))
    if min(out) < 1:
        raise ValueError(f"{op}: output size {out} is empty for input shape {shape}")
    return out


def output_shape(cls_name: str, a: dict, shape: tuple) -> tuple:
    """Per-sample output shape of layer class ``cls_name`` with arguments ``a``."""
    shape = tuple(int(n) for n in shape)
    if cls_name in _SAME or cls_name in _SAME_PARAMS:
        return shape
    if cls_name == "Linear":
        if shape[-1] != a["in_features"]:
            raise ValueError(f"Linear: expected {a['in_features']} input features, received "
                             f"shape {shape}")
        return shape[:-1] + (int(a["out_features"]),)
    if cls_name == "Flatten":
        full = (1,) + shape
        s, e = a.get("start_dim", 1) % len(full), a.get("end_dim", -1) % len(full)
        if s > e:
            raise ValueError(f"Flatten: start_dim comes after end_dim for shape {shape}")
        return (full[:s] + (math.prod(full[s:e + 1]),) + full[e + 1:])[1:]
    return _grid_shape(cls_name, a, shape)


def _grid_shape(cls_name: str, a: dict, shape: tuple) -> tuple:
    nd = 1 if cls_name.endswith("1d") else 2
    if cls_name in ("Conv1d", "Conv2d", "LocallyConnected2d"):
        _check_rank(cls_name, shape, nd, a["in_channels"])
        if cls_name == "LocallyConnected2d" and tuple(ntuple(a["in_size"], 2, cls_name,
                                                             "in_size")) != shape[1:]:
            raise ValueError(f"LocallyConnected2d: in_size {a['in_size']} differs from the "
                             f"input's spatial size {shape[1:]}")
        return (int(a["out_channels"]),) + _spatial(cls_name, shape, a, nd, False)
    _check_rank(cls_name, shape, nd)
    if cls_name in ("MaxPool1d", "MaxPool2d", "AvgPool1d", "AvgPool2d"):
        return shape[:1] + _spatial(cls_name, shape, a, nd, True)
    if cls_name.startswith("AdaptiveAvgPool"):
        size = a["output_size"]
        vals = tuple(size) if isinstance(size, (tuple, list)) else (size,) * nd
        if len(vals) != nd or not all(v is None or (isinstance(v, numbers.Integral)
                                                    and not isinstance(v, bool) and v >= 1)
                                      for v in vals):
            raise ValueError(f"{cls_name}: output_size must be ints >= 1 (or None), received "
                             f"output_size={size!r}")
        return shape[:1] + tuple(int(n if v is None else v) for v, n in zip(vals, shape[1:]))
    if cls_name == "BlurPool2d":
        s = ntuple(a.get("stride", 2), 2, cls_name, "stride")
        return shape[:1] + tuple((n - 1) // si + 1 for n, si in zip(shape[1:], s))
    raise NoRule(cls_name)


def param_count(cls_name: str, a: dict, in_shape: tuple, out_shape: tuple) -> int:
    """Number of parameters (weights, biases, BatchNorm's affine weight and bias)."""
    bias = bool(a.get("bias", True))
    if cls_name == "Linear":
        return int(a["in_features"]) * int(a["out_features"]) + bias * int(a["out_features"])
    if cls_name in ("Conv1d", "Conv2d"):
        k = math.prod(ntuple(a["kernel_size"], len(in_shape) - 1, cls_name, "kernel_size"))
        per = int(a["in_channels"]) // int(a.get("groups", 1)) * k
        return out_shape[0] * per + bias * out_shape[0]
    if cls_name == "LocallyConnected2d":
        k = math.prod(ntuple(a["kernel_size"], 2, cls_name, "kernel_size"))
        return math.prod(out_shape) * (int(a["in_channels"]) * k + bias)
    if cls_name in ("BatchNorm1d", "BatchNorm2d"):
        return 2 * in_shape[0] if a.get("affine", True) else 0
    if cls_name not in KNOWN:
        raise NoRule(cls_name)
    return 0
