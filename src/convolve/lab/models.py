"""The models the lab compares, as ``convolve.models`` descriptions (so summaries and
checkpoints work on them like on any named model).

Images (C, H, W):
  mlp       Flatten -> 120 -> 84 -> classes: LeNet's fully-connected head on raw pixels
  lc        LeNet-5 with LocallyConnected2d in place of Conv2d (sparse, not shared)
  cnn       LeNet-5 (conv 6@5x5 -> max pool 2 -> conv 16@5x5 -> max pool 2 -> 120 -> 84)
  cnn_blur  the CNN with each MaxPool2d(2) replaced by MaxPool2d(2, stride=1) then
            BlurPool2d(3, stride 2): Zhang's (2019) antialiased MaxBlurPool
Sequences (C, L), the MNIST-1D paper's three models (Greydanus 2020, its models.py):
  logistic  Linear(L -> classes)
  mlp1d     Linear(L, 100) -> ReLU, h + ReLU(Linear(100, 100)), Linear(100, classes)
  cnn1d     Conv1d(25, k5, s2, p1) -> Conv1d(25, k3, s2, p1) -> Conv1d(25, k3, s2, p1), ReLU
            after each, then Linear(25 x 5 -> classes)
"""

from __future__ import annotations

import copy

from .. import models as zoo
from .. import nn

IMAGE_MODELS = ("mlp", "lc", "cnn", "cnn_blur")
SEQUENCE_MODELS = ("logistic", "mlp1d", "cnn1d")
LABELS = {"mlp": "MLP", "lc": "Locally connected", "cnn": "CNN", "cnn_blur": "CNN + BlurPool",
          "logistic": "Logistic regression", "mlp1d": "MLP", "cnn1d": "CNN"}
MAXBLUR = [{"type": "maxpool2d", "kernel_size": 2, "stride": 1},
           {"type": "blurpool2d", "kernel_size": 3, "stride": 2}]


def _blur_spec(spec: dict) -> dict:
    spec = copy.deepcopy(spec)
    layers = []
    for layer in spec["layers"]:
        is_pool2 = layer.get("type") == "maxpool2d" and layer.get("kernel_size") == 2 \
            and layer.get("stride", 2) == 2
        layers += copy.deepcopy(MAXBLUR) if is_pool2 else [layer]
    spec["layers"], spec["name"] = layers, "lenet5_blur"
    return spec


def image_spec(name: str, input_shape: tuple, num_classes: int) -> dict:
    """The description of one image model (see the module doc)."""
    if name == "mlp":
        return zoo.mlp_spec(input_shape, num_classes, hidden=(120, 84))
    if name == "lc":
        return zoo.lenet5_lc_spec(input_shape, num_classes)
    if name == "cnn":
        return zoo.lenet5_spec(input_shape, num_classes)
    if name == "cnn_blur":
        return _blur_spec(zoo.lenet5_spec(input_shape, num_classes))
    raise ValueError(f"lab: unknown image model {name!r}; expected one of {IMAGE_MODELS}")


def build_image_model(name: str, input_shape: tuple, num_classes: int):
    return zoo.build_model(image_spec(name, tuple(input_shape), num_classes))


class ResidualMLP(nn.Module):
    """The MNIST-1D paper's MLP: h1 = relu(W1 x); h2 = h1 + relu(W2 h1); out = W3 h2."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 100):
        super().__init__()
        self.flatten = nn.Flatten()
        self.linear1 = nn.Linear(in_features, hidden)
        self.linear2 = nn.Linear(hidden, hidden)
        self.linear3 = nn.Linear(hidden, num_classes)
        self.relu = nn.ReLU()

    def forward(self, x):
        h = self.relu(self.linear1(self.flatten(x)))
        h = h + self.relu(self.linear2(h))
        return self.linear3(h)


def sequence_spec(name: str, input_shape: tuple, num_classes: int, channels: int = 25) -> dict:
    """Description of the paper's logistic regression or CNN (the MLP is ResidualMLP)."""
    if name == "logistic":
        return {"name": "logistic", "input_shape": list(input_shape),
                "layers": [{"type": "flatten"}, {"type": "linear", "out_features": num_classes}]}
    if name == "cnn1d":
        layers = []
        for k in (5, 3, 3):
            layers += [{"type": "conv1d", "out_channels": channels, "kernel_size": k,
                        "stride": 2, "padding": 1}, {"type": "relu"}]
        layers += [{"type": "flatten"}, {"type": "linear", "out_features": num_classes}]
        return {"name": "cnn1d_paper", "input_shape": list(input_shape), "layers": layers}
    raise ValueError(f"lab: no description for sequence model {name!r}")


def build_sequence_model(name: str, input_shape: tuple, num_classes: int):
    if name == "mlp1d":
        n = 1
        for s in input_shape:
            n *= int(s)
        return ResidualMLP(n, num_classes)
    return zoo.build_model(sequence_spec(name, tuple(input_shape), num_classes))


def first_layer(model):
    """The prefix of a Sequential up to and including its first module with parameters,
    e.g. Flatten -> Linear for the MLP, the first Conv2d for the CNN."""
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"first_layer: expected an nn.Sequential, received {type(model).__name__}")
    for i, m in enumerate(model):
        if any(True for _ in m.parameters()):
            return model[:i + 1]
    raise ValueError("first_layer: the model has no layer with parameters")


def feature_extractor(model):
    """The prefix of a Sequential before its Flatten (the last spatial feature map), or None."""
    for i, m in enumerate(model):
        if isinstance(m, nn.Flatten):
            return model[:i] if i > 0 else None
    return None
