"""conv_transpose1d/2d and ConvTranspose1d/2d against PyTorch 2.13 in float64 (rtol 1e-9):
outputs and the gradients of input, weight and bias over a seeded sweep of stride, padding,
output_padding, dilation, groups and bias; argument errors name the argument."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve import nn


def _case(rng, nd):
    groups = int(rng.choice([1, 2, 3]))
    cin, cout = groups * int(rng.integers(1, 3)), groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 4, nd))
    s = tuple(int(v) for v in rng.integers(1, 4, nd))
    d = tuple(int(v) for v in rng.integers(1, 3, nd))
    p = tuple(int(rng.integers(0, dd * (kk - 1) + 2)) for kk, dd in zip(k, d))
    o = tuple(int(rng.integers(0, max(ss, dd))) for ss, dd in zip(s, d))
    size = tuple(int(v) for v in rng.integers(2, 6, nd))
    return {"cin": cin, "cout": cout, "k": k, "s": s, "d": d, "p": p, "o": o, "g": groups, "size": size,
                "bias": bool(rng.random() < 0.7), "batch": int(rng.integers(1, 3))}


SWEEP = [(nd, seed) for nd in (1, 2) for seed in range(12)] + [(3, seed) for seed in range(4)]


@pytest.mark.parametrize("nd,seed", SWEEP)
def test_matches_torch_in_float64(torch, nd, seed):
    rng = np.random.default_rng(seed * 7 + nd)
    c = _case(rng, nd)
    out = [(n - 1) * s - 2 * p + d * (k - 1) + o + 1
           for n, s, p, d, k, o in zip(c["size"], c["s"], c["p"], c["d"], c["k"], c["o"])]
    if min(out) < 1:
        c["p"] = (0,) * nd
    x = rng.standard_normal((c["batch"], c["cin"], *c["size"]))
    w = rng.standard_normal((c["cin"], c["cout"] // c["g"], *c["k"]))
    b = rng.standard_normal(c["cout"]) if c["bias"] else None
    args = {"stride": c["s"], "padding": c["p"], "output_padding": c["o"], "groups": c["g"],
                "dilation": c["d"]}
    tfn = getattr(torch.nn.functional, f"conv_transpose{nd}d")
    fn = getattr(F, f"conv_transpose{nd}d")
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    ty = tfn(tx, tw, tb, **args)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    cx, cw = cv.tensor(x, requires_grad=True), cv.tensor(w, requires_grad=True)
    cb = None if b is None else cv.tensor(b, requires_grad=True)
    y = fn(cx, cw, cb, **args)
    y.backward(gy)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    for ours, theirs in ((cx, tx), (cw, tw), (cb, tb)):
        if ours is not None:
            np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_layer_matches_torch_layer(torch, nd):
    name = f"ConvTranspose{nd}d"
    kw = {"in_channels": 4, "out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1,
              "output_padding": 1, "groups": 2, "bias": True, "dilation": 1}
    cv.manual_seed(0)
    ours = getattr(nn, name)(**kw).double()
    theirs = getattr(torch.nn, name)(**kw).double()
    assert ours.weight.shape == tuple(theirs.weight.shape)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = np.random.default_rng(1).standard_normal((2, 4, *(5,) * nd))
    np.testing.assert_allclose(ours(cv.tensor(x)).data,
                               theirs(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-12)
    bound = 1 / np.sqrt(6 // 2 * 3 ** nd)  # torch's fan_in of a transposed conv: weight.size(1)*k
    assert np.abs(ours.weight.data).max() <= bound + 1e-12


def test_unbatched_input_and_errors():
    w = cv.tensor(np.ones((2, 3, 2, 2)))
    y = F.conv_transpose2d(cv.tensor(np.ones((2, 4, 4))), w, stride=2)
    assert y.shape == (3, 8, 8)
    with pytest.raises(ValueError, match="output_padding"):
        F.conv_transpose2d(cv.tensor(np.ones((1, 2, 4, 4))), w, stride=1, output_padding=1)
    with pytest.raises(ValueError, match="channels"):
        F.conv_transpose2d(cv.tensor(np.ones((1, 3, 4, 4))), w)
    with pytest.raises(ValueError, match="stride"):
        F.conv_transpose2d(cv.tensor(np.ones((1, 2, 4, 4))), w, stride=0)


@pytest.mark.parametrize("seed", range(6))
def test_conv3d_matches_torch_in_float64(torch, seed):
    rng = np.random.default_rng(seed)
    g = int(rng.choice([1, 2]))
    x = rng.standard_normal((2, 2 * g, 5, 6, 4))
    w = rng.standard_normal((3 * g, 2, *(int(v) for v in rng.integers(1, 4, 3))))
    b = rng.standard_normal(3 * g) if seed % 2 else None
    kw = {"stride": tuple(int(v) for v in rng.integers(1, 3, 3)),
          "padding": tuple(int(v) for v in rng.integers(0, 2, 3)),
          "dilation": tuple(int(v) for v in rng.integers(1, 3, 3)), "groups": g}
    if any(4 + 2 * p < dd * (k - 1) + 1 for p, dd, k in zip(kw["padding"], kw["dilation"],
                                                           w.shape[2:])):
        kw["dilation"] = 1
    ts = [torch.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    ty = torch.nn.functional.conv3d(ts[0], ts[1], ts[2] if b is not None else None, **kw)
    gy = rng.standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(gy))
    cs = [cv.tensor(a, requires_grad=True) for a in (x, w) + ((b,) if b is not None else ())]
    y = F.conv3d(cs[0], cs[1], cs[2] if b is not None else None, **kw)
    y.backward(gy)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    for ours, theirs in zip(cs, ts):
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)
