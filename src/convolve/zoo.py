"""Networks people train: ResNet-18 (torchvision's layout and keys), a BatchNorm VGG and a
MobileNet-style depthwise-separable stack, as ``nn.Module`` trees.

``resnet18()`` has exactly torchvision's parameters, buffers and ``state_dict()`` keys, so
PyTorch weights load as they are; ``cifar_stem=True`` is the common CIFAR variant (3x3
stride-1 stem, no max pool). Every builder takes ``nn=`` (default ``convolve.nn``): with
``torch.nn`` it builds the same network in PyTorch (the benchmark does this).
The named-model registry (``convolve.models.get_model``) knows these by name.
"""

from __future__ import annotations

import functools

__all__ = ["ZOO", "build", "mobilenet_like", "resnet18", "vgg_bn", "zoo_spec"]

VGG11 = (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M")
MOBILE = (64, (128, 2), 128, (256, 2), 256, (512, 2), 512, 512, 512, (1024, 2), 1024)


def _nn(nn):
    if nn is None:
        from . import nn
    return nn


@functools.cache
def _resnet_classes(nn):
    """BasicBlock and ResNet classes over the layer namespace ``nn``."""

    class BasicBlock(nn.Module):
        expansion = 1

        def __init__(self, inplanes, planes, stride=1):
            super().__init__()
            self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(planes)
            self.relu = nn.ReLU()
            self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(planes)
            self.downsample = None
            if stride != 1 or inplanes != planes:
                self.downsample = nn.Sequential(
                    nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

        def forward(self, x):
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            identity = x if self.downsample is None else self.downsample(x)
            return self.relu(out + identity)

    class ResNet(nn.Module):
        def __init__(self, layers, num_classes, in_channels, cifar_stem):
            super().__init__()
            if cifar_stem:
                self.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
                self.maxpool = nn.Identity()
            else:
                self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
                self.maxpool = nn.MaxPool2d(3, 2, 1)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU()
            widths, inplanes = (64, 128, 256, 512), 64
            for i, (planes, blocks) in enumerate(zip(widths, layers)):
                stride = 1 if i == 0 else 2
                stage = [BasicBlock(inplanes, planes, stride)]
                stage += [BasicBlock(planes, planes) for _ in range(blocks - 1)]
                setattr(self, f"layer{i + 1}", nn.Sequential(*stage))
                inplanes = planes
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(self.avgpool(x).flatten(1))

    return BasicBlock, ResNet


def _init_convs(model, nn) -> None:
    """torchvision's init: He-normal (fan_out) conv weights; BatchNorm weight 1, bias 0."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")


def _check(name: str, num_classes, in_channels) -> None:
    for arg, value in (("num_classes", num_classes), ("in_channels", in_channels)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name}: {arg} must be a positive int, received {arg}={value!r}")


def resnet18(num_classes: int = 1000, cifar_stem: bool = False, in_channels: int = 3, *,
             nn=None):
    """torchvision's ResNet-18 (BasicBlock, [2, 2, 2, 2]); (N, in_channels, H, W) ->
    (N, num_classes). ``cifar_stem``: 3x3 stride-1 stem conv and no max pool (same keys)."""
    _check("resnet18", num_classes, in_channels)
    nn = _nn(nn)
    model = _resnet_classes(nn)[1]([2, 2, 2, 2], num_classes, in_channels, bool(cifar_stem))
    _init_convs(model, nn)
    return model


def vgg_bn(num_classes: int = 10, cfg=VGG11, in_channels: int = 3, *, nn=None):
    """VGG with BatchNorm (torchvision's ``make_layers(batch_norm=True)`` of ``cfg``; "M" is a
    2x2 max pool), global average pool and one Linear: (N, C, H, W) -> (N, num_classes)."""
    _check("vgg_bn", num_classes, in_channels)
    nn = _nn(nn)
    layers, c = [], in_channels
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
            continue
        layers += [nn.Conv2d(c, int(v), 3, padding=1), nn.BatchNorm2d(int(v)), nn.ReLU()]
        c = int(v)
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes)]
    model = nn.Sequential(*layers)
    _init_convs(model, nn)
    return model


def mobilenet_like(num_classes: int = 10, cfg=MOBILE, in_channels: int = 3, *, nn=None):
    """MobileNet-v1-style stack for small images: 3x3 stem (32) then, per ``cfg`` entry
    (width or (width, stride)), depthwise 3x3 + BN + ReLU and pointwise 1x1 + BN + ReLU;
    global average pool and Linear: (N, C, H, W) -> (N, num_classes)."""
    _check("mobilenet_like", num_classes, in_channels)
    nn = _nn(nn)
    layers = [nn.Conv2d(in_channels, 32, 3, 1, 1, bias=False), nn.BatchNorm2d(32), nn.ReLU()]
    c = 32
    for entry in cfg:
        width, stride = (entry, 1) if isinstance(entry, int) else entry
        layers += [nn.Conv2d(c, c, 3, stride, 1, groups=c, bias=False), nn.BatchNorm2d(c),
                   nn.ReLU(), nn.Conv2d(c, width, 1, bias=False), nn.BatchNorm2d(width),
                   nn.ReLU()]
        c = width
    layers += [nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(), nn.Linear(c, num_classes)]
    model = nn.Sequential(*layers)
    _init_convs(model, nn)
    return model


ZOO = {"resnet18": resnet18, "resnet18_cifar": functools.partial(resnet18, cifar_stem=True),
       "vgg_bn": vgg_bn, "mobilenet_like": mobilenet_like}


def zoo_spec(name: str, input_shape=(3, 32, 32), num_classes: int = 10) -> dict:
    """The description the registry keeps on ``model.spec`` for a zoo model."""
    shape = [int(s) for s in input_shape]
    if len(shape) != 3:
        raise ValueError(f"{name}: input_shape must be (C, H, W), received {tuple(shape)}")
    return {"name": name, "input_shape": shape, "zoo": name, "num_classes": int(num_classes)}


def build(spec: dict):
    """A zoo model from its description (``zoo_spec``); ``model.spec`` keeps the description."""
    name = spec.get("zoo")
    if name not in ZOO:
        raise ValueError(f"zoo: unknown model {name!r}; available: {', '.join(sorted(ZOO))}")
    model = ZOO[name](num_classes=int(spec.get("num_classes", 10)),
                      in_channels=int(spec["input_shape"][0]))
    object.__setattr__(model, "spec", dict(spec))
    return model
