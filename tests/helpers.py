"""Test helpers: central finite differences (float64) and PyTorch conversion."""

from __future__ import annotations

import numpy as np

import convolve as cv


def numeric_grads(fn, arrays, weights, eps=1e-6):
    """d(sum(fn(*arrays) * weights))/d(each array) by central differences, float64."""
    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        flat = a.reshape(-1)
        gflat = g.reshape(-1)
        for j in range(flat.size):
            old = flat[j]
            flat[j] = old + eps
            fp = np.sum(fn(*[cv.tensor(x) for x in arrays]).data * weights)
            flat[j] = old - eps
            fm = np.sum(fn(*[cv.tensor(x) for x in arrays]).data * weights)
            flat[j] = old
            gflat[j] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(fn, *arrays, eps=1e-6, rtol=1e-5, atol=1e-7, seed=0):
    """Check the autograd gradients of fn(*tensors) against central differences.

    ``arrays`` are float64 ndarrays; the output is contracted with a fixed random
    weight so every output element contributes. Returns the analytic gradients.
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    tensors = [cv.tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors)
    w = np.random.default_rng(seed).standard_normal(out.shape)
    (out * cv.tensor(w)).sum().backward()
    numeric = numeric_grads(fn, arrays, w, eps)
    for i, (t, n) in enumerate(zip(tensors, numeric)):
        analytic = np.zeros_like(n) if t.grad is None else t.grad
        np.testing.assert_allclose(analytic, n, rtol=rtol, atol=atol,
                                   err_msg=f"gradient of input {i} differs from finite differences")
    return [t.grad for t in tensors]
