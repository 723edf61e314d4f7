"""Pooling layers: same results and repr as torch.nn, argument validation, empty state."""

import math

import numpy as np
import pytest

import convolve as cv
from convolve import nn

LAYERS = [
    ("MaxPool1d", (3,), {}, (2, 3, 11)),
    ("MaxPool1d", (3, 2, 1), {"dilation": 2, "ceil_mode": True}, (3, 10)),
    ("MaxPool2d", (2,), {}, (2, 3, 8, 8)),
    ("MaxPool2d", ((3, 2), (2, 1), (1, 0)), {"ceil_mode": True}, (3, 7, 6)),
    ("AvgPool1d", (3, 2, 1), {"ceil_mode": True, "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", (2,), {}, (2, 3, 8, 8)),
    ("AvgPool2d", (3, 2, 1), {"ceil_mode": True, "divisor_override": 5}, (2, 7, 8)),
    ("AdaptiveAvgPool2d", ((3, None),), {}, (2, 3, 7, 5)),
    ("AdaptiveAvgPool2d", (1,), {}, (2, 3, 4, 4)),
    ("AdaptiveAvgPool1d", (4,), {}, (2, 3, 7)),
    ("AdaptiveAvgPool1d", ((2,),), {}, (3, 8)),
]


@pytest.mark.parametrize("name,args,kw,shape", LAYERS, ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_layer_matches_torch(torch, name, args, kw, shape, dtype):
    ours, theirs = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    x = np.random.default_rng(0).standard_normal(shape).astype(dtype)
    X, xt = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    Y, yt = ours(X), theirs(xt)
    g = np.random.default_rng(1).standard_normal(Y.shape).astype(dtype)
    Y.backward(g)
    yt.backward(torch.tensor(g))
    tol = {"rtol": 1e-9, "atol": 1e-11} if dtype == np.float64 else {"rtol": 1e-4, "atol": 1e-5}
    assert Y.dtype == dtype and X.grad.dtype == dtype
    np.testing.assert_allclose(Y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), **tol)
    assert repr(ours) == repr(theirs)
    assert ours.state_dict() == {} and list(ours.parameters()) == []


def test_maxpool_return_indices_matches_torch(torch):
    x = np.random.default_rng(2).integers(0, 3, (2, 3, 7, 7)).astype(np.float64)
    y, idx = nn.MaxPool2d(3, 2, 1, return_indices=True)(cv.tensor(x))
    yt, it = torch.nn.MaxPool2d(3, 2, 1, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(y.data, yt.numpy())
    np.testing.assert_array_equal(idx.data, it.numpy())


def _torch_blur(torch, x, k, stride, mode):
    row = torch.tensor([math.comb(k - 1, i) for i in range(k)], dtype=x.dtype)
    filt = torch.outer(row, row) / row.sum() ** 2
    lo, hi = (k - 1) // 2, math.ceil((k - 1) / 2)
    xp = torch.nn.functional.pad(x, (lo, hi, lo, hi), mode=mode)
    c = x.shape[-3]
    return torch.nn.functional.conv2d(xp, filt.expand(c, 1, k, k), stride=stride, groups=c)


@pytest.mark.parametrize("k,stride,mode", [(3, 2, "reflect"), (4, 2, "replicate"),
                                           (5, (1, 2), "circular"), (2, 3, "reflect")])
def test_blurpool2d_matches_torch_pad_and_depthwise_conv(torch, k, stride, mode):
    x = np.random.default_rng(3).standard_normal((2, 3, 9, 8))
    layer = nn.BlurPool2d(3, k, stride, mode)
    X, xt = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    Y, yt = layer(X), _torch_blur(torch, xt, k, stride, mode)
    Y.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(Y.data, yt.detach().numpy(), rtol=1e-9, atol=1e-11)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11)


def test_blurpool2d_filter_state_and_repr():
    layer = nn.BlurPool2d(kernel_size=3)
    np.testing.assert_allclose(layer.filt, np.outer([1, 2, 1], [1, 2, 1]) / 16.0)
    assert layer.filt.dtype == np.float32
    assert layer.state_dict() == {} and list(layer.buffers()) == []
    assert repr(layer) == "BlurPool2d(kernel_size=3, stride=2, padding_mode='reflect')"
    assert repr(nn.BlurPool2d(8, 5, 1, "zeros")) == \
        "BlurPool2d(channels=8, kernel_size=5, stride=1, padding_mode='zeros')"
    y = layer(cv.tensor(np.ones((4, 7, 7), np.float32)))  # any channel count without channels
    assert y.shape == (4, 4, 4) and y.dtype == np.float32


def test_blurpool2d_checks_channels():
    with pytest.raises(ValueError, match=r"BlurPool2d: expected input with 3 channels "
                                         r"\(channels\), received shape \(2, 4, 8, 8\)"):
        nn.BlurPool2d(3)(cv.tensor(np.zeros((2, 4, 8, 8))))


BAD_LAYERS = [
    (lambda: nn.MaxPool2d(3, padding=2), ValueError,
     r"MaxPool2d: padding must be at most half of kernel_size, received padding=2"),
    (lambda: nn.MaxPool1d((2, 2)), ValueError, r"MaxPool1d: kernel_size must be an int or a "),
    (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride entries must be"),
    (lambda: nn.MaxPool2d(2, return_indices=1), TypeError, r"MaxPool2d: return_indices must"),
    (lambda: nn.MaxPool2d(2, ceil_mode="no"), TypeError, r"MaxPool2d: ceil_mode must be a bool"),
    (lambda: nn.AvgPool1d(0), ValueError, r"AvgPool1d: kernel_size entries must be integers"),
    (lambda: nn.AvgPool2d(2, count_include_pad=0), TypeError, r"AvgPool2d: count_include_pad"),
    (lambda: nn.AvgPool2d(2, divisor_override=0), ValueError, r"AvgPool2d: divisor_override"),
    (lambda: nn.AdaptiveAvgPool2d((0, 2)), ValueError,
     r"AdaptiveAvgPool2d: output_size must be .* received output_size=\(0, 2\)"),
    (lambda: nn.BlurPool2d(0), ValueError, r"BlurPool2d: channels must be None or a positive"),
    (lambda: nn.BlurPool2d(kernel_size=9), ValueError, r"BlurPool2d: kernel_size must be an int"),
    (lambda: nn.BlurPool2d(padding_mode="refl"), ValueError, r"BlurPool2d: padding_mode must"),
    (lambda: nn.MaxPool2d(4)(cv.tensor(np.zeros((1, 1, 3, 3)))), ValueError,
     r"max_pool2d: computed output size \(0, 0\) is too small"),
]


@pytest.mark.parametrize("call,exc,match", BAD_LAYERS, ids=[b[2][:30] for b in BAD_LAYERS])
def test_layer_rejects_bad_arguments(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_pooling_in_a_sequential_lenet_block(torch):
    """A stack of pooling layers and Flatten matches torch end to end (gradients included)."""
    x = np.random.default_rng(4).standard_normal((2, 3, 12, 12))
    ours = nn.Sequential(nn.MaxPool2d(2), nn.AvgPool2d(3, 1, 1), nn.AdaptiveAvgPool2d(2),
                         nn.Flatten())
    theirs = torch.nn.Sequential(torch.nn.MaxPool2d(2), torch.nn.AvgPool2d(3, 1, 1),
                                 torch.nn.AdaptiveAvgPool2d(2), torch.nn.Flatten())
    X, xt = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(X).sum().backward()
    theirs(xt).sum().backward()
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-9, atol=1e-11)
