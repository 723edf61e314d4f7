"""batch_norm and dropout: finite differences (float64), PyTorch as the oracle over seeded
sweeps (outputs, gradients, running statistics after several steps), dropout statistics."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

RTOL = 1e-9
ATOL = 1e-12


def _t(torch, a, grad=False):
    return torch.tensor(np.asarray(a), requires_grad=grad)


# ---------------------------------------------------------------- batch_norm
@pytest.mark.parametrize("shape", [(5, 3), (4, 2, 3), (3, 2, 2, 3)])
@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck(rng, shape, training):
    c = shape[1]
    rm, rv = rng.standard_normal(c), rng.uniform(0.5, 2, c)

    def fn(x, w, b):
        stats = (None, None) if training else (rm, rv)
        return F.batch_norm(x, *stats, w, b, training=training, eps=1e-3)

    gradcheck(fn, rng.standard_normal(shape) * 2 + 1, rng.standard_normal(c), rng.standard_normal(c))


@pytest.mark.parametrize("training", [True, False])
def test_batch_norm_gradcheck_without_affine(rng, training):
    rm, rv = np.zeros(3), np.ones(3)
    gradcheck(lambda x: F.batch_norm(x, None if training else rm, None if training else rv,
                                     training=training), rng.standard_normal((4, 3, 2)))


@pytest.mark.parametrize("seed", range(30))
def test_batch_norm_matches_torch_over_steps(torch, seed):
    """Several steps of training/eval with random options: output, grads and running stats."""
    r = np.random.default_rng(seed)
    c = int(r.integers(1, 5))
    shape = (int(r.integers(2, 5)), c) + tuple(int(s) for s in r.integers(1, 4, r.integers(0, 3)))
    affine, bias = r.random() < 0.7, r.random() < 0.7
    momentum, eps = float(r.choice([0.1, r.uniform(0, 1), 1.0])), float(r.choice([1e-5, 0.1]))
    rm, rv = r.standard_normal(c), r.uniform(0.5, 2, c)
    trm, trv = _t(torch, rm), _t(torch, rv)
    w, b = r.standard_normal(c), r.standard_normal(c)
    for step in range(4):
        training = step < 3 or r.random() < 0.5
        x = r.standard_normal(shape) * r.uniform(0.5, 3) + r.uniform(-2, 2)
        xs = cv.tensor(x, requires_grad=True)
        ws, bs = cv.tensor(w, requires_grad=True), cv.tensor(b, requires_grad=True)
        tx, tw, tb = _t(torch, x, True), _t(torch, w, True), _t(torch, b, True)
        out = F.batch_norm(xs, rm, rv, ws if affine else None, bs if bias else None,
                           training=training, momentum=momentum, eps=eps)
        tout = torch.nn.functional.batch_norm(tx, trm, trv, tw if affine else None,
                                              tb if bias else None, training=training,
                                              momentum=momentum, eps=eps)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
        g = r.standard_normal(shape)
        out.backward(g)
        tout.backward(_t(torch, g))
        np.testing.assert_allclose(xs.grad, tx.grad.numpy(), rtol=RTOL, atol=1e-10)
        if affine:
            np.testing.assert_allclose(ws.grad, tw.grad.numpy(), rtol=RTOL, atol=1e-10)
        if bias:
            np.testing.assert_allclose(bs.grad, tb.grad.numpy(), rtol=RTOL, atol=1e-10)
        np.testing.assert_allclose(rm, trm.numpy(), rtol=RTOL, atol=ATOL)
        np.testing.assert_allclose(rv, trv.numpy(), rtol=RTOL, atol=ATOL)


def test_batch_norm_naive_reference_and_unbiased_running_var(rng):
    x = rng.standard_normal((4, 2, 3)) * 2 + 1
    rm, rv = np.zeros(2), np.ones(2)
    out = F.batch_norm(cv.tensor(x), rm, rv, training=True, momentum=0.25, eps=1e-5)
    for c in range(2):
        vals = x[:, c, :].ravel()
        ref = (x[:, c, :] - vals.mean()) / np.sqrt(vals.var() + 1e-5)
        np.testing.assert_allclose(out.data[:, c, :], ref, rtol=1e-12)
        np.testing.assert_allclose(rm[c], 0.25 * vals.mean(), rtol=1e-12)
        np.testing.assert_allclose(rv[c], 0.75 + 0.25 * vals.var(ddof=1), rtol=1e-12)


def test_batch_norm_updates_tensor_buffers_in_place_and_keeps_dtype(rng):
    rm = cv.tensor(np.zeros(3, np.float32))
    rv = cv.tensor(np.ones(3, np.float32))
    arr_m, arr_v = rm.data, rv.data
    x = cv.tensor(rng.standard_normal((8, 3)).astype(np.float32))
    out = F.batch_norm(x, rm, rv, training=True)
    assert rm.data is arr_m and rv.data is arr_v
    assert rm.dtype == np.float32 and out.dtype == np.float32
    np.testing.assert_allclose(rm.data, 0.1 * x.data.mean(0), rtol=1e-5)
    before = rm.data.copy()
    F.batch_norm(x, rm, rv, training=False)
    np.testing.assert_array_equal(rm.data, before)


def test_batch_norm_eval_ignores_batch_and_uses_running_stats(rng):
    rm, rv = rng.standard_normal(2), rng.uniform(1, 2, 2)
    x = rng.standard_normal((1, 2))  # a single sample is fine in eval
    out = F.batch_norm(cv.tensor(x), rm, rv, training=False)
    np.testing.assert_allclose(out.data, (x - rm) / np.sqrt(rv + 1e-5), rtol=1e-12)


def test_batch_norm_bad_input():
    x = cv.tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"batch_norm: expected input of shape \(N, C\).*\(3,\)"):
        F.batch_norm(cv.tensor(np.zeros(3)), None, None, training=True)
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\).*\(4,\)"):
        F.batch_norm(x, np.zeros(4), np.ones(4))
    with pytest.raises(ValueError, match=r"batch_norm: weight must have shape \(3,\).*\(2,\)"):
        F.batch_norm(x, None, None, cv.tensor(np.ones(2)), training=True)
    with pytest.raises(ValueError, match="both be given or both be None"):
        F.batch_norm(x, np.zeros(3), None, training=True)
    with pytest.raises(ValueError, match="required when training=False"):
        F.batch_norm(x, None, None, training=False)
    with pytest.raises(ValueError, match=r"more than 1 value per channel.*\(1, 3\)"):
        F.batch_norm(cv.tensor(np.zeros((1, 3))), None, None, training=True)
    with pytest.raises(TypeError, match="batch_norm: expected a floating-point input"):
        F.batch_norm(np.zeros((4, 3), np.int64), np.zeros(3), np.ones(3))
    with pytest.raises(TypeError, match="running_mean must be a Tensor, an ndarray or None"):
        F.batch_norm(x, [0.0] * 3, [1.0] * 3)
    with pytest.raises(ValueError, match=r"eps >= 0.*eps=-1"):
        F.batch_norm(x, np.zeros(3), np.ones(3), eps=-1)


# ------------------------------------------------------------------- dropout
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_mask_statistics_and_gradient(p):
    cv.manual_seed(123)
    x = cv.tensor(np.random.default_rng(0).uniform(1, 2, (200, 500)), requires_grad=True)
    out = F.dropout(x, p)
    kept = out.data != 0
    n = kept.size
    # the kept fraction is Binomial(n, 1-p)/n: within 6 standard deviations
    assert abs(kept.mean() - (1 - p)) < 6 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(out.data, x.data * kept / (1 - p), rtol=1e-12)
    out.backward(np.ones(x.shape))
    np.testing.assert_allclose(x.grad, kept / (1 - p), rtol=1e-12)
    # the mask is independent across rows and columns (no tiling): row fractions vary
    assert kept.mean(axis=1).std() > 0


def test_dropout_identity_cases():
    x = cv.tensor(np.random.default_rng(0).standard_normal((3, 4)), requires_grad=True)
    assert F.dropout(x, 0.0) is x
    assert F.dropout(x, 0.7, training=False) is x
    assert F.dropout(x, 1.0, training=False) is x
    out = F.dropout(x, 1.0)
    np.testing.assert_array_equal(out.data, 0)
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, 0)


def test_dropout_seeded_reproducibility_and_dtype():
    x = cv.tensor(np.ones((50, 40), np.float32))
    cv.manual_seed(7)
    a = F.dropout(x, 0.3).data
    cv.manual_seed(7)
    b = F.dropout(x, 0.3).data
    c = F.dropout(x, 0.3).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(b, c)
    assert a.dtype == np.float32
    np.testing.assert_allclose(np.unique(a), [0, np.float32(1 / 0.7)], rtol=1e-7)


def test_dropout_gradcheck_with_fixed_seed(rng):
    def fn(x):
        cv.manual_seed(3)
        return F.dropout(x, 0.4)

    gradcheck(fn, rng.standard_normal((4, 5)))


@pytest.mark.parametrize("p", [-0.1, 1.5, True, "0.5", None])
def test_dropout_bad_p(p):
    with pytest.raises(ValueError, match=r"dropout: probability p has to be between 0 and 1"):
        F.dropout(cv.tensor(np.zeros(3)), p)


def test_dropout_rejects_integer_input():
    with pytest.raises(TypeError, match="dropout: expected a floating-point input"):
        F.dropout(np.zeros(3, np.int64), 0.5)
