"""One-BLAS-thread GEMMs (convolve/_blas.py) in the fully-connected layer."""

import importlib

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import _blas

L = importlib.import_module("convolve.functional.linear")  # F.linear is the function


def test_single_blas_limits_then_restores():
    before = [c.num_threads for c in _blas._libs()]
    inside = _blas.single_blas(lambda: [c.num_threads for c in _blas._libs()])
    assert inside == [1] * len(before)
    assert [c.num_threads for c in _blas._libs()] == before


def test_single_blas_restores_after_an_error():
    before = [c.num_threads for c in _blas._libs()]
    with pytest.raises(ZeroDivisionError):
        _blas.single_blas(lambda: 1 / 0)
    assert [c.num_threads for c in _blas._libs()] == before


@pytest.mark.parametrize("shape", [(64, 300), (3, 5, 300), (300,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_linear_on_one_blas_thread_matches_torch(torch, monkeypatch, shape, dtype):
    """The one-thread and the default BLAS paths both match torch."""
    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(dtype) for s in (shape, (70, 300), (70,)))
    g = rng.standard_normal(shape[:-1] + (70,)).astype(dtype)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    yt = torch.nn.functional.linear(xt, wt, bt)
    yt.backward(torch.tensor(g))
    ref = (yt.detach().numpy(), xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for bounds in ((0, 1 << 62), (1 << 62, 1 << 63)):  # every GEMM on one thread / none
        monkeypatch.setattr(L, "_ONE_THREAD_MACS", bounds)
        X, W, B = (cv.tensor(a, requires_grad=True) for a in (x, w, b))
        out = F.linear(X, W, B)
        out.backward(g)
        for a, r in zip((out.data, X.grad, W.grad, B.grad), ref):
            assert a.dtype == dtype and a.shape == r.shape
            np.testing.assert_allclose(a, r, rtol=tol, atol=tol * 10)
