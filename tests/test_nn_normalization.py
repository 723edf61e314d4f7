"""GroupNorm, LayerNorm, Dropout1d/2d and Identity, layers and functional forms: forward and
backward against PyTorch in float64 (rtol 1e-9), gradchecks by finite differences, state_dict
keys, reprs, channel-mask statistics and bad input."""

import warnings

import numpy as np
import pytest

import convolve as cv
from convolve import nn
from convolve.nn import functional as F
from helpers import gradcheck

RTOL, ATOL = 1e-9, 1e-12


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _randomize_and_copy(torch, ours, ref, rng):
    """Random affine parameters (not the 1/0 init) in both layers."""
    with torch.no_grad():
        for name, p in ref.named_parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
    ours.load_state_dict({k: v.detach().clone() for k, v in ref.state_dict().items()})


def _compare(torch, ours, ref, x, rng):
    """Outputs, input gradients and parameter gradients equal torch's."""
    xs, tx = cv.tensor(x, requires_grad=True), _t(torch, x, True)
    out, tout = ours(xs), ref(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(_t(torch, g))
    np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=RTOL, atol=ATOL)
    theirs = dict(ref.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, theirs[name].grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=name)


GROUP_CASES = [
    ((2, 6, 4, 5), (3, 6), {}),
    ((2, 6, 4, 5), (1, 6), {"eps": 1e-3}),
    ((2, 6, 4, 5), (6, 6), {"affine": False}),
    ((3, 4, 7), (2, 4), {}),
    ((5, 8), (4, 8), {}),
    ((1, 4, 2, 3, 2), (2, 4), {}),
]


@pytest.mark.parametrize(("shape", "args", "kwargs"), GROUP_CASES)
def test_group_norm_layer_matches_torch(torch, rng, shape, args, kwargs):
    ours = nn.GroupNorm(*args, **kwargs, dtype=np.float64)
    ref = torch.nn.GroupNorm(*args, **kwargs, dtype=torch.float64)
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    for name, p in ref.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[name].data, p.numpy())  # 1s and 0s
    _randomize_and_copy(torch, ours, ref, rng)
    _compare(torch, ours, ref, rng.standard_normal(shape) * 3 + 1, rng)


LAYER_CASES = [
    ((4, 5), 5, {}),
    ((2, 3, 4, 5), (4, 5), {}),
    ((2, 3, 4, 5), [3, 4, 5], {"eps": 1e-2}),
    ((3, 7), (7,), {"elementwise_affine": False}),
    ((2, 3, 6), 6, {"bias": False}),
    ((6,), 6, {}),
]


@pytest.mark.parametrize(("shape", "normalized", "kwargs"), LAYER_CASES)
def test_layer_norm_layer_matches_torch(torch, rng, shape, normalized, kwargs):
    ours = nn.LayerNorm(normalized, **kwargs, dtype=np.float64)
    ref = torch.nn.LayerNorm(normalized, **kwargs, dtype=torch.float64)
    assert repr(ours) == repr(ref)
    assert ours.normalized_shape == ref.normalized_shape
    assert list(ours.state_dict()) == list(ref.state_dict())
    _randomize_and_copy(torch, ours, ref, rng)
    _compare(torch, ours, ref, rng.standard_normal(shape) * 2 - 1, rng)


def test_float32_layers_match_torch(torch, rng):
    x = rng.standard_normal((4, 6, 5, 5)).astype(np.float32)
    for ours, ref in ((nn.GroupNorm(3, 6), torch.nn.GroupNorm(3, 6)),
                      (nn.LayerNorm((5, 5)), torch.nn.LayerNorm((5, 5)))):
        _randomize_and_copy(torch, ours, ref, rng)
        out, tout = ours(cv.tensor(x)), ref(torch.from_numpy(x))
        assert out.dtype == np.float32
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-5, atol=1e-5)


def test_layers_default_to_float32_and_keep_it(rng):
    x = cv.tensor(rng.standard_normal((2, 4, 3, 3)).astype(np.float32))
    for layer in (nn.GroupNorm(2, 4), nn.LayerNorm(3), nn.Dropout1d(), nn.Dropout2d()):
        assert all(p.dtype == np.float32 for p in layer.parameters())
        assert layer(x[0] if isinstance(layer, nn.Dropout1d) else x).dtype == np.float32


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,groups", [((2, 4, 3, 2), 2), ((3, 6), 3), ((2, 3, 4), 1)])
def test_group_norm_gradcheck(rng, shape, groups, affine):
    x = rng.standard_normal(shape)
    c = shape[1]
    if affine:
        gradcheck(lambda x, w, b: F.group_norm(x, groups, w, b, eps=1e-3), x,
                  rng.standard_normal(c), rng.standard_normal(c))
    else:
        gradcheck(lambda x: F.group_norm(x, groups, eps=1e-3), x)


