"""Seeded random layer stacks for the ONNX-export and torch-interop tests.

A stack is ``(input_shape, spec)`` where ``spec`` is a nested list of ``(class name, kwargs)``
entries (a nested list becomes a nested Sequential) with PyTorch's argument names, so
``build(convolve.nn, spec)`` and ``build(torch.nn, spec)`` give the same architecture.
Each entry is validated by building the convolve layer and running it on zeros
(rejection sampling), so every stack is a valid model for its input shape.
"""

from __future__ import annotations

import numpy as np

import convolve as cv
from convolve import nn

ACTIVATIONS = [("ReLU", {}), ("LeakyReLU", {"negative_slope": 0.1}), ("Sigmoid", {}),
               ("Tanh", {}), ("GELU", {"approximate": "none"}), ("GELU", {"approximate": "tanh"})]


def out_shape(entry, shape):
    """Per-sample output shape of the convolve layer ``entry`` or None if it rejects ``shape``."""
    name, kwargs = entry
    try:
        layer = getattr(nn, name)(**kwargs).eval()
        with cv.no_grad():
            y = layer(cv.tensor(np.zeros((1, *shape), dtype=np.float32)))
    except ValueError:
        return None
    return tuple(y.shape[1:]) if min(y.shape) >= 1 else None


def _size_arg(rng, nd, lo, hi):
    """An int or a tuple of nd ints in [lo, hi]."""
    if nd == 1 or rng.random() < 0.5:
        return int(rng.integers(lo, hi + 1))
    return tuple(int(v) for v in rng.integers(lo, hi + 1, size=nd))


def _conv(rng, shape, nd, modes):
    c = shape[0]
    groups = int(rng.choice([g for g in (1, 2, 3) if c % g == 0]))
    stride = _size_arg(rng, nd, 1, 2)
    padding = _size_arg(rng, nd, 0, 2)
    if np.all(np.asarray(stride) == 1) and rng.random() < 0.3:
        padding = "same"
    elif rng.random() < 0.1:
        padding = "valid"
    return (f"Conv{nd}d", {
        "in_channels": c, "out_channels": groups * int(rng.integers(1, 4)),
        "kernel_size": _size_arg(rng, nd, 1, 4), "stride": stride, "padding": padding,
        "dilation": _size_arg(rng, nd, 1, 2), "groups": groups, "bias": bool(rng.random() < 0.8),
        "padding_mode": str(rng.choice(modes))})


def _pool(rng, shape, nd):
    k = int(rng.integers(2, 4))
    kw = {"kernel_size": k, "stride": None if rng.random() < 0.4 else int(rng.integers(1, 4)),
          "padding": int(rng.integers(0, k // 2 + 1)), "ceil_mode": bool(rng.random() < 0.5)}
    if rng.random() < 0.5:
        return f"MaxPool{nd}d", dict(kw, dilation=int(rng.integers(1, 3)))
    return f"AvgPool{nd}d", dict(kw, count_include_pad=bool(rng.random() < 0.5))


def _adaptive(rng, shape):
    """An adaptive average pool whose output size divides the input (ONNX can express it)."""
    divisors = [[d for d in range(1, n + 1) if n % d == 0] for n in shape[1:]]
    size = tuple(int(rng.choice(d)) for d in divisors)
    return f"AdaptiveAvgPool{len(size)}d", {"output_size": size if len(size) > 1 else size[0]}


def _blur(rng, shape, modes):
    return "BlurPool2d", {"channels": shape[0], "kernel_size": int(rng.integers(1, 6)),
                          "stride": int(rng.integers(1, 3)),
                          "padding_mode": str(rng.choice([*modes, "reflect"]))}


def _locally_connected(rng, shape):
    return "LocallyConnected2d", {
        "in_channels": shape[0], "out_channels": int(rng.integers(1, 4)),
        "in_size": tuple(shape[1:]),
        "kernel_size": _size_arg(rng, 2, 1, 3), "stride": _size_arg(rng, 2, 1, 2),
        "padding": _size_arg(rng, 2, 0, 1), "dilation": _size_arg(rng, 2, 1, 2),
        "bias": bool(rng.random() < 0.7)}


def _feature_layer(rng, shape, nd, extra, modes, sample_norms=False):
    kinds = ["conv", "conv", "pool", "bn", "act", "dropout", "adaptive"]
    if nd == 2:
        kinds += ["blur", "lc"] if extra else []
    else:
        kinds += ["linear"]  # a Linear over the last dim of (C, L)
    kind = rng.choice(kinds)
    if kind == "linear":
        return "Linear", {"in_features": shape[-1], "out_features": int(rng.integers(3, 9))}
    if kind == "conv":
        return _conv(rng, shape, nd, modes)
    if kind == "pool":
        return _pool(rng, shape, nd)
    if kind == "bn" and sample_norms and shape[0] % 2 == 0:  # no extra draw: others unchanged
        return "GroupNorm", {"num_groups": shape[0] // 2, "num_channels": shape[0],
                             "affine": bool(rng.random() < 0.8)}
    if kind == "bn":
        return f"BatchNorm{nd}d", {"num_features": shape[0],
                                   "eps": float(rng.choice([1e-5, 1e-3])),
                                   "affine": bool(rng.random() < 0.8)}
    if kind == "adaptive":
        return _adaptive(rng, shape)
    if kind == "blur":
        return _blur(rng, shape, modes)
    if kind == "lc":
        return _locally_connected(rng, shape)
    if kind == "dropout":
        return ("Dropout" if shape[0] % 2 else f"Dropout{nd}d"), {"p": 0.3}
    return ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))]


