"""convolve.zoo against PyTorch: ResNet-18 (torchvision's layout, built here from torch.nn),
the BatchNorm VGG and the MobileNet-style stack, in float64."""

import numpy as np
import pytest

import convolve
from convolve import models, zoo


def torch_resnet18(torch, num_classes, cifar_stem=False):
    """torchvision.models.resnet18 written out from torch.nn (torchvision is not installed)."""
    nn = torch.nn

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(cout)
            self.relu = nn.ReLU(inplace=True)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = nn.BatchNorm2d(cout)
            self.downsample = None
            if stride != 1 or cin != cout:
                self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                                nn.BatchNorm2d(cout))

        def forward(self, x):
            idt = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.bn2(self.conv2(out))
            out += idt
            return self.relu(out)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            k, s, p = (3, 1, 1) if cifar_stem else (7, 2, 3)
            self.conv1 = nn.Conv2d(3, 64, k, s, p, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.Identity() if cifar_stem else nn.MaxPool2d(3, 2, 1)
            cin = 64
            for i, c in enumerate((64, 128, 256, 512)):
                s = 1 if i == 0 else 2
                setattr(self, f"layer{i + 1}", nn.Sequential(Block(cin, c, s), Block(c, c, 1)))
                cin = c
            self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
            self.fc = nn.Linear(512, num_classes)

        def forward(self, x):
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
            return self.fc(torch.flatten(self.avgpool(x), 1))

    return Net()


def _randomise_bn(torch, net):
    """Non-trivial running stats and affine params so eval mode tests them too."""
    g = torch.Generator().manual_seed(0)
    for m in net.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            c = m.num_features
            with torch.no_grad():
                m.weight.copy_(torch.rand(c, generator=g) + 0.5)
                m.bias.copy_(torch.randn(c, generator=g))
                m.running_mean.copy_(torch.randn(c, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(c, generator=g) + 0.5)


@pytest.mark.parametrize("cifar_stem", [False, True])
def test_resnet18_matches_torchvision(torch, cifar_stem):
    torch.manual_seed(0)
    ref = torch_resnet18(torch, 10, cifar_stem).double()
    _randomise_bn(torch, ref)
    ours = zoo.resnet18(10, cifar_stem=cifar_stem).double()
    ref_sd = ref.state_dict()
    assert list(ours.state_dict()) == list(ref_sd)
    assert sum(p.data.size for p in ours.parameters()) == sum(p.numel() for p in ref.parameters())
    for k, v in ours.state_dict().items():
        assert tuple(v.shape) == tuple(ref_sd[k].shape), k
    ours.load_state_dict({k: v.numpy() for k, v in ref_sd.items()})
    # batch statistics of layer4 are over N * 1 * 1 values (torchvision stem, 32x32) or
    # N * 2 * 2 (CIFAR stem, 16x16): enough values per channel to stay well conditioned
    shape = (2, 3, 16, 16) if cifar_stem else (6, 3, 32, 32)
    x = np.random.default_rng(1).standard_normal(shape)
    for train in (False, True):
        ref.train(train)
        ours.train(train)
        want = ref(torch.from_numpy(x))
        got = ours(convolve.tensor(x, requires_grad=True))
        w = want.detach().numpy()
        np.testing.assert_allclose(got.data, w, rtol=1e-9, atol=1e-10 * abs(w).max())
    want.sum().backward()
    got.sum().backward()
    for (name, p), (_, q) in zip(ours.named_parameters(), ref.named_parameters()):
        want_g = q.grad.numpy()  # sums over the batch cancel: tolerance scaled by the largest
        np.testing.assert_allclose(p.grad, want_g, rtol=1e-9, atol=1e-9 * abs(want_g).max(),
                                   err_msg=name)


def _copy_sequential(torch_seq, ours):
    ours.load_state_dict({k: v.numpy() for k, v in torch_seq.state_dict().items()})


@pytest.mark.parametrize("builder", [zoo.vgg_bn, zoo.mobilenet_like])
def test_sequential_zoo_matches_torch(torch, builder):
    small = {zoo.vgg_bn: {"cfg": (8, "M", 16, 16, "M")},
             zoo.mobilenet_like: {"cfg": (8, (16, 2), 16)}}[builder]
    ref = builder(7, nn=torch.nn, **small).double()
    ours = builder(7, **small).double()
    assert list(ours.state_dict()) == list(ref.state_dict())
    _copy_sequential(ref, ours)
    x = np.random.default_rng(2).standard_normal((3, 3, 8, 8))
    got = ours(convolve.tensor(x))
    want = ref(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got.data, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", sorted(zoo.ZOO))
def test_zoo_models_in_registry(name):
    model = models.get_model(name, (3, 32, 32), num_classes=5)
    assert name in models.available_models()
    assert model.spec["zoo"] == name
    again = models.build_model(model.spec)
    assert list(again.state_dict()) == list(model.state_dict())
    with convolve.no_grad():
        out = again.eval()(convolve.tensor(np.zeros((1, 3, 32, 32), np.float32)))
    assert out.shape == (1, 5)


def test_zoo_bad_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        zoo.resnet18(0)
    with pytest.raises(ValueError, match="unknown model"):
        zoo.build({"zoo": "nope", "input_shape": [3, 8, 8]})
