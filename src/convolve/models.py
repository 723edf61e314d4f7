"""Named architectures and models described as a list of layers (ConvNetJS-style).

A description is JSON-able::

    {"name": "tiny", "input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 6, "kernel_size": 5, "padding": 2},
        {"type": "relu"}, {"type": "maxpool2d", "kernel_size": 2},
        {"type": "flatten"}, {"type": "linear", "out_features": 10}]}

:func:`build_model` turns it into an ``nn.Sequential`` (children named "0", "1", ... as in
PyTorch), inferring ``in_channels`` / ``in_features`` / ``num_features`` / ``in_size`` from the
shape flowing through the stack. Every named model (``mlp``, ``lenet5``, ``lenet5_lc``,
``vgg_small``, ``cnn1d``) is built from such a description, kept on ``model.spec``, so a
checkpoint stores it and :func:`convolve.io.load_model` rebuilds the model from it.
"""

from __future__ import annotations

import functools
import math
import numbers

import numpy as np

from . import limits, nn, shapes, zoo
from . import spec_io as _spec_io
from .errors import InputError, LimitError, SpecError, SpecTypeError
from .grad_mode import no_grad
from .tensor import Tensor

__all__ = [
    "LAYER_TYPES",
    "available_models",
    "build_model",
    "cnn1d",
    "get_model",
    "lenet5",
    "lenet5_lc",
    "load_spec",
    "mlp",
    "model_spec",
    "output_shape",
    "parse_shape",
    "plan_model",
    "vgg_small",
]

# type -> (nn class name, {constructor argument: how to infer it from the input shape})
LAYER_TYPES = {
    "linear": ("Linear", {"in_features": "features"}),
    "conv1d": ("Conv1d", {"in_channels": "channels"}),
    "conv2d": ("Conv2d", {"in_channels": "channels"}),
    "locally_connected2d": ("LocallyConnected2d", {"in_channels": "channels",
                                                   "in_size": "spatial"}),
    "maxpool1d": ("MaxPool1d", {}), "maxpool2d": ("MaxPool2d", {}),
    "avgpool1d": ("AvgPool1d", {}), "avgpool2d": ("AvgPool2d", {}),
    "adaptiveavgpool2d": ("AdaptiveAvgPool2d", {}),
    "blurpool2d": ("BlurPool2d", {"channels": "channels"}),
    "batchnorm1d": ("BatchNorm1d", {"num_features": "channels"}),
    "batchnorm2d": ("BatchNorm2d", {"num_features": "channels"}),
    "groupnorm": ("GroupNorm", {"num_channels": "channels"}),
    "layernorm": ("LayerNorm", {"normalized_shape": "sample"}),
    "dropout": ("Dropout", {}), "dropout1d": ("Dropout1d", {}), "dropout2d": ("Dropout2d", {}),
    "relu": ("ReLU", {}), "leaky_relu": ("LeakyReLU", {}), "tanh": ("Tanh", {}),
    "sigmoid": ("Sigmoid", {}), "gelu": ("GELU", {}), "softmax": ("Softmax", {}),
    "flatten": ("Flatten", {}), "identity": ("Identity", {}),
}
_ALIASES = {"dense": "linear", "fc": "linear", "conv": "conv2d", "lc2d": "locally_connected2d",
            "locallyconnected2d": "locally_connected2d", "pool": "maxpool2d",
            "max_pool2d": "maxpool2d", "avg_pool2d": "avgpool2d", "max_pool1d": "maxpool1d",
            "avg_pool1d": "avgpool1d", "batch_norm2d": "batchnorm2d", "bn": "batchnorm2d",
            "blur_pool2d": "blurpool2d", "leakyrelu": "leaky_relu"}