@pytest.mark.parametrize("affine", [True, False])
@pytest.mark.parametrize("shape,normalized", [((3, 5), (5,)), ((2, 3, 4), (3, 4)), ((4,), 4)])
def test_layer_norm_gradcheck(rng, shape, normalized, affine):
    x = rng.standard_normal(shape)
    wshape = (normalized,) if isinstance(normalized, int) else normalized
    if affine:
        gradcheck(lambda x, w, b: F.layer_norm(x, normalized, w, b), x,
                  rng.standard_normal(wshape), rng.standard_normal(wshape))
    else:
        gradcheck(lambda x: F.layer_norm(x, normalized, eps=1e-3), x)


def test_functional_forms_match_torch(torch, rng):
    x = rng.standard_normal((3, 6, 4))
    w, b = rng.standard_normal(6), rng.standard_normal(6)
    ours = F.group_norm(cv.tensor(x), 3, cv.tensor(w), cv.tensor(b), 1e-4)
    theirs = torch.nn.functional.group_norm(_t(torch, x), 3, _t(torch, w), _t(torch, b), 1e-4)
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=RTOL, atol=ATOL)
    w, b = rng.standard_normal((6, 4)), rng.standard_normal((6, 4))
    ours = F.layer_norm(cv.tensor(x), (6, 4), cv.tensor(w), cv.tensor(b))
    theirs = torch.nn.functional.layer_norm(_t(torch, x), (6, 4), _t(torch, w), _t(torch, b))
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=RTOL, atol=ATOL)


def test_normalization_naive_reference(rng):
    """Per-sample statistics by a plain loop over samples and groups."""
    x = rng.standard_normal((3, 6, 2, 2))
    out = F.group_norm(cv.tensor(x), 2, eps=0.0).data
    for n in range(3):
        for g in range(2):
            block = x[n, 3 * g:3 * g + 3]
            expected = (block - block.mean()) / block.std()
            np.testing.assert_allclose(out[n, 3 * g:3 * g + 3], expected, rtol=1e-12)
    out = F.layer_norm(cv.tensor(x), (2, 2), eps=0.0).data
    for n in range(3):
        for c in range(6):
            block = x[n, c]
            np.testing.assert_allclose(out[n, c], (block - block.mean()) / block.std(),
                                       rtol=1e-12)


# ------------------------------------------------------------------ channel dropout
def _channel_mask(out, x):
    """Which (sample, channel) maps were kept; each map is all zero or all x / (1 - p)."""
    zero = (out == 0).reshape(out.shape[0], out.shape[1], -1)
    assert (zero.all(axis=2) | ~zero.any(axis=2)).all()
    return ~zero.all(axis=2)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
@pytest.mark.parametrize("name,shape", [("dropout2d", (40, 50, 3, 3)), ("dropout1d", (40, 50, 4))])
def test_channel_dropout_statistics_and_gradient(name, shape, p):
    cv.manual_seed(11)
    x = cv.tensor(np.random.default_rng(0).uniform(1, 2, shape), requires_grad=True)
    out = getattr(F, name)(x, p)
    kept = _channel_mask(out.data, x.data)
    n = kept.size
    assert abs(kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)
    scale = kept.reshape(kept.shape + (1,) * (len(shape) - 2)) / (1 - p)
    np.testing.assert_allclose(out.data, x.data * scale, rtol=1e-12)
    g = np.random.default_rng(1).standard_normal(shape)
    out.backward(g)
    np.testing.assert_allclose(x.grad, g * scale, rtol=1e-12)
    assert kept.mean(axis=1).std() > 0  # independent per sample, not one mask for the batch


