"""F.pad (every mode, asymmetric and negative amounts), lp_pool1d/2d, LPPool1d/2d, max_pool3d
against PyTorch 2.13 in float64 (rtol 1e-9): outputs and input gradients."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import nn


def _check(torch, ours_fn, torch_fn, x, rng):
    tx = torch.tensor(x, requires_grad=True)
    ty = torch_fn(tx)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    cx = cv.tensor(x, requires_grad=True)
    y = ours_fn(cx)
    y.backward(gy)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(cx.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)


PADS = {  # mode -> (input shape, pad) cases: asymmetric, 1-3 trailing dims, zeros
    "constant": [((2, 3, 5, 6), (1, 2, 0, 3)), ((2, 3, 5), (2, -1)), ((2, 3, 5, 6), (-2, 1, 3, -1)),
                 ((3, 4), (0, 0, 1, 2)), ((2, 2, 3, 3, 3), (1, 0, 0, 2, 2, 1))],
    "reflect": [((2, 3, 5, 6), (1, 2, 0, 3)), ((2, 3, 5), (4, 1)), ((1, 2, 4, 4, 4), (1, 2, 3, 0, 2, 1))],
    "replicate": [((2, 3, 5, 6), (3, 0, 2, 5)), ((2, 3, 5), (0, 7)), ((1, 2, 3, 4, 2), (2, 1, 0, 1, 3, 3))],
    "circular": [((2, 3, 5, 6), (1, 2, 5, 0)), ((2, 3, 5), (5, 3)), ((1, 2, 3, 4, 2), (2, 1, 0, 1, 3, 3))],
}


@pytest.mark.parametrize("mode,case", [(m, c) for m, cs in PADS.items() for c in cs])
def test_pad_matches_torch(torch, mode, case):
    shape, amounts = case
    rng = np.random.default_rng(len(shape) + sum(amounts))
    x = rng.standard_normal(shape)
    value = 0.5 if mode == "constant" else 0.0
    kw = {"value": value} if mode == "constant" else {}
    _check(torch, lambda t: F.pad(t, amounts, mode=mode, **kw),
           lambda t: torch.nn.functional.pad(t, amounts, mode=mode, **kw), x, rng)


def test_pad_errors_name_the_argument():
    x = cv.tensor(np.ones((1, 2, 3)))
    with pytest.raises(ValueError, match="mode"):
        F.pad(x, (1, 1), mode="wrap")
    with pytest.raises(ValueError, match="reflect"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="crops"):
        F.pad(x, (-2, -2))


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("p,k,s,ceil", [(2, 2, None, False), (3, 3, 2, True), (1, 2, 1, False),
                                        (2.5, (2, 3), (2, 1), True), (4, 3, 1, False)])
def test_lp_pool_matches_torch(torch, nd, p, k, s, ceil):
    if nd == 1 and isinstance(k, tuple):
        k, s = k[0], s[0]
    rng = np.random.default_rng(nd)
    x = rng.standard_normal((2, 3, *(7,) * nd))
    if p != int(p) or p % 2:
        x = np.abs(x) + 0.1  # torch also gives NaN / negative sums otherwise
    tfn = torch.nn.functional.lp_pool2d if nd == 2 else torch.nn.functional.lp_pool1d
    fn = F.lp_pool2d if nd == 2 else F.lp_pool1d
    _check(torch, lambda t: fn(t, p, k, s, ceil), lambda t: tfn(t, p, k, s, ceil), x, rng)
    layer, tlayer = getattr(nn, f"LPPool{nd}d")(p, k, s, ceil), \
        getattr(torch.nn, f"LPPool{nd}d")(p, k, s, ceil)
    np.testing.assert_allclose(layer(cv.tensor(x)).data, tlayer(torch.tensor(x)).numpy(),
                               rtol=1e-9, atol=1e-12)


def test_lp_pool_rejects_zero_norm():
    with pytest.raises(ValueError, match="norm_type"):
        F.lp_pool2d(cv.tensor(np.ones((1, 1, 4, 4))), 0, 2)


@pytest.mark.parametrize("k,s,p,d,ceil", [(2, None, 0, 1, False), (3, 2, 1, 1, True),
                                          ((3, 2, 2), (2, 1, 2), (1, 1, 0), (2, 1, 1), True),
                                          (2, 1, 1, 2, False)])
def test_max_pool3d_matches_torch_with_ties(torch, k, s, p, d, ceil):
    rng = np.random.default_rng(3)
    x = np.round(rng.standard_normal((2, 3, 7, 6, 8)), 1)  # rounding makes many ties
    _check(torch, lambda t: F.max_pool3d(t, k, s, p, d, ceil),
           lambda t: torch.nn.functional.max_pool3d(t, k, s, p, d, ceil_mode=ceil), x, rng)
    _check(torch, lambda t: F.max_pool3d(t, k, s, p, d, ceil),
           lambda t: torch.nn.functional.max_pool3d(t, k, s, p, d, ceil_mode=ceil), x[0], rng)


def test_max_pool3d_rejects_large_padding():
    with pytest.raises(ValueError, match="padding"):
        F.max_pool3d(cv.tensor(np.ones((1, 1, 4, 4, 4))), 2, padding=2)