def parse_shape(input_shape, where: str = "build_model") -> tuple:
    """A per-sample shape from a sequence or a string like '1x28x28' (or '1,28,28')."""
    if isinstance(input_shape, str):
        input_shape = input_shape.lower().replace("×", "x").replace(",", "x").split("x")
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{where}: input_shape must be a sequence of positive ints such as "
                         f"(1, 28, 28), received {input_shape!r}") from None
    if not shape or min(shape) < 1:
        raise InputError(f"{where}: input_shape must be non-empty with positive sizes, "
                         f"received {input_shape!r}")
    return shape


def _inferred(kind: str, shape: tuple, layer: str):
    if kind == "features":
        if len(shape) != 1:
            raise SpecError(f"build_model: layer {layer!r} needs a flat input (features,), "
                             f"received shape {shape}; add {{\"type\": \"flatten\"}} before it")
        return shape[0]
    if kind == "channels":
        return shape[0]
    if kind == "sample":  # the whole per-sample shape
        return list(shape)
    return list(shape[1:])  # "spatial"


def _largest_int(value) -> int:
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        return abs(int(value))
    if isinstance(value, (list, tuple)):
        return max((_largest_int(v) for v in value), default=0)
    return 0


def _resolve(entry, shape: tuple, index: int):
    """(kind, nn class, constructor kwargs) of one layer entry, inferred arguments filled in."""
    if not isinstance(entry, dict) or "type" not in entry:
        raise SpecError(f"build_model: layer {index} must be a dict with a 'type' key, "
                        f"received {str(entry)[:80]!r}")
    kind = str(entry["type"])[:80].lower()
    kind = _ALIASES.get(kind, kind)
    if kind not in LAYER_TYPES:
        raise SpecError(f"build_model: layer {index} has unknown type {kind!r}; "
                        f"known types: {', '.join(sorted(LAYER_TYPES))}")
    cls_name, infer = LAYER_TYPES[kind]
    cls = getattr(nn, cls_name, None)
    if cls is None:
        raise SpecError(f"build_model: layer type {kind!r} needs convolve.nn.{cls_name}, "
                        f"which this installation lacks")
    kwargs = {str(k): v for k, v in entry.items() if k != "type"}
    limits.check("layer_value", _largest_int(list(kwargs.values())),
                 f"build_model: layer {index} ({kind}): a value")
    for arg, how in infer.items():
        kwargs.setdefault(arg, _inferred(how, shape, kind))
    return kind, cls, kwargs


def _normalize(spec, input_shape) -> dict:
    spec = load_spec(spec)
    if isinstance(spec, list):
        spec = {"layers": spec}
    if not isinstance(spec, dict) or not isinstance(spec.get("layers"), list):
        got = spec.get("layers") if isinstance(spec, dict) else spec
        raise SpecTypeError(f"build_model: expected a list of layers or a dict with a 'layers' "
                            f"list, received {type(got).__name__}")
    if input_shape is None and spec.get("input_shape") is None:
        raise SpecError("build_model: the input shape is unknown; pass input_shape=(C, H, W)")
    shape = parse_shape(input_shape if input_shape is not None else spec["input_shape"])
    spec["input_shape"] = list(shape)
    return spec


def plan_model(spec, input_shape=None) -> tuple[dict, list]:
    """Check a description without allocating anything: (normalised spec, one dict per layer
    with kind, cls, kwargs, in_shape, out_shape, params). Raises SpecError/LimitError."""
    spec = _normalize(spec, input_shape)
    shape, planned = tuple(spec["input_shape"]), []
    for i, entry in enumerate(spec["layers"]):
        kind, cls, kwargs = _resolve(entry, shape, i)
        where = f"build_model: layer {i} ({kind})"
        try:
            args = shapes.bound_args(cls, kwargs, where)
            try:
                out = shapes.output_shape(cls.__name__, args, shape)
                params = shapes.param_count(cls.__name__, args, shape, out)
            except shapes.NoRule:
                check_memory(estimate_memory(planned, spec["input_shape"]), where)
                out, params = _built_shape(cls, kwargs, shape)
        except (ValueError, TypeError, KeyError, OverflowError) as err:
            raise SpecError(f"{where} cannot take input of shape {shape}: {err}") from None
        planned.append({"kind": kind, "cls": cls, "kwargs": kwargs, "args": args,
                        "in_shape": shape, "out_shape": out, "params": params})
        shape = out
    return spec, planned


