"""Activation, normalisation, dropout and loss layers against PyTorch's layers: outputs,
gradients, buffers, state_dict keys, reprs, and bad-input errors."""

import numpy as np
import pytest

import convolve as cv
from convolve import nn

RTOL = 1e-9
ATOL = 1e-12


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _compare_layer(torch, ours, ref, x, rng):
    xs, tx = cv.tensor(x, requires_grad=True), _t(torch, x, True)
    out, tout = ours(xs), ref(tx)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(_t(torch, g))
    np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------- activations
_ACTIVATIONS = [
    ("ReLU", (), {}), ("ReLU", (), {"inplace": True}), ("LeakyReLU", (), {}),
    ("LeakyReLU", (0.2,), {}), ("LeakyReLU", (0.3, True), {}), ("Sigmoid", (), {}),
    ("Tanh", (), {}), ("GELU", (), {}), ("GELU", (), {"approximate": "tanh"}),
    ("Softmax", (1,), {}), ("Softmax", (), {"dim": -1}), ("LogSoftmax", (0,), {}),
    ("LogSoftmax", (2,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", _ACTIVATIONS)
def test_activation_layer_matches_torch(torch, rng, name, args, kwargs):
    ours = getattr(nn, name)(*args, **kwargs)
    ref = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(ours) == repr(ref)
    x = rng.standard_normal((3, 4, 5)) * 3
    if kwargs.get("inplace") or (len(args) > 1 and args[1]):
        ref = getattr(torch.nn, name)(*args[:1])  # torch cannot backprop into an in-place leaf
    _compare_layer(torch, ours, ref, x, rng)
    assert ours(cv.tensor(x.astype(np.float32))).dtype == np.float32


def test_activation_layers_have_no_parameters():
    for name, args, kwargs in _ACTIVATIONS:
        layer = getattr(nn, name)(*args, **kwargs)
        assert list(layer.parameters()) == [] and layer.state_dict() == {}


def test_softmax_layer_default_dim_repr_matches_torch(torch):
    assert repr(nn.Softmax()) == repr(torch.nn.Softmax()) == "Softmax(dim=None)"


def test_activation_layer_bad_arguments():
    with pytest.raises(ValueError, match=r"GELU: approximate must be 'none' or 'tanh'.*'fast'"):
        nn.GELU("fast")
    with pytest.raises(TypeError, match=r"LeakyReLU: negative_slope must be a real number.*'a'"):
        nn.LeakyReLU("a")
    with pytest.raises(TypeError, match=r"Softmax: dim must be an int or None.*1.5"):
        nn.Softmax(1.5)
    with pytest.raises(TypeError, match="LogSoftmax: dim must be an int or None"):
        nn.LogSoftmax("1")
    with pytest.raises(ValueError, match=r"softmax: dim must be an int in \[-2, 1\].*dim=3"):
        nn.Softmax(3)(cv.tensor(np.zeros((2, 2))))
    with pytest.raises(TypeError, match="gelu: expected a floating-point input"):
        nn.GELU()(np.zeros(3, np.int64))


# ------------------------------------------------------------------ batchnorm
def _copy_bn(torch, ours, ref):
    ours.load_state_dict({k: v.detach().clone() for k, v in ref.state_dict().items()})


@pytest.mark.parametrize("seed", range(16))
def test_batchnorm_layer_matches_torch_over_steps(torch, seed):
    r = np.random.default_rng(seed)
    two_d = r.random() < 0.5
    c = int(r.integers(1, 5))
    kwargs = {"momentum": [0.1, None, float(r.uniform(0, 1))][seed % 3],
              "eps": float(r.choice([1e-5, 1e-2])), "affine": bool(r.random() < 0.7),
              "track_running_stats": bool(r.random() < 0.75)}
    if kwargs["affine"] and r.random() < 0.3:
        kwargs["bias"] = False
    name = "BatchNorm2d" if two_d else "BatchNorm1d"
    ours = getattr(nn, name)(c, **kwargs).double()
    ref = getattr(torch.nn, name)(c, **kwargs).double()
    assert repr(ours) == repr(ref)
    if kwargs["affine"]:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 2.0)
            if ref.bias is not None:
                ref.bias.uniform_(-1, 1)
        _copy_bn(torch, ours, ref)
    if two_d:
        shape = (int(r.integers(1, 4)), c, int(r.integers(1, 4)), int(r.integers(2, 4)))
    else:
        shape = (int(r.integers(2, 5)), c) + ((int(r.integers(1, 4)),) if r.random() < 0.5 else ())
    for step in range(5):
        if step == 3:
            ours.eval()
            ref.eval()
        x = r.standard_normal(shape) * r.uniform(0.5, 3) + r.uniform(-2, 2)
        xs, tx = cv.tensor(x, requires_grad=True), _t(torch, x, True)
        out, tout = ours(xs), ref(tx)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=1e-11)
        g = r.standard_normal(shape)
        out.backward(g)
        tout.backward(_t(torch, g))
        np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=RTOL, atol=1e-10)
        for (k, p), (tk, tp) in zip(ours.named_parameters(), ref.named_parameters()):
            assert k == tk
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=RTOL, atol=1e-10)
            p.grad, tp.grad = None, None
        sd, tsd = ours.state_dict(), ref.state_dict()
        assert list(sd) == list(tsd)
        for k in sd:
            np.testing.assert_allclose(sd[k], tsd[k].numpy(), rtol=RTOL, atol=ATOL, err_msg=k)


