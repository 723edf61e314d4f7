"""Conv1d / Conv2d / LocallyConnected2d layers: PyTorch's parameters, state_dict, init and repr."""

import math

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import nn

CONV2D_ARGS = [
    ((3, 8, 3), {}),
    ((4, 6, (3, 2)), {"stride": 2, "padding": 1, "dilation": 2, "groups": 2, "bias": False}),
    ((3, 4, 3), {"padding": "same", "padding_mode": "reflect"}),
    ((2, 4, (2, 3)), {"padding": (1, 2), "padding_mode": "circular"}),
    ((2, 4, 3), {"padding": "valid", "padding_mode": "replicate", "stride": (1, 2)}),
    ((6, 6, 3), {"groups": 6, "padding": 1}),
]
CONV1D_ARGS = [
    ((3, 8, 3), {}),
    ((4, 6, 3), {"stride": 2, "padding": 2, "dilation": 2, "groups": 2, "bias": False}),
    ((3, 4, 4), {"padding": "same", "padding_mode": "circular"}),
]
LAYERS = [("Conv2d", a, k, (2, 9, 10)) for a, k in CONV2D_ARGS] + \
         [("Conv1d", a, k, (2, 11)) for a, k in CONV1D_ARGS]


@pytest.mark.parametrize("name,args,kw,size", LAYERS, ids=str)
def test_state_dict_and_repr_match_torch(torch, name, args, kw, size):
    ours, ref = getattr(nn, name)(*args, **kw), getattr(torch.nn, name)(*args, **kw)
    ours_sd, ref_sd = ours.state_dict(), ref.state_dict()
    assert list(ours_sd) == list(ref_sd)
    for key, value in ref_sd.items():
        assert tuple(ours_sd[key].shape) == tuple(value.shape), key
        assert np.asarray(ours_sd[key]).dtype == np.float32
    assert repr(ours) == repr(ref)


@pytest.mark.parametrize("name,args,kw,size", LAYERS, ids=str)
def test_torch_weights_give_torch_output(torch, name, args, kw, size):
    torch.manual_seed(0)
    ref = getattr(torch.nn, name)(*args, **kw)
    ours = getattr(nn, name)(*args, **kw)
    ours.load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((3, args[0]) + size[1:]).astype(np.float32)
    tx = cv.tensor(x, requires_grad=True)
    y = ours(tx)
    tref = torch.tensor(x, requires_grad=True)
    yref = ref(tref)
    np.testing.assert_allclose(y.data, yref.detach().numpy(), rtol=1e-4, atol=1e-5)
    y.sum().backward()
    yref.sum().backward()
    np.testing.assert_allclose(tx.grad, tref.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.weight.grad, ref.weight.grad.numpy(), rtol=1e-4, atol=1e-4)
    # unbatched input gives the first row of the batched output
    np.testing.assert_allclose(ours(cv.tensor(x[0])).data, y.data[0], rtol=1e-6, atol=1e-6)


def _check_uniform(values, bound):
    """Values look like U(-bound, bound): inside the bound, reaching near it, right spread."""
    values = np.asarray(values, dtype=np.float64).ravel()
    assert np.abs(values).max() <= bound
    assert np.abs(values).max() > 0.95 * bound
    assert abs(values.std() - bound / math.sqrt(3)) < 0.03 * bound
    assert abs(values.mean()) < 0.03 * bound


@pytest.mark.parametrize("layer,fan_in", [
    (lambda: nn.Conv2d(32, 64, 3), 32 * 9),
    (lambda: nn.Conv2d(16, 64, (5, 3), groups=4), 4 * 15),
    (lambda: nn.Conv1d(20, 500, 7), 20 * 7),
])
def test_default_init_matches_torch_distribution(layer, fan_in):
    cv.manual_seed(0)
    m = layer()
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=sqrt(5)) == U(+-1/sqrt(fan_in))
    _check_uniform(m.weight.data, bound)
    b = m.bias.data
    assert np.abs(b).max() <= bound and b.std() > 0.3 * bound


def test_reset_parameters_is_seeded():
    cv.manual_seed(3)
    a = nn.Conv2d(3, 4, 3).weight.data.copy()
    cv.manual_seed(3)
    np.testing.assert_array_equal(nn.Conv2d(3, 4, 3).weight.data, a)


def test_float64_layer():
    m = nn.Conv2d(2, 3, 3, dtype=np.float64)
    y = m(cv.tensor(np.ones((1, 2, 5, 5))))
    assert m.weight.dtype == y.dtype == np.float64