def _built_shape(cls, kwargs: dict, shape: tuple) -> tuple[tuple, int]:
    """(output shape, parameter count) of a layer type without a rule in convolve.shapes:
    built and run on one zero sample."""
    layer = cls(**kwargs)
    return output_shape(layer, shape), int(sum(p.data.size for p in layer.parameters()))


def estimate_memory(planned, input_shape, itemsize: int = 4) -> int:
    """Bytes to train a planned model on one sample: parameters x 4 (weights, gradients, two
    optimizer moments) + activations x 2 (outputs and their gradients)."""
    params = sum(p["params"] for p in planned)
    acts = math.prod(input_shape) + sum(math.prod(p["out_shape"]) for p in planned)
    return itemsize * (4 * params + 2 * acts)


def check_memory(nbytes: int, where: str) -> None:
    """Raise LimitError when ``nbytes`` exceeds the memory budget (limit memory_budget)."""
    budget = limits.get("memory_budget")
    if 0 < budget < nbytes:
        raise LimitError(f"{where}: the model needs about {_gib(nbytes)} (parameters, "
                         f"gradients, optimizer state and one sample's activations), over the "
                         f"memory budget of {_gib(budget)}; raise it with --memory-budget or "
                         f"the environment variable CONVOLVE_MEMORY_BUDGET (0: no check)")


def _gib(n: int) -> str:
    """Bytes for people: 512 MiB, 1.5 GiB, 3,200 TiB."""
    unit = max((u for u in range(5) if n >= 1024 ** u), default=0)
    value = n / 1024 ** unit
    text = f"{value:,.0f}" if value >= 100 else f"{value:.3g}"
    return f"{text} {('B', 'KiB', 'MiB', 'GiB', 'TiB')[unit]}"


def dry_input(module, shape: tuple) -> Tensor:
    """A zero batch of one sample in the dtype of the module's parameters (float32 if none)."""
    param = next(module.parameters(), None)
    dtype = param.data.dtype if param is not None else np.float32
    return Tensor(np.zeros((1,) + tuple(shape), dtype=dtype))


def output_shape(module, input_shape) -> tuple:
    """Per-sample output shape of ``module`` for a per-sample ``input_shape`` (one dry run)."""
    shape = parse_shape(input_shape, "output_shape")
    was_training = module.training
    module.eval()
    try:
        with no_grad():
            out = module(dry_input(module, shape))
    finally:
        module.train(was_training)
    return tuple(out.shape[1:])


def load_spec(source):
    """A description from a dict, a list of layers, a JSON string or a .json/.yaml file path
    (bounded in size, depth and aliases: see :mod:`convolve.spec_io`)."""
    return _spec_io.load_spec(source)


def build_model(spec, input_shape=None):
    """An ``nn.Sequential`` from a description (see the module doc); ``model.spec`` keeps it.

    ``spec`` is a dict with "layers" (and optionally "input_shape", "name"), a bare list of
    layers, a JSON string or a path to a .json/.yaml file. ``input_shape`` is per sample,
    e.g. (1, 28, 28); it overrides the one in the description.
    """
    spec = load_spec(spec)
    if isinstance(spec, dict) and "zoo" in spec:  # a ResNet/VGG/MobileNet of convolve.zoo
        return zoo.build(dict(spec, input_shape=list(parse_shape(
            input_shape if input_shape is not None else spec["input_shape"]))))
    spec, planned = plan_model(spec, input_shape)
    check_memory(estimate_memory(planned, spec["input_shape"]), "build_model")
    model = nn.Sequential()
    for i, p in enumerate(planned):
        try:
            layer = p["cls"](**p["kwargs"])
            shape = output_shape(layer, p["in_shape"])
        except (ValueError, TypeError, OverflowError) as err:
            raise SpecError(f"build_model: layer {i} ({p['kind']}) cannot take input of "
                            f"shape {p['in_shape']}: {err}") from None
        if shape != p["out_shape"]:
            raise SpecError(f"build_model: layer {i} ({p['kind']}) gave shape {shape}, "
                            f"expected {p['out_shape']}")
        model.append(layer)
    object.__setattr__(model, "spec", spec)
    return model


