"""softmax, log_softmax and the losses: finite differences (float64), PyTorch as the oracle
over seeded random option sweeps, and bad-input errors."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

RTOL = 1e-9
ATOL = 1e-12


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


def _random_config(seed, spatial_max=2):
    """A random class-loss problem: input, int64 target (some ignored), options."""
    r = np.random.default_rng(seed)
    n, c = int(r.integers(1, 5)), int(r.integers(2, 6))
    spatial = tuple(int(s) for s in r.integers(1, 4, size=r.integers(0, spatial_max + 1)))
    x = r.standard_normal((n, c) + spatial) * 3
    target = r.integers(0, c, size=(n,) + spatial).astype(np.int64)
    ignore = int(r.choice([-100, int(r.integers(0, c))]))
    if ignore == -100:
        target[r.random(target.shape) < 0.3] = -100
    if (target == ignore).all():  # keep at least one counted sample (all-ignored is tested apart)
        target.flat[0] = (ignore + 1) % c
    weight = r.uniform(0.2, 2.0, size=c) if r.random() < 0.5 else None
    smoothing = float(r.choice([0.0, r.uniform(0, 1), 1.0]))
    reduction = str(r.choice(["none", "mean", "sum"]))
    return x, target, weight, ignore, smoothing, reduction


# ------------------------------------------------------------------ softmax
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1),
                                       ((2, 3, 2, 2), 1)])
@pytest.mark.parametrize("fn", [F.softmax, F.log_softmax])
def test_softmax_gradcheck(rng, fn, shape, dim):
    gradcheck(lambda x: fn(x, dim), rng.standard_normal(shape) * 2)


@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_softmax_matches_torch(torch, rng, name, dim):
    x = rng.standard_normal((3, 4, 5)) * 4
    ours = cv.tensor(x, requires_grad=True)
    ref = _t(torch, x, True)
    w = rng.standard_normal(x.shape)
    out, tout = getattr(F, name)(ours, dim), getattr(torch.nn.functional, name)(ref, dim)
    (out * cv.tensor(w)).sum().backward()
    (tout * _t(torch, w)).sum().backward()
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_softmax_is_stable_for_huge_logits():
    x = cv.tensor(np.array([[1000.0, 0.0, -1000.0], [-5000.0, -5000.0, -5000.0]]))
    p = F.softmax(x, 1).data
    lp = F.log_softmax(x, 1).data
    assert np.isfinite(p).all() and np.isfinite(lp).all()
    np.testing.assert_allclose(p.sum(1), 1.0, rtol=1e-12)
    np.testing.assert_allclose(lp[0], [0.0, -1000.0, -2000.0], rtol=1e-12)
    np.testing.assert_allclose(p[1], [1 / 3] * 3, rtol=1e-12)


def test_softmax_implicit_dim_warns_and_follows_torch(torch, rng):
    x = rng.standard_normal((2, 3))
    with pytest.warns(UserWarning, match="implicit dimension"):
        out = F.softmax(cv.tensor(x))
    with pytest.warns(UserWarning):
        ref = torch.nn.functional.softmax(_t(torch, x), dim=None)
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=RTOL)


def test_softmax_keeps_float32():
    x = cv.tensor(np.ones((2, 3), np.float32))
    assert F.softmax(x, 1).dtype == np.float32
    assert F.log_softmax(x, 1).dtype == np.float32


# -------------------------------------------------------------- cross_entropy
@pytest.mark.parametrize("seed", range(6))
def test_cross_entropy_gradcheck(seed):
    x, target, weight, ignore, smoothing, reduction = _random_config(seed)
    grads = gradcheck(lambda a: F.cross_entropy(a, target, weight, ignore_index=ignore,
                                                reduction=reduction, label_smoothing=smoothing),
                      x)
    ignored = target == ignore
    if ignored.any():  # samples whose target is ignored get no gradient
        assert np.all(np.moveaxis(grads[0], 1, -1)[ignored] == 0)


@pytest.mark.parametrize("options", [
    {}, {"reduction": "sum"}, {"reduction": "none"}, {"label_smoothing": 0.3},
    {"weight": np.array([0.5, 2.0, 1.0, 0.1])}, {"ignore_index": 2},
    {"weight": np.array([0.5, 2.0, 1.0, 0.1]), "label_smoothing": 0.25, "ignore_index": 1},
])
def test_cross_entropy_options_gradcheck(rng, options):
    x = rng.standard_normal((5, 4))
    target = np.array([0, 1, 2, 3, 1])
    gradcheck(lambda a: F.cross_entropy(a, target, **options), x)


@pytest.mark.parametrize("seed", range(60))
def test_cross_entropy_matches_torch(torch, seed):
    x, target, weight, ignore, smoothing, reduction = _random_config(seed)
    ours = cv.tensor(x, requires_grad=True)
    ref = _t(torch, x, True)
    out = F.cross_entropy(ours, target, None if weight is None else cv.tensor(weight),
                          ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
    tout = torch.nn.functional.cross_entropy(
        ref, _t(torch, target), None if weight is None else _t(torch, weight),
        ignore_index=ignore, reduction=reduction, label_smoothing=smoothing)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    w = np.random.default_rng(seed + 1000).standard_normal(out.shape)
    (out * cv.tensor(w)).sum().backward()
    (tout * _t(torch, w)).sum().backward()
    np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_cross_entropy_unbatched_matches_torch(torch, rng):
    x = rng.standard_normal(5)
    for reduction in ("none", "mean", "sum"):
        ours = cv.tensor(x, requires_grad=True)
        ref = _t(torch, x, True)
        out = F.cross_entropy(ours, np.array(3), reduction=reduction, label_smoothing=0.1)
        tout = torch.nn.functional.cross_entropy(ref, torch.tensor(3), reduction=reduction,
                                                 label_smoothing=0.1)
        assert out.shape == () == tuple(tout.shape)
        out.backward()
        tout.backward()
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL)
        np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("smoothing", [0.0, 0.4])
def test_cross_entropy_all_ignored_is_nan_with_zero_grad_like_torch(torch, rng, smoothing):
    x = rng.standard_normal((3, 4))
    target = np.full(3, -100)
    ours = cv.tensor(x, requires_grad=True)
    ref = _t(torch, x, True)
    out = F.cross_entropy(ours, target, label_smoothing=smoothing)
    tout = torch.nn.functional.cross_entropy(ref, _t(torch, target), label_smoothing=smoothing)
    assert np.isnan(out.item()) and np.isnan(tout.item())
    out.backward()
    tout.backward()
    np.testing.assert_array_equal(ours.grad, ref.grad.numpy())


def test_cross_entropy_equals_nll_of_log_softmax(rng):
    x = rng.standard_normal((6, 5))
    target = rng.integers(0, 5, 6)
    w = rng.uniform(0.5, 2, 5)
    a = F.cross_entropy(cv.tensor(x), target, w)
    b = F.nll_loss(F.log_softmax(cv.tensor(x), 1), target, w)
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12)


def test_cross_entropy_is_stable_and_keeps_float32():
    x = np.array([[1e4, -1e4, 0.0], [-3e4, 3e4, 1.0]], dtype=np.float32)
    t = cv.tensor(x, requires_grad=True)
    loss = F.cross_entropy(t, np.array([1, 0]), label_smoothing=0.1)
    loss.backward()
    assert loss.dtype == np.float32 and t.grad.dtype == np.float32
    assert np.isfinite(loss.item()) and np.isfinite(t.grad).all()
    # -log p[target] is the margin to the max logit: 2e4 and 6e4 (p underflows to 0 in float32)
    smooth = [(2e4 + 0 + 1e4) / 3, (6e4 + 0 + (3e4 - 1)) / 3]
    expected = np.mean([0.9 * 2e4 + 0.1 * smooth[0], 0.9 * 6e4 + 0.1 * smooth[1]])
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-6)


def test_cross_entropy_accepts_integer_tensor_target(rng):
    x = cv.tensor(rng.standard_normal((4, 3)))
    y = np.array([0, 2, 1, 1])
    a = F.cross_entropy(x, cv.tensor(y, dtype=np.int64))
    b = F.cross_entropy(x, y.astype(np.uint8))
    np.testing.assert_allclose(a.data, b.data, rtol=1e-15)


# ------------------------------------------------------------------ nll_loss
@pytest.mark.parametrize("seed", range(4))
def test_nll_loss_gradcheck(seed):
    x, target, weight, ignore, _, reduction = _random_config(seed + 50)
    gradcheck(lambda a: F.nll_loss(a, target, weight, ignore_index=ignore, reduction=reduction),
              x)


@pytest.mark.parametrize("seed", range(30))
def test_nll_loss_matches_torch(torch, seed):
    x, target, weight, ignore, _, reduction = _random_config(seed + 100)
    ours = cv.tensor(x, requires_grad=True)
    ref = _t(torch, x, True)
    out = F.nll_loss(ours, target, weight, ignore_index=ignore, reduction=reduction)
    tout = torch.nn.functional.nll_loss(ref, _t(torch, target),
                                        None if weight is None else _t(torch, weight),
                                        ignore_index=ignore, reduction=reduction)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (out * cv.tensor(w)).sum().backward()
    (tout * _t(torch, w)).sum().backward()
    np.testing.assert_allclose(ours.grad, ref.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_nll_loss_naive_loop_reference(rng):
    x = rng.standard_normal((4, 3, 2))
    target = rng.integers(0, 3, (4, 2))
    target[1, 0] = 7
    w = rng.uniform(0.5, 2, 3)
    num = den = 0.0
    for n in range(4):
        for d in range(2):
            if target[n, d] != 7:
                num -= w[target[n, d]] * x[n, target[n, d], d]
                den += w[target[n, d]]
    out = F.nll_loss(cv.tensor(x), target, w, ignore_index=7)
    np.testing.assert_allclose(out.item(), num / den, rtol=1e-12)


# ------------------------------------------------------------------ mse_loss
@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_mse_loss_gradcheck_both_inputs(rng, reduction):
    gradcheck(lambda a, b: F.mse_loss(a, b, reduction=reduction),
              rng.standard_normal((3, 4)), rng.standard_normal((3, 4)))


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
@pytest.mark.parametrize("shape", [(7,), (2, 3, 4), ()])
def test_mse_loss_matches_torch(torch, rng, reduction, shape):
    x, y = rng.standard_normal(shape), rng.standard_normal(shape)
    a, b = cv.tensor(x, requires_grad=True), cv.tensor(y, requires_grad=True)
    ta, tb = _t(torch, x, True), _t(torch, y, True)
    out = F.mse_loss(a, b, reduction=reduction)
    tout = torch.nn.functional.mse_loss(ta, tb, reduction=reduction)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=RTOL)


# ------------------------------------------------- binary_cross_entropy_with_logits
_BCE_OPTIONS = [
    {}, {"reduction": "sum"}, {"reduction": "none"},
    {"weight": np.array([0.5, 1.0, 2.0, 0.3])}, {"weight": np.array([[0.5], [2.0], [1.0]])},
    {"pos_weight": np.array([3.0, 0.5, 1.0, 2.0])},
    {"weight": np.array([0.5, 1.0, 2.0, 0.3]), "pos_weight": np.array([3.0, 0.5, 1.0, 2.0]),
         "reduction": "none"},
]


@pytest.mark.parametrize("options", _BCE_OPTIONS)
def test_bce_with_logits_gradcheck(rng, options):
    x = rng.standard_normal((3, 4)) * 2
    y = rng.uniform(0, 1, (3, 4))
    gradcheck(lambda a, b: F.binary_cross_entropy_with_logits(a, b, **options), x, y)


@pytest.mark.parametrize("seed", range(20))
def test_bce_with_logits_matches_torch(torch, seed):
    r = np.random.default_rng(seed)
    shape = tuple(int(s) for s in r.integers(1, 5, size=r.integers(1, 4)))
    x = r.standard_normal(shape) * 5
    y = r.uniform(0, 1, shape) if r.random() < 0.5 else (r.random(shape) < 0.5) * 1.0
    c = shape[-1]
    weight = r.uniform(0.1, 2, (c,) if r.random() < 0.5 else shape) if r.random() < 0.5 else None
    pos_weight = r.uniform(0.1, 4, c) if r.random() < 0.5 else None
    reduction = str(r.choice(["none", "mean", "sum"]))
    a, b = cv.tensor(x, requires_grad=True), cv.tensor(y, requires_grad=True)
    ta, tb = _t(torch, x, True), _t(torch, y, True)
    out = F.binary_cross_entropy_with_logits(a, b, weight, reduction=reduction,
                                             pos_weight=pos_weight)
    tout = torch.nn.functional.binary_cross_entropy_with_logits(
        ta, tb, None if weight is None else _t(torch, weight), reduction=reduction,
        pos_weight=None if pos_weight is None else _t(torch, pos_weight))
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    w = r.standard_normal(out.shape)
    (out * cv.tensor(w)).sum().backward()
    (tout * _t(torch, w)).sum().backward()
    np.testing.assert_allclose(a.grad, ta.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_bce_with_logits_stable_for_huge_logits(torch):
    x = np.array([1000.0, -1000.0, 800.0, -800.0, 0.0])
    y = np.array([0.0, 1.0, 1.0, 0.0, 0.5])
    out = F.binary_cross_entropy_with_logits(cv.tensor(x), cv.tensor(y), reduction="none")
    ref = torch.nn.functional.binary_cross_entropy_with_logits(_t(torch, x), _t(torch, y),
                                                               reduction="none")
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=RTOL)


# ------------------------------------------------------------------ bad input
def test_class_target_must_be_integer():
    x = cv.tensor(np.zeros((2, 3)))
    for fn in (F.cross_entropy, F.nll_loss):
        with pytest.raises(TypeError, match=r"target must hold integer class indices.*float32"):
            fn(x, cv.tensor([0.0, 1.0]))
        with pytest.raises(TypeError, match="float64"):
            fn(x, np.array([0.0, 1.0]))


@pytest.mark.parametrize("bad", [3, -1, 10])
def test_class_index_out_of_range_names_value_and_c(bad):
    x = cv.tensor(np.zeros((2, 3)))
    for fn, name in ((F.cross_entropy, "cross_entropy"), (F.nll_loss, "nll_loss")):
        with pytest.raises(ValueError, match=rf"{name}: target holds class index {bad}.*C=3"):
            fn(x, np.array([0, bad]))
    # the ignored value itself is never out of range
    F.cross_entropy(x, np.array([0, bad]), ignore_index=bad)


@pytest.mark.parametrize("xshape,tshape", [((2, 3), (3,)), ((2, 3), (2, 1)),
                                           ((2, 3, 4), (2,)), ((2, 3, 4), (2, 5)),
                                           ((3,), (1,))])
def test_class_target_shape_mismatch(xshape, tshape):
    with pytest.raises(ValueError, match=r"cross_entropy: expected target of shape"):
        F.cross_entropy(cv.tensor(np.zeros(xshape)), np.zeros(tshape, np.int64))


def test_loss_bad_reduction_and_smoothing_and_weight():
    x = cv.tensor(np.zeros((2, 3)))
    y = np.array([0, 1])
    with pytest.raises(ValueError, match=r"cross_entropy: reduction.*received reduction='avg'"):
        F.cross_entropy(x, y, reduction="avg")
    for fn in (F.nll_loss, F.mse_loss, F.binary_cross_entropy_with_logits):
        tgt = y if fn is F.nll_loss else cv.tensor(np.zeros((2, 3)))
        with pytest.raises(ValueError, match="reduction must be 'none', 'mean' or 'sum'"):
            fn(x, tgt, reduction="elementwise_mean")
    for ls in (-0.1, 1.5):
        with pytest.raises(ValueError, match=rf"label_smoothing must be in \[0, 1\].*{ls}"):
            F.cross_entropy(x, y, label_smoothing=ls)
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\).*\(2,\)"):
        F.cross_entropy(x, y, np.ones(2))
    with pytest.raises(TypeError, match="weight must be floating"):
        F.nll_loss(x, y, np.ones(3, dtype=np.int64))
    with pytest.raises(ValueError, match="0-d input"):
        F.cross_entropy(cv.tensor(1.0), np.array(0))


def test_losses_reject_non_float_input():
    ints = np.zeros((2, 3), dtype=np.int64)
    with pytest.raises(TypeError, match=r"cross_entropy: expected a floating-point input.*int64"):
        F.cross_entropy(ints, np.array([0, 1]))
    with pytest.raises(TypeError, match="nll_loss: expected a floating-point input"):
        F.nll_loss(ints, np.array([0, 1]))
    with pytest.raises(TypeError, match="mse_loss: expected a floating-point input"):
        F.mse_loss(ints, np.zeros((2, 3)))
    with pytest.raises(TypeError, match="mse_loss: target must be floating, received dtype int64"):
        F.mse_loss(cv.tensor(np.zeros((2, 3))), ints)
    with pytest.raises(TypeError, match="softmax: expected a floating-point input"):
        F.softmax(ints, 1)


def test_regression_loss_shape_and_weight_errors():
    x = cv.tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"mse_loss: target shape \(3,\) must equal input shape"):
        F.mse_loss(x, cv.tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="binary_cross_entropy_with_logits: target shape"):
        F.binary_cross_entropy_with_logits(x, cv.tensor(np.zeros((3, 2))))
    with pytest.raises(ValueError, match=r"pos_weight of shape \(2,\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, cv.tensor(np.zeros((2, 3))),
                                           pos_weight=np.ones(2))
    with pytest.raises(ValueError, match=r"weight of shape \(2, 3, 1\) does not broadcast"):
        F.binary_cross_entropy_with_logits(x, cv.tensor(np.zeros((2, 3))),
                                           np.ones((2, 3, 1)))


@pytest.mark.parametrize("dim", [2, -3, 1.0, "1"])
def test_softmax_bad_dim(dim):
    for fn in (F.softmax, F.log_softmax):
        with pytest.raises(ValueError, match=r"softmax: dim must be an int in \[-2, 1\]"):
            fn(cv.tensor(np.zeros((2, 3))), dim)
