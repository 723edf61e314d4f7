"""Fast paths of common cases give exactly the general paths' results (and PyTorch's)."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve.functional._util import ntuple


def _ce(x, t, g, **kw):
    X = cv.tensor(x, requires_grad=True)
    out = F.cross_entropy(X, t, **kw)
    out.backward(g)
    return out.data, X.grad


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_plain_path_equals_weighted_path_bitwise(torch, reduction, dtype):
    """No weight, no smoothing, no ignored target (the plain path) == weight of ones
    (the general path), bit for bit; and == torch."""
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((37, 10)) * 4).astype(dtype)
    t = rng.integers(0, 10, 37)
    g = rng.standard_normal(() if reduction != "none" else (37,)).astype(dtype)
    plain = _ce(x, t, g, reduction=reduction)
    general = _ce(x, t, g, reduction=reduction, weight=np.ones(10, dtype))
    for a, b in zip(plain, general):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.cross_entropy(xt, torch.tensor(t), reduction=reduction)
    out.backward(torch.tensor(g))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(plain[0], out.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(plain[1], xt.grad.numpy(), rtol=tol, atol=tol)


def test_cross_entropy_ignored_target_inside_class_range_leaves_plain_path(torch):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((6, 4))
    t = np.array([0, 1, 2, 3, 2, 1])
    mine = _ce(x, t, np.float64(1.0), ignore_index=2)
    xt = torch.tensor(x, requires_grad=True)
    out = torch.nn.functional.cross_entropy(xt, torch.tensor(t), ignore_index=2)
    out.backward()
    np.testing.assert_allclose(mine[0], out.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(mine[1], xt.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("value", [2, (2, 3), [2, 3], np.int64(2), (np.int32(2), 3)])
def test_ntuple_fast_and_general_paths_agree(value):
    got = ntuple(value, 2, "op", "arg")
    assert got == ((2, 2) if np.ndim(value) == 0 else (2, 3))
    assert all(type(v) is int for v in got)


@pytest.mark.parametrize("value", [0, -1, (2, 0), (2, 2.0), True, (True, 2), (2, 2, 2), 2.0])
def test_ntuple_rejects_what_the_general_path_rejects(value):
    with pytest.raises(ValueError, match="op: arg"):
        ntuple(value, 2, "op", "arg")