# ------------------------------------------------------------------------------ named models
def _head(hidden, num_classes: int, dropout: float = 0.0) -> list:
    layers = []
    for h in hidden:
        layers += [{"type": "linear", "out_features": int(h)}, {"type": "relu"}]
        if dropout:
            layers.append({"type": "dropout", "p": dropout})
    return layers + [{"type": "linear", "out_features": int(num_classes)}]


def mlp_spec(input_shape, num_classes: int = 10, hidden=(128,)) -> dict:
    """Flatten -> (Linear -> ReLU) per hidden width -> Linear(num_classes)."""
    return {"name": "mlp", "input_shape": list(parse_shape(input_shape)),
            "layers": [{"type": "flatten"}] + _head(hidden, num_classes)}


def _lenet_stage(conv: dict, size: int, first: bool) -> tuple[list, int]:
    """One LeNet conv stage; returns its layers and the spatial size after it."""
    if first:
        pad = 0 if size >= 32 else 2         # 32x32: the original; smaller: "same" (28 -> 28)
    else:
        pad = 0 if size >= 10 else 2         # 14 -> 10 as usual; tiny inputs stay "same"
    conv = dict(conv, kernel_size=5, padding=pad)
    size = size + 2 * pad - 4
    layers = [conv, {"type": "relu"}]
    if size >= 2:
        layers.append({"type": "maxpool2d", "kernel_size": 2})
        size //= 2
    return layers, size


def _lenet_spec(name: str, conv_type: str, input_shape, num_classes: int) -> dict:
    shape = parse_shape(input_shape, name)
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (C, H, W), received {shape}")
    size = min(shape[1:])
    if size < 4:
        raise ValueError(f"{name}: input images must be at least 4x4, received {shape}")
    stage1, size = _lenet_stage({"type": conv_type, "out_channels": 6}, size, True)
    stage2, size = _lenet_stage({"type": conv_type, "out_channels": 16}, size, False)
    layers = stage1 + stage2 + [{"type": "flatten"}] + _head((120, 84), num_classes)
    return {"name": name, "input_shape": list(shape), "layers": layers}


def lenet5_spec(input_shape=(1, 28, 28), num_classes: int = 10) -> dict:
    """LeNet-5 with ReLU and max pooling (the usual modern variant, which trains faster than
    tanh + average pooling): conv 6@5x5 -> pool 2 -> conv 16@5x5 -> pool 2 -> fc 120 -> fc 84
    -> fc num_classes.

    Padding adapts to the input: the first conv is unpadded for 32x32 (the original) and
    padded by 2 ("same") for smaller inputs, so 28x28 gives the familiar 16x5x5 = 400
    features. The second conv is padded by 2 when its input is under 10 px, and a pool is
    dropped when its input is under 2 px: 1x8x8 digits give 8 -> 4 -> 4 -> 2, i.e. 16x2x2.
    """
    return _lenet_spec("lenet5", "conv2d", input_shape, num_classes)


def lenet5_lc_spec(input_shape=(1, 28, 28), num_classes: int = 10) -> dict:
    """LeNet-5 with LocallyConnected2d (unshared weights) in place of each Conv2d."""
    return _lenet_spec("lenet5_lc", "locally_connected2d", input_shape, num_classes)