@pytest.mark.parametrize("kwargs", [{}, {"affine": False}, {"track_running_stats": False},
                                    {"bias": False}, {"affine": False,
                                                      "track_running_stats": False}])
def test_batchnorm2d_state_dict_matches_torch(torch, kwargs):
    ours, ref = nn.BatchNorm2d(5, **kwargs), torch.nn.BatchNorm2d(5, **kwargs)
    sd, tsd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape)
        np.testing.assert_array_equal(sd[k], tsd[k].numpy())
    if "num_batches_tracked" in sd:
        assert sd["num_batches_tracked"].dtype == np.int64
        assert sd["running_mean"].dtype == np.float32
    assert [k for k, _ in ours.named_parameters()] == [k for k, _ in ref.named_parameters()]
    assert repr(ours) == repr(ref)


def test_batchnorm_load_torch_state_dict_after_training(torch, rng):
    ref = torch.nn.BatchNorm1d(3, momentum=None)
    for _ in range(3):
        ref(torch.randn(6, 3, dtype=torch.float32))
    ours = nn.BatchNorm1d(3, momentum=None)
    ours.load_state_dict(ref.state_dict())
    assert int(ours.num_batches_tracked.item()) == 3
    x = rng.standard_normal((4, 3)).astype(np.float32)
    ours(cv.tensor(x))
    ref(torch.from_numpy(x))
    assert int(ours.num_batches_tracked.item()) == 4
    for k, v in ref.state_dict().items():  # cumulative average: the fourth batch weighs 1/4
        np.testing.assert_allclose(ours.state_dict()[k], v.numpy(), rtol=1e-5, err_msg=k)
    ours.eval()
    ref.eval()
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(cv.tensor(x)).data, ref(torch.from_numpy(x)).detach().numpy(),
                               rtol=1e-5, atol=1e-6)


def test_batchnorm_to_double_keeps_counter_integer():
    bn = nn.BatchNorm2d(2).double()
    assert bn.weight.dtype == np.float64 and bn.running_var.dtype == np.float64
    assert bn.num_batches_tracked.dtype == np.int64


def test_batchnorm_reset_parameters_restores_defaults(rng):
    bn = nn.BatchNorm1d(3)
    bn(cv.tensor(rng.standard_normal((5, 3)).astype(np.float32)))
    bn.weight.data[...] = 2
    bn.reset_parameters()
    np.testing.assert_array_equal(bn.weight.data, 1)
    np.testing.assert_array_equal(bn.bias.data, 0)
    np.testing.assert_array_equal(bn.running_mean.data, 0)
    np.testing.assert_array_equal(bn.running_var.data, 1)
    assert bn.num_batches_tracked.item() == 0


