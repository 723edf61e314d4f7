"""Elementwise ops and activations of the core: finite differences (float64) including
broadcasting, PyTorch as the oracle, dtype rules, edge cases and bad input."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

RTOL = 1e-9
ATOL = 1e-12

# ------------------------------------------------------------- broadcasting
_SHAPE_PAIRS = [((3, 4), (3, 4)), ((3, 4), (4,)), ((3, 1), (1, 4)), ((2, 3, 4), (3, 1)),
                ((4,), (2, 3, 4)), ((), (2, 3)), ((2, 1, 3), (1, 4, 1))]


@pytest.mark.parametrize("a_shape,b_shape", _SHAPE_PAIRS)
@pytest.mark.parametrize("op", ["add", "sub", "mul", "div"])
def test_binary_gradcheck_with_broadcasting(rng, op, a_shape, b_shape):
    a = rng.standard_normal(a_shape)
    b = rng.uniform(0.5, 2, b_shape) * rng.choice([-1, 1], b_shape)  # away from 0 for div
    gradcheck(getattr(F, op), a, b)


@pytest.mark.parametrize("a_shape,b_shape", _SHAPE_PAIRS)
def test_pow_with_tensor_exponent_gradcheck(rng, a_shape, b_shape):
    gradcheck(F.pow, rng.uniform(0.5, 2, a_shape), rng.uniform(-2, 2, b_shape))


@pytest.mark.parametrize("op,pyop", [("add", np.add), ("sub", np.subtract),
                                     ("mul", np.multiply), ("div", np.divide),
                                     ("pow", np.power)])
def test_binary_ops_match_torch(torch, rng, op, pyop):
    a, b = rng.uniform(0.5, 2, (2, 3, 4)), rng.uniform(-2, 2, (3, 1))
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ca, cb = cv.tensor(a, requires_grad=True), cv.tensor(b, requires_grad=True)
    out, tout = getattr(F, op)(ca, cb), getattr(torch, op)(ta, tb)
    np.testing.assert_allclose(out.data, pyop(a, b), rtol=RTOL)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(ca.grad, ta.grad.numpy(), rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(cb.grad, tb.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_operators_and_reflected_operators(rng):
    a = rng.uniform(0.5, 2, (2, 3))
    t = cv.tensor(a)
    cases = [(t + 2, a + 2), (2 + t, 2 + a), (t - 2, a - 2), (2 - t, 2 - a), (t * 3, a * 3),
             (3 * t, 3 * a), (t / 4, a / 4), (4 / t, 4 / a), (t ** 2, a ** 2), (2 ** t, 2 ** a),
             (-t, -a), (t + a, a + a), (a * t, a * a), (t @ a.T, a @ a.T), (a @ t.T, a @ a.T)]
    for out, want in cases:
        assert isinstance(out, cv.Tensor)
        np.testing.assert_allclose(out.data, want, rtol=1e-15)


def test_scalar_exponent_and_base_gradients(rng, torch):
    a = rng.uniform(0.5, 2, (3, 4))
    gradcheck(lambda x: x ** 3 + x ** -1.5 + x ** 0.5, a)
    gradcheck(lambda x: 2.0 ** x + F.pow(3, x), a)
    # exponent 0 has gradient 0 even at a == 0 (PyTorch's rule), not 0 * inf = nan
    z = np.array([0.0, 1.0, -2.0])
    t = cv.tensor(z, requires_grad=True)
    (t ** 0 + t ** 2).sum().backward()
    tt = torch.tensor(z, requires_grad=True)
    (tt ** 0 + tt ** 2).sum().backward()
    np.testing.assert_array_equal(t.grad, tt.grad.numpy())


def test_pow_exponent_gradient_matches_torch_at_positive_and_zero_base(torch):
    a, b = np.array([0.0, 0.5, 2.0, 3.0]), np.array([2.0, 1.5, -1.0, 0.0])
    ca, cb = cv.tensor(a, requires_grad=True), cv.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (ca ** cb).sum().backward()
    (ta ** tb).sum().backward()
    np.testing.assert_allclose(ca.grad, ta.grad.numpy(), rtol=RTOL)
    np.testing.assert_allclose(cb.grad, tb.grad.numpy(), rtol=RTOL)


# ---------------------------------------------------------------- unary math
_UNARY = [("exp", lambda r, s: r.standard_normal(s)), ("log", lambda r, s: r.uniform(0.2, 3, s)),
          ("sqrt", lambda r, s: r.uniform(0.2, 3, s)),
          ("abs", lambda r, s: r.uniform(0.2, 2, s) * r.choice([-1, 1], s)),
          ("neg", lambda r, s: r.standard_normal(s)),
          ("relu", lambda r, s: r.uniform(0.1, 2, s) * r.choice([-1, 1], s)),
          ("sigmoid", lambda r, s: r.standard_normal(s) * 3),
          ("tanh", lambda r, s: r.standard_normal(s) * 2),
          ("gelu", lambda r, s: r.standard_normal(s) * 2)]


@pytest.mark.parametrize("name,make", _UNARY)
def test_unary_gradcheck(rng, name, make):
    gradcheck(getattr(F, name), make(rng, (3, 4)))


@pytest.mark.parametrize("name,make", _UNARY)
def test_unary_matches_torch_and_keeps_dtype(torch, rng, name, make):
    x = make(rng, (4, 5))
    c, t = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    tfn = getattr(torch, name, None) or getattr(torch.nn.functional, name)
    out, tout = getattr(F, name)(c), tfn(t)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(x.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL)
    assert getattr(F, name)(cv.tensor(x.astype(np.float32))).dtype == np.float32


@pytest.mark.parametrize("slope", [0.01, 0.2, -0.5, 1.5])
def test_leaky_relu_matches_torch(torch, rng, slope):
    x = rng.uniform(0.1, 2, (3, 4)) * rng.choice([-1, 1], (3, 4))
    gradcheck(lambda a: F.leaky_relu(a, slope), x)
    c, t = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = F.leaky_relu(c, slope), torch.nn.functional.leaky_relu(t, slope)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=RTOL)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_torch(torch, rng, approximate):
    x = rng.standard_normal(50) * 4
    gradcheck(lambda a: F.gelu(a, approximate), x[:10])
    c, t = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out = F.gelu(c, approximate)
    tout = torch.nn.functional.gelu(t, approximate=approximate)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL)


def test_relu_and_abs_at_zero_follow_torch(torch):
    x = np.array([-1.0, 0.0, 1.0])
    for name in ("relu", "abs"):
        c, t = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        getattr(F, name)(c).sum().backward()
        getattr(torch, name)(t).sum().backward()
        np.testing.assert_array_equal(c.grad, t.grad.numpy(), err_msg=name)


def test_sigmoid_is_stable_for_huge_inputs():
    x = cv.tensor(np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0]), requires_grad=True)
    with np.errstate(over="raise"):
        out = F.sigmoid(x)
    assert np.isfinite(out.data).all()
    np.testing.assert_allclose(out.data[[0, 2, 4]], [0.0, 0.5, 1.0], atol=1e-300)
    out.sum().backward()
    assert np.isfinite(x.grad).all()


# ------------------------------------------------------------------ clip
@pytest.mark.parametrize("lo,hi", [(-0.5, 0.5), (None, 0.0), (0.0, None), (0.3, 0.3)])
def test_clip_matches_torch_including_bound_gradients(torch, rng, lo, hi):
    x = np.concatenate([rng.uniform(-1, 1, 20), [-0.5, 0.5, 0.0, 0.3]])  # exact bounds too
    c, t = cv.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    out, tout = F.clip(c, lo, hi), torch.clamp(t, lo, hi)
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    out.sum().backward()
    tout.sum().backward()
    np.testing.assert_array_equal(c.grad, t.grad.numpy())
    np.testing.assert_array_equal(c.clamp(lo, hi).data, out.data)


def test_clip_gradcheck_away_from_bounds(rng):
    x = rng.uniform(-2, 2, 30)
    x = x[np.abs(np.abs(x) - 1) > 1e-3]
    gradcheck(lambda a: F.clip(a, -1.0, 1.0) * a, x)


def test_clip_needs_a_bound():
    with pytest.raises(ValueError, match="clip: at least one of min and max must be given"):
        F.clip(cv.tensor([1.0]))


# -------------------------------------------------------------- dtype rules
def test_float32_stays_float32_with_python_and_numpy_scalars():
    x = cv.tensor(np.ones(3, np.float32), requires_grad=True)
    outs = [x + 1, x * 2.5, 1.5 - x, x / 3, x ** 2, 2 ** x, x * True, x * np.float64(2),
            np.sqrt(2.0) * x, x - np.int64(1), x + np.array(0.5)]
    assert all(o.dtype == np.float32 for o in outs), [o.dtype for o in outs]
    sum(o.sum() for o in outs).backward()
    assert x.grad.dtype == np.float32


def test_mixed_tensor_dtypes_promote_and_grads_keep_leaf_dtype():
    a = cv.tensor(np.ones(3, np.float32), requires_grad=True)
    b = cv.tensor(np.ones(3, np.float64), requires_grad=True)
    out = a * b
    assert out.dtype == np.float64
    out.sum().backward()
    assert a.grad.dtype == np.float32 and b.grad.dtype == np.float64


def test_cast_is_differentiable():
    a = cv.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    d = a.double()
    assert d.dtype == np.float64 and a.float() is a
    (d * d).sum().backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, [2.0, 4.0])
    i = a.astype(np.int64)  # an integer result leaves the graph, as in PyTorch's a.long()
    assert i.dtype == np.int64 and not i.requires_grad and i.tolist() == [1, 2]


def test_gelu_bad_input():
    with pytest.raises(ValueError, match=r"gelu: approximate must be 'none' or 'tanh'.*'erf'"):
        F.gelu(cv.tensor([1.0]), "erf")
    with pytest.raises(TypeError, match="gelu: expected a floating-point input, received dtype int64"):
        F.gelu(np.array([1, 2]))


def test_incompatible_broadcast_raises():
    with pytest.raises(ValueError):
        cv.tensor(np.ones((2, 3))) + cv.tensor(np.ones((4,)))