def vgg_small_spec(input_shape=(3, 32, 32), num_classes: int = 10, widths=(16, 32, 64),
                   hidden: int = 128, dropout: float = 0.5) -> dict:
    """Blocks of two 3x3 conv (padding 1) + BatchNorm + ReLU, then 2x2 max pool, per width;
    then fc ``hidden`` -> dropout -> fc num_classes. 32x32 input: 32 -> 16 -> 8 -> 4."""
    shape = parse_shape(input_shape, "vgg_small")
    if len(shape) != 3 or min(shape[1:]) < 2 ** len(widths):
        raise ValueError(f"vgg_small: input_shape must be (C, H, W) with H, W >= "
                         f"{2 ** len(widths)}, received {shape}")
    layers = []
    for w in widths:
        for _ in range(2):
            layers += [{"type": "conv2d", "out_channels": int(w), "kernel_size": 3, "padding": 1},
                       {"type": "batchnorm2d"}, {"type": "relu"}]
        layers.append({"type": "maxpool2d", "kernel_size": 2})
    layers += [{"type": "flatten"}] + _head((hidden,), num_classes, dropout)
    return {"name": "vgg_small", "input_shape": list(shape), "layers": layers}


def cnn1d_spec(input_shape=(1, 40), num_classes: int = 10, channels: int = 25) -> dict:
    """The MNIST-1D paper's small CNN: three Conv1d(channels, kernel 5, stride 2, padding 1)
    with ReLU, then Linear. Length 40: 40 -> 19 -> 9 -> 4, so 25 x 4 = 100 features."""
    shape = parse_shape(input_shape, "cnn1d")
    if len(shape) != 2:
        raise ValueError(f"cnn1d: input_shape must be (C, L), received {shape}")
    conv = {"type": "conv1d", "out_channels": int(channels), "kernel_size": 5, "stride": 2,
            "padding": 1}
    layers = [conv, {"type": "relu"}, dict(conv), {"type": "relu"}, dict(conv), {"type": "relu"},
              {"type": "flatten"}, {"type": "linear", "out_features": int(num_classes)}]
    return {"name": "cnn1d", "input_shape": list(shape), "layers": layers}


_SPECS = {"mlp": mlp_spec, "lenet5": lenet5_spec, "lenet5_lc": lenet5_lc_spec,
          "vgg_small": vgg_small_spec, "cnn1d": cnn1d_spec}
_SPECS.update({name: functools.partial(zoo.zoo_spec, name) for name in zoo.ZOO})


def available_models() -> list:
    return sorted(_SPECS)


def model_spec(name: str, input_shape=None, num_classes: int = 10, **kwargs) -> dict:
    """The description of a named model for an input shape and class count."""
    if name not in _SPECS:
        raise ValueError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    if input_shape is None:
        return _SPECS[name](num_classes=num_classes, **kwargs)
    return _SPECS[name](input_shape, num_classes=num_classes, **kwargs)


def get_model(name: str, input_shape=None, num_classes: int = 10, **kwargs):
    """Build a named model (see :func:`available_models`)."""
    spec = model_spec(name, input_shape, num_classes, **kwargs)
    spec.update({"num_classes": int(num_classes)})
    return build_model(spec)


def mlp(input_shape, num_classes: int = 10, hidden=(128,)):
    return get_model("mlp", input_shape, num_classes, hidden=tuple(hidden))


def lenet5(input_shape=(1, 28, 28), num_classes: int = 10):
    return get_model("lenet5", input_shape, num_classes)


def lenet5_lc(input_shape=(1, 28, 28), num_classes: int = 10):
    return get_model("lenet5_lc", input_shape, num_classes)


def vgg_small(input_shape=(3, 32, 32), num_classes: int = 10, **kwargs):
    return get_model("vgg_small", input_shape, num_classes, **kwargs)


def cnn1d(input_shape=(1, 40), num_classes: int = 10, **kwargs):
    return get_model("cnn1d", input_shape, num_classes, **kwargs)