@pytest.mark.parametrize("cls,args,kw,match", [
    (nn.Conv2d, (3, 8, 3), {"groups": 2}, r"Conv2d: in_channels must be divisible by groups"),
    (nn.Conv2d, (4, 6, 3), {"groups": 4}, r"Conv2d: out_channels must be divisible by groups"),
    (nn.Conv2d, (0, 6, 3), {}, r"Conv2d: in_channels must be a positive int, received"),
    (nn.Conv1d, (3, 6, 3), {"padding_mode": "mirror"}, r"Conv1d: padding_mode must be one of"),
    (nn.Conv2d, (3, 6, 3), {"padding": "same", "stride": 2},
     r"Conv2d: padding='same' is not supported for strided"),
    (nn.Conv2d, (3, 6, (3, 3, 3)), {}, r"Conv2d: kernel_size must be an int or a tuple of 2"),
    (nn.Conv2d, (3, 6, 3), {"stride": 0}, r"Conv2d: stride entries must be integers >= 1"),
    (nn.Conv2d, (3, 6, 3), {"padding": "full"}, r"Conv2d: padding must be"),
])
def test_bad_layer_arguments(cls, args, kw, match):
    with pytest.raises(ValueError, match=match):
        cls(*args, **kw)


def test_bad_layer_input():
    m = nn.Conv2d(3, 4, 3)
    with pytest.raises(ValueError, match=r"Conv2d: expected input with 3 channels \(in_channels\), "
                                         r"received shape \(2, 4, 8, 8\)"):
        m(cv.tensor(np.zeros((2, 4, 8, 8))))
    with pytest.raises(ValueError, match=r"Conv2d: expected a \(N, C, H, W\) or \(C, H, W\) input"):
        m(cv.tensor(np.zeros((8, 8))))
    with pytest.raises(ValueError, match=r"Conv1d: expected input with 3 channels"):
        nn.Conv1d(3, 4, 3)(cv.tensor(np.zeros((2, 5, 8))))


# ------------------------------------------------------- LocallyConnected2d
def test_locally_connected_parameters_and_forward(rng):
    m = nn.LocallyConnected2d(3, 5, (9, 8), (3, 2), stride=2, padding=1)
    oh, ow = (9 + 2 - 3) // 2 + 1, (8 + 2 - 2) // 2 + 1
    assert m.weight.shape == (oh, ow, 5, 3, 3, 2) and m.bias.shape == (5, oh, ow)
    assert list(m.state_dict()) == ["weight", "bias"]
    x = cv.tensor(rng.standard_normal((2, 3, 9, 8)), dtype=np.float32)
    y = m(x)
    ref = F.locally_connected2d(x, m.weight, m.bias, stride=2, padding=1)
    assert y.shape == (2, 5, oh, ow) and y.dtype == np.float32
    np.testing.assert_array_equal(y.data, ref.data)
    y.sum().backward()
    assert m.weight.grad.shape == m.weight.shape and m.bias.grad.shape == m.bias.shape


def test_locally_connected_init_uses_conv_fan_in():
    cv.manual_seed(0)
    m = nn.LocallyConnected2d(8, 16, (12, 12), 3)
    bound = 1 / math.sqrt(8 * 9)
    _check_uniform(m.weight.data, bound)
    _check_uniform(m.bias.data, bound)


def test_locally_connected_repr_and_no_bias():
    m = nn.LocallyConnected2d(3, 4, 8, 3, padding=1, bias=False)
    assert repr(m) == ("LocallyConnected2d(3, 4, in_size=(8, 8), kernel_size=(3, 3), "
                       "stride=(1, 1), padding=(1, 1), bias=False)")
    assert m.bias is None and list(m.state_dict()) == ["weight"]


def test_locally_connected_bad_input():
    m = nn.LocallyConnected2d(3, 4, (8, 8), 3)
    with pytest.raises(ValueError, match=r"LocallyConnected2d: expected input of spatial size "
                                         r"\(8, 8\) \(in_size\), received shape \(1, 3, 9, 8\)"):
        m(cv.tensor(np.zeros((1, 3, 9, 8))))
    with pytest.raises(ValueError, match=r"LocallyConnected2d: expected input with 3 channels"):
        m(cv.tensor(np.zeros((1, 2, 8, 8))))
    with pytest.raises(ValueError, match=r"LocallyConnected2d: output size \(-2, -2\) is empty"):
        nn.LocallyConnected2d(3, 4, (2, 2), 5)