def test_batchnorm_bad_input():
    with pytest.raises(ValueError, match=r"BatchNorm1d: expected 2D \(N, C\) or 3D .*\(2, 3, 4, 5\) \(4D\)"):
        nn.BatchNorm1d(3)(cv.tensor(np.zeros((2, 3, 4, 5), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected 4D \(N, C, H, W\).*\(2, 3\)"):
        nn.BatchNorm2d(3)(cv.tensor(np.zeros((2, 3), np.float32)))
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected input with 3 channels "
                                         r"\(num_features\), received shape \(2, 4, 5, 5\)"):
        nn.BatchNorm2d(3)(cv.tensor(np.zeros((2, 4, 5, 5), np.float32)))
    bn = nn.BatchNorm1d(3)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        bn(cv.tensor(np.zeros((1, 3), np.float32)))
    for bad in (0, -2, 2.5, True):
        with pytest.raises(ValueError, match=rf"BatchNorm1d: num_features must be a positive int.*{bad}"):
            nn.BatchNorm1d(bad)
    with pytest.raises(ValueError, match=r"momentum must be None or in \[0, 1\].*1.5"):
        nn.BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a non-negative number"):
        nn.BatchNorm2d(3, eps=-1e-5)


# -------------------------------------------------------------------- dropout
def test_dropout_layer_train_and_eval(torch):
    layer = nn.Dropout(0.25)
    assert repr(layer) == repr(torch.nn.Dropout(0.25)) == "Dropout(p=0.25, inplace=False)"
    x = cv.tensor(np.ones((100, 100)))
    cv.manual_seed(0)
    out = layer(x).data
    assert set(np.unique(out)) == {0.0, 1 / 0.75}
    assert 0.2 < (out == 0).mean() < 0.3
    layer.eval()
    assert layer(x) is x
    assert list(layer.parameters()) == []


def test_dropout_layer_bad_p():
    for p in (-0.5, 2, "x"):
        with pytest.raises(ValueError, match=r"Dropout: probability p has to be between 0 and 1"):
            nn.Dropout(p)


# --------------------------------------------------------------------- losses
def _class_problem(rng, spatial=()):
    x = rng.standard_normal((4, 3) + spatial) * 2
    y = rng.integers(0, 3, (4,) + spatial)
    y.flat[1] = 2
    return x, y


@pytest.mark.parametrize("kwargs", [{}, {"reduction": "sum"}, {"reduction": "none"},
                                    {"label_smoothing": 0.2}, {"ignore_index": 2},
                                    {"weight": [0.3, 1.0, 2.0], "label_smoothing": 0.1,
                                     "ignore_index": 0}])
@pytest.mark.parametrize("spatial", [(), (2, 3)])
def test_cross_entropy_and_nll_layers_match_torch(torch, rng, kwargs, spatial):
    x, y = _class_problem(rng, spatial)
    tk = dict(kwargs)
    if "weight" in kwargs:
        kwargs = dict(kwargs, weight=np.array(kwargs["weight"]))
        tk["weight"] = _t(torch, kwargs["weight"])
    ce, tce = nn.CrossEntropyLoss(**kwargs), torch.nn.CrossEntropyLoss(**tk)
    _compare_loss(torch, rng, ce, tce, x, y)
    kwargs.pop("label_smoothing", None)
    tk.pop("label_smoothing", None)
    nll, tnll = nn.NLLLoss(**kwargs), torch.nn.NLLLoss(**tk)
    _compare_loss(torch, rng, nll, tnll, x, y)


def _compare_loss(torch, rng, ours, ref, x, y, float_target=False):
    assert repr(ours) == repr(ref)
    assert list(ours.state_dict()) == list(ref.state_dict())
    xs, tx = cv.tensor(x, requires_grad=True), _t(torch, x, True)
    ys, ty = (cv.tensor(y), _t(torch, y)) if float_target else (y, _t(torch, y))
    out, tout = ours(xs, ys), ref(tx, ty)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape)
    (out * cv.tensor(g)).sum().backward()
    (tout * _t(torch, g)).sum().backward()
    np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_mse_and_bce_layers_match_torch(torch, rng, reduction):
    x, y = rng.standard_normal((3, 4)) * 3, rng.uniform(0, 1, (3, 4))
    _compare_loss(torch, rng, nn.MSELoss(reduction=reduction),
                  torch.nn.MSELoss(reduction=reduction), x, y, float_target=True)
    w, pw = rng.uniform(0.5, 2, 4), rng.uniform(0.5, 3, 4)
    _compare_loss(torch, rng, nn.BCEWithLogitsLoss(w, reduction=reduction, pos_weight=pw),
                  torch.nn.BCEWithLogitsLoss(_t(torch, w), reduction=reduction,
                                             pos_weight=_t(torch, pw)),
                  x, y, float_target=True)
    _compare_loss(torch, rng, nn.BCEWithLogitsLoss(reduction=reduction),
                  torch.nn.BCEWithLogitsLoss(reduction=reduction), x, y, float_target=True)


def test_weighted_loss_buffers_follow_the_module(torch):
    loss = nn.CrossEntropyLoss(weight=np.array([1.0, 2.0], np.float32))
    np.testing.assert_array_equal(loss.state_dict()["weight"], [1.0, 2.0])
    loss.double()
    assert loss.weight.dtype == np.float64
    assert list(nn.BCEWithLogitsLoss(pos_weight=np.ones(3)).state_dict()) == \
        list(torch.nn.BCEWithLogitsLoss(pos_weight=torch.ones(3)).state_dict()) == ["pos_weight"]


def test_loss_layers_bad_arguments():
    for cls in (nn.CrossEntropyLoss, nn.NLLLoss, nn.MSELoss, nn.BCEWithLogitsLoss):
        with pytest.raises(ValueError, match=rf"{cls.__name__}: reduction must be.*'avg'"):
            cls(reduction="avg")
    with pytest.raises(ValueError, match=r"CrossEntropyLoss: label_smoothing must be in \[0, 1\]"):
        nn.CrossEntropyLoss(label_smoothing=2.0)
    with pytest.raises(TypeError, match="NLLLoss: ignore_index must be an int"):
        nn.NLLLoss(ignore_index=1.5)
    with pytest.raises(TypeError, match="CrossEntropyLoss: weight must be a floating tensor"):
        nn.CrossEntropyLoss(weight=np.array([1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: target must hold integer class indices"):
        nn.CrossEntropyLoss()(cv.tensor(np.zeros((2, 3))), cv.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"cross_entropy: target holds class index 5.*C=3"):
        nn.CrossEntropyLoss()(cv.tensor(np.zeros((2, 3))), np.array([0, 5]))