def test_channel_dropout_layers_eval_seed_and_unbatched(rng):
    x = cv.tensor(rng.uniform(1, 2, (6, 5, 4)))
    for layer, xi in ((nn.Dropout1d(0.5), x), (nn.Dropout2d(0.5), x.reshape(6, 5, 2, 2))):
        layer.eval()
        assert layer(xi) is xi
        layer.train()
        cv.manual_seed(3)
        a = layer(xi).data
        cv.manual_seed(3)
        np.testing.assert_array_equal(layer(xi).data, a)
    cv.manual_seed(0)
    out = F.dropout1d(x[0], 0.5).data  # unbatched (C, L): one draw per channel
    kept = _channel_mask(out[None], x.data[:1])[0]
    np.testing.assert_allclose(out, x.data[0] * kept[:, None] * 2, rtol=1e-12)
    x = cv.tensor(rng.uniform(1, 2, (6, 5, 2, 2)))
    assert F.dropout2d(x, 0.0) is x and F.dropout2d(x, 0.7, training=False) is x
    np.testing.assert_array_equal(F.dropout2d(cv.tensor(np.ones((2, 3, 2, 2))), 1.0).data, 0)


def test_dropout2d_takes_3d_input_as_n_c_l_with_torchs_warning(torch):
    x = cv.tensor(np.ones((4, 30, 5)))
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        out = F.dropout2d(x, 0.5).data
    _channel_mask(out, x.data)
    with pytest.warns(UserWarning, match="3D input to dropout2d"):
        torch.nn.functional.dropout2d(torch.ones(4, 30, 5), 0.5)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.dropout2d(cv.tensor(np.ones((2, 3, 4, 4))), 0.5)


def test_dropout_layers_repr_and_state_dict_match_torch(torch):
    for name, args in (("Dropout1d", ()), ("Dropout2d", (0.3,)), ("Dropout2d", (0.1, True))):
        ours, ref = getattr(nn, name)(*args), getattr(torch.nn, name)(*args)
        assert repr(ours) == repr(ref)
        assert ours.state_dict() == {} == dict(ref.state_dict())


def test_identity_accepts_and_ignores_arguments(torch):
    x = cv.tensor(np.ones(3))
    layer = nn.Identity(54, unused_argument1=0.1, unused_argument2=False)
    assert layer(x) is x
    assert repr(layer) == repr(torch.nn.Identity(54, unused=1)) == "Identity()"
    assert layer.state_dict() == {}


@pytest.mark.parametrize(("build", "exc", "words"), [
    (lambda: nn.GroupNorm(4, 6), ValueError, "divisible by num_groups"),
    (lambda: nn.GroupNorm(0, 6), ValueError, "num_groups=0"),
    (lambda: nn.GroupNorm(2, 4, eps=-1), ValueError, "eps=-1"),
    (lambda: nn.LayerNorm(0), ValueError, "normalized_shape=0"),
    (lambda: nn.LayerNorm("a"), ValueError, "normalized_shape='a'"),
    (lambda: nn.LayerNorm(()), ValueError, "normalized_shape=()"),
    (lambda: nn.Dropout2d(1.5), ValueError, "p=1.5"),
    (lambda: nn.GroupNorm(2, 4)(cv.tensor(np.ones((2, 6, 3)))), ValueError, "received shape"),
    (lambda: nn.LayerNorm((3, 4))(cv.tensor(np.ones((2, 4, 3)))), ValueError, r"\(3, 4\)"),
    (lambda: F.group_norm(cv.tensor(np.ones((2, 6))), 4), ValueError, "num_groups=4"),
    (lambda: F.group_norm(cv.tensor(np.ones((2, 6))), 3, np.ones(5)), ValueError, "weight"),
    (lambda: F.layer_norm(cv.tensor(np.ones((2, 3))), 3, bias=np.ones(2)), ValueError, "bias"),
    (lambda: F.layer_norm(np.ones((2, 3), np.int64), 3), TypeError, "floating-point"),
    (lambda: F.dropout1d(cv.tensor(np.ones((2, 3, 4, 5)))), ValueError, "dropout1d"),
    (lambda: F.dropout2d(cv.tensor(np.ones(3))), ValueError, "dropout2d"),
])
def test_bad_input_names_the_argument(build, exc, words):
    with pytest.raises(exc, match=words):
        build()


def test_build_model_knows_the_new_layers():
    from convolve.models import build_model

    model = build_model([{"type": "conv2d", "out_channels": 4, "kernel_size": 3},
                         {"type": "groupnorm", "num_groups": 2}, {"type": "dropout2d"},
                         {"type": "layernorm"}, {"type": "flatten"},
                         {"type": "linear", "out_features": 6}, {"type": "dropout"}],
                        (1, 6, 6))
    assert [type(m).__name__ for m in model][1:4] == ["GroupNorm", "Dropout2d", "LayerNorm"]
    assert model[1].num_channels == 4 and model[3].normalized_shape == (4, 4, 4)
    assert model(cv.tensor(np.zeros((2, 1, 6, 6), np.float32))).shape == (2, 6)
