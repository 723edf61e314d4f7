"""Move models between PyTorch and convolve: ``from_torch(module)`` and ``to_torch(model)``.

Both sides use PyTorch's layer names, constructor arguments and parameter layouts, so a
layer is rebuilt on the other side from the same arguments and its parameters and buffers
(BatchNorm's running statistics and counter) are copied with their dtypes. Sequentials may
nest; child names, ``requires_grad`` and training flags carry over. torch is optional
(extra ``convolve[torch]``) and imported only inside the functions.
"""

from __future__ import annotations

import numpy as np

__all__ = ["SUPPORTED_LAYERS", "from_torch", "to_torch"]

_CONV = ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
         "groups", "bias", "padding_mode")
_BN = ("num_features", "eps", "momentum", "affine", "track_running_stats", "bias")

# layer class name -> constructor arguments, read as attributes of the source layer
# ("bias" means "has a bias"). Layers that take no arguments map to ().
SUPPORTED_LAYERS = {
    "Linear": ("in_features", "out_features", "bias"),
    "Conv1d": _CONV, "Conv2d": _CONV,
    "MaxPool1d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "MaxPool2d": ("kernel_size", "stride", "padding", "dilation", "return_indices", "ceil_mode"),
    "AvgPool1d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "AvgPool2d": ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad",
                  "divisor_override"),
    "AdaptiveAvgPool1d": ("output_size",), "AdaptiveAvgPool2d": ("output_size",),
    "BatchNorm1d": _BN, "BatchNorm2d": _BN,
    "GroupNorm": ("num_groups", "num_channels", "eps", "affine", "bias"),
    "LayerNorm": ("normalized_shape", "eps", "elementwise_affine", "bias"),
    "Dropout": ("p",), "Dropout1d": ("p",), "Dropout2d": ("p",),
    "ReLU": (), "Sigmoid": (), "Tanh": (), "Identity": (),
    "LeakyReLU": ("negative_slope",), "GELU": ("approximate",),
    "Softmax": ("dim",), "LogSoftmax": ("dim",), "Flatten": ("start_dim", "end_dim"),
}


def _require_torch():
    try:
        import torch
    except ImportError:
        raise ImportError("convolve.interop needs PyTorch, which is not installed; install the "
                          "extra: pip install 'convolve[torch]'") from None
    return torch


def _args(layer, names) -> dict:
    out = {}
    for name in names:
        value = getattr(layer, name)
        if name == "bias" and not isinstance(value, bool):
            value = value is not None
        out[name] = tuple(value) if isinstance(value, list) else value
    return out


def _target_class(source, target, layer, where: str, fn: str):
    """The class in ``target`` named like ``layer``'s, which must be ``source``'s own class
    (a subclass or a look-alike from elsewhere may compute something else)."""
    name = type(layer).__name__
    cls = getattr(target, name, None)
    if name not in SUPPORTED_LAYERS or cls is None or getattr(source, name, None) is not \
            type(layer):
        raise TypeError(f"{fn}: layer {where} ({name}) is not supported; supported layers: "
                        f"Sequential, {', '.join(sorted(SUPPORTED_LAYERS))}")
    return cls


def _tensor_names(layer) -> list:
    return [("_parameters", k) for k in layer._parameters] + \
           [("_buffers", k) for k in layer._buffers]


def _check_same_tensors(src, dst, where: str, fn: str) -> None:
    a = {k for store, k in _tensor_names(src) if getattr(src, store)[k] is not None}
    b = {k for store, k in _tensor_names(dst) if getattr(dst, store)[k] is not None}
    if a != b:
        raise TypeError(f"{fn}: layer {where} ({type(src).__name__}) has tensors {sorted(a)} "
                        f"but its rebuilt counterpart has {sorted(b)}")


# ---------------------------------------------------------------------------- torch -> us
def from_torch(module):
    """A convolve model equal to the torch ``module`` (nested ``nn.Sequential`` of supported
    layers), with copies of its parameters and buffers in their dtypes."""
    torch = _require_torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"from_torch: expected a torch.nn.Module, received "
                        f"{type(module).__name__}")
    from . import random as _random

    state = _random.get_rng_state()  # building layers must not disturb convolve's RNG stream
    try:
        return _from_torch(torch, module, "")
    finally:
        _random.set_rng_state(state)


def _from_torch(torch, module, where: str):
    from collections import OrderedDict

    from . import nn

    if isinstance(module, torch.nn.Sequential):
        children = OrderedDict((name, _from_torch(torch, child, _join(where, name)))
                               for name, child in module.named_children())
        out = nn.Sequential(children)
    else:
        where = where or "0"
        cls = _target_class(torch.nn, nn, module, where, "from_torch")
        out = cls(**_args(module, SUPPORTED_LAYERS[type(module).__name__]))
        _check_same_tensors(module, out, where, "from_torch")
        for store, name in _tensor_names(module):
            src = getattr(module, store)[name]
            if src is not None:
                dst = getattr(out, store)[name]
                dst.data = src.detach().cpu().numpy().copy()
                if store == "_parameters":
                    dst.requires_grad = bool(src.requires_grad)
    object.__setattr__(out, "training", bool(module.training))
    return out


def _join(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name


# ---------------------------------------------------------------------------- us -> torch
def to_torch(model):
    """A torch ``nn.Sequential``/layer equal to the convolve ``model``, with copies of its
    parameters and buffers in their dtypes (``torch.from_numpy`` of copies)."""
    torch = _require_torch()
    from .nn import Module

    if not isinstance(model, Module):
        raise TypeError(f"to_torch: expected a convolve.nn.Module, received "
                        f"{type(model).__name__}")
    return _to_torch(torch, model, "")


def _to_torch(torch, model, where: str):
    from collections import OrderedDict

    from . import nn

    if isinstance(model, nn.Sequential):
        children = OrderedDict((name, _to_torch(torch, child, _join(where, name)))
                               for name, child in model.named_children())
        out = torch.nn.Sequential(children)
    else:
        where = where or "0"
        cls = _target_class(nn, torch.nn, model, where, "to_torch")
        out = cls(**_args(model, SUPPORTED_LAYERS[type(model).__name__]))
        _check_same_tensors(model, out, where, "to_torch")
        for store, name in _tensor_names(model):
            src = getattr(model, store)[name]
            if src is None:
                continue
            value = torch.from_numpy(np.array(src.data, copy=True))
            if store == "_parameters":
                value = torch.nn.Parameter(value, requires_grad=bool(src.requires_grad))
            setattr(out, name, value)
    out.training = bool(model.training)  # not train(): each child keeps its own flag
    return out
