"""nn.utils against torch.nn.utils: clip_grad_norm_ (every norm type, clipping or not,
non-finite norms), clip_grad_value_, get_total_norm, parameters_to_vector and
vector_to_parameters, in float64 (and float32 for dtypes), plus bad input."""

import math

import numpy as np
import pytest

import convolve as cv
from convolve.nn import Parameter, utils

SHAPES = [(3, 4), (5,), (2, 3, 2), (4,)]


def _pair(torch, seed=0, scale=1.0, dtype=np.float64, no_grad=(3,)):
    """Our params and torch's, equal values and gradients; params in ``no_grad`` get none."""
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, shape in enumerate(SHAPES):
        value = rng.standard_normal(shape).astype(dtype)
        p, tp = Parameter(value.copy()), torch.tensor(value.copy(), requires_grad=True)
        if i not in no_grad:
            g = (scale * rng.standard_normal(shape)).astype(dtype)
            p.grad, tp.grad = g.copy(), torch.from_numpy(g.copy())
        ours.append(p)
        theirs.append(tp)
    return ours, theirs


def _assert_same_grads(ours, theirs, rtol=1e-12):
    for p, tp in zip(ours, theirs):
        if tp.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, 0.5, math.inf, "inf", -math.inf, 0])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_matches_torch(torch, norm_type, max_norm):
    ours, theirs = _pair(torch, seed=1, scale=2.0)
    total = utils.clip_grad_norm_(ours, max_norm, norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert isinstance(total, cv.Tensor) and total.shape == () and total.dtype == np.float64
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-12)
    _assert_same_grads(ours, theirs)
    after = utils.get_total_norm([p.grad for p in ours if p.grad is not None], norm_type)
    if norm_type not in (0, -math.inf):
        assert float(after.data) <= max_norm * (1 + 1e-9)


def test_clip_grad_norm_leaves_small_gradients_alone_and_takes_one_tensor(torch):
    ours, theirs = _pair(torch, seed=2, scale=1e-3)
    before = [None if p.grad is None else p.grad.copy() for p in ours]
    utils.clip_grad_norm_(iter(ours), max_norm=10.0)  # a generator, as model.parameters()
    torch.nn.utils.clip_grad_norm_(iter(theirs), max_norm=10.0)
    _assert_same_grads(ours, theirs)
    np.testing.assert_allclose(ours[0].grad, before[0], rtol=1e-9)
    total = utils.clip_grad_norm_(ours[0], 0.01)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs[0], 0.01)
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-12)
    _assert_same_grads(ours, theirs)


def test_clip_grad_norm_float32_and_no_gradients(torch):
    ours, theirs = _pair(torch, seed=3, scale=5.0, dtype=np.float32)
    total = utils.clip_grad_norm_(ours, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert total.dtype == np.float32 and ours[0].grad.dtype == np.float32
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-6)
    _assert_same_grads(ours, theirs, rtol=1e-6)
    none = [Parameter(np.ones(3))]
    assert float(utils.clip_grad_norm_(none, 1.0).data) == 0.0
    assert float(torch.nn.utils.clip_grad_norm_([torch.ones(3, requires_grad=True)], 1.0)) == 0
    with pytest.warns(UserWarning, match="empty generator"):
        utils.clip_grad_norm_((p for p in []), 1.0)


def test_clip_grad_norm_non_finite(torch):
    ours, theirs = _pair(torch, seed=4)
    ours[0].grad[0, 0] = np.inf
    theirs[0].grad[0, 0] = math.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="error_if_nonfinite=False"):
        utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    total = utils.clip_grad_norm_(ours, 1.0, foreach=True)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert math.isinf(float(total.data)) and math.isinf(float(ttotal))
    _assert_same_grads(ours, theirs)


@pytest.mark.parametrize("clip_value", [0.1, 1, 5.0])
def test_clip_grad_value_matches_torch(torch, clip_value):
    ours, theirs = _pair(torch, seed=5, scale=2.0)
    assert utils.clip_grad_value_(ours, clip_value) is None
    torch.nn.utils.clip_grad_value_(theirs, clip_value)
    _assert_same_grads(ours, theirs, rtol=0)
    assert max(np.abs(p.grad).max() for p in ours if p.grad is not None) <= clip_value


def test_clip_after_a_real_backward(torch):
    model = cv.nn.Linear(4, 3, dtype=np.float64)
    x = cv.tensor(np.random.default_rng(0).standard_normal((5, 4)) * 10)
    (model(x) ** 2).sum().backward()
    tmodel = torch.nn.Linear(4, 3).double()
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v, copy=True))
                            for k, v in model.state_dict().items()})
    (tmodel(torch.from_numpy(x.data)) ** 2).sum().backward()
    total = utils.clip_grad_norm_(model.parameters(), 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), 1.0)
    np.testing.assert_allclose(total.data, ttotal.numpy(), rtol=1e-12)
    _assert_same_grads(list(model.parameters()), list(tmodel.parameters()))


def test_parameters_to_vector_and_back_match_torch(torch):
    ours, theirs = _pair(torch, seed=6)
    vec = utils.parameters_to_vector(ours)
    tvec = torch.nn.utils.parameters_to_vector(theirs)
    np.testing.assert_array_equal(vec.data, tvec.detach().numpy())
    before = [np.zeros(p.shape) if p.grad is None else p.grad.copy() for p in ours]
    (vec * cv.tensor(np.arange(vec.shape[0], dtype=np.float64))).sum().backward()
    start = 0
    for p, b in zip(ours, before):  # differentiable, as torch's: d/dp = its slice of arange
        n = p.data.size
        np.testing.assert_array_equal(p.grad, b + np.arange(start, start + n).reshape(p.shape))
        start += n
    new = np.arange(vec.shape[0], dtype=np.float64)
    arrays = [p.data for p in ours]
    utils.vector_to_parameters(cv.tensor(new), ours)
    torch.nn.utils.vector_to_parameters(torch.from_numpy(new), theirs)
    for p, tp, a in zip(ours, theirs, arrays):
        np.testing.assert_array_equal(p.data, tp.detach().numpy())
        assert p.data is a  # in place


@pytest.mark.parametrize(("call", "exc", "words"), [
    (lambda ps: utils.clip_grad_norm_(ps, "big"), TypeError, "max_norm='big'"),
    (lambda ps: utils.clip_grad_norm_(ps, 1.0, norm_type="l2"), TypeError, "norm_type='l2'"),
    (lambda ps: utils.clip_grad_norm_(5, 1.0), TypeError, "parameters must be"),
    (lambda ps: utils.clip_grad_norm_([np.ones(2)], 1.0), TypeError, r"parameters\[0\]"),
    (lambda ps: utils.clip_grad_value_(ps, None), TypeError, "clip_value=None"),
    (lambda ps: utils.vector_to_parameters(np.ones(3), ps), ValueError, "33 entries"),
    (lambda ps: utils.parameters_to_vector([]), ValueError, "at least one"),
])
def test_bad_input_names_the_argument(torch, call, exc, words):
    ours, _ = _pair(torch)
    with pytest.raises(exc, match=words):
        call(ours)