def _head(rng, features: int, classes: int, sample_norms: bool = False) -> list:
    hidden = int(rng.integers(3, 9))
    layers = [("Linear", {"in_features": features, "out_features": hidden})]
    if rng.random() < 0.4:
        layers.append(("LayerNorm", {"normalized_shape": hidden}) if sample_norms and hidden % 2
                      else ("BatchNorm1d", {"num_features": hidden}))
    layers += [ACTIVATIONS[int(rng.integers(len(ACTIVATIONS)))], ("Dropout", {"p": 0.5}),
               ("Linear", {"in_features": hidden, "out_features": classes,
                           "bias": bool(rng.random() < 0.8)})]
    final = rng.choice(["none", "softmax", "log_softmax"])
    if final != "none":
        layers.append(("Softmax" if final == "softmax" else "LogSoftmax", {"dim": 1}))
    return layers


def random_stack(seed: int, nd: int, extra: bool = False, modes=("zeros",),
                 sample_norms: bool = False) -> tuple:
    """(input_shape, spec): nd=2 images, nd=1 sequences, nd=0 flat vectors.

    ``extra`` adds convolve-only layers (LocallyConnected2d, BlurPool2d); ``sample_norms``
    puts GroupNorm/LayerNorm in place of some BatchNorms; ``modes`` are the
    padding modes convolutions may use.
    """
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), *(int(v) for v in rng.integers(6, 13, size=nd)))
    if nd == 0:
        shape = (int(rng.integers(3, 12)),)
    input_shape, spec = shape, []
    for _ in range(int(rng.integers(2, 6)) if nd else 0):
        for _try in range(20):
            entry = _feature_layer(rng, shape, nd, extra, modes, sample_norms)
            new = out_shape(entry, shape)
            if new is not None:
                spec.append(entry)
                shape = new
                break
    spec.append(("Flatten", {}))
    spec += _head(rng, int(np.prod(shape)), int(rng.integers(2, 6)), sample_norms)
    if len(spec) > 3 and rng.random() < 0.5:  # nest a slice of the stack
        i = int(rng.integers(0, len(spec) - 2))
        spec[i:i + 2] = [spec[i:i + 2]]
    return input_shape, spec


def build(namespace, spec):
    """A Sequential of ``namespace`` layers (convolve.nn or torch.nn) from a spec."""
    layers = [build(namespace, e) if isinstance(e, list) else getattr(namespace, e[0])(**e[1])
              for e in spec]
    return namespace.Sequential(*layers)


def randomize_batch_norm(model, rng) -> None:
    """Non-trivial running statistics and affine parameters for every BatchNorm (and affine
    parameters for every GroupNorm/LayerNorm) of a convolve or torch model (set through numpy views, so both kinds work)."""
    for m in model.modules():
        if type(m).__name__ in ("GroupNorm", "LayerNorm") and m.weight is not None:
            for t in (t for t in (m.weight, m.bias) if t is not None):
                arr = t.data if isinstance(t.data, np.ndarray) else t.data.numpy()
                arr[...] = rng.standard_normal(arr.shape)
        if "BatchNorm" not in type(m).__name__ or m.running_mean is None:
            continue
        c = m.num_features
        values = [("running_mean", rng.standard_normal(c)), ("running_var", rng.uniform(0.5, 2, c)),
                  ("weight", rng.standard_normal(c)), ("bias", rng.standard_normal(c))]
        for name, v in values:
            t = getattr(m, name)
            if t is not None:
                arr = t.data if isinstance(t.data, np.ndarray) else t.data.numpy()
                arr[...] = v
