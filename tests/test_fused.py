"""Fused kernels (functional/_fused_*.py): BatchNorm training forward/backward in one kernel
and SGD's momentum update in one pass; Numba against its NumPy twin and both against
PyTorch (float64, rtol 1e-9), finite differences for the new backward."""

import numpy as np
import pytest

import convolve
from convolve import optim
from convolve.functional import _fused, _fused_numpy
from convolve.functional.norm import BatchNorm

BACKENDS = ["numpy", "numba"]
SHAPES = [(6, 3), (4, 3, 5), (3, 4, 5, 6)]


def _bn(x, w, b, rm, rv, backend, momentum=0.1):
    return BatchNorm.apply(x, w, b, running_mean=rm, running_var=rv, training=True,
                           momentum=momentum, eps=1e-5, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_train_matches_torch(torch, rng, backend, shape, affine):
    c = shape[1]
    xa = rng.standard_normal(shape) * 3 + 1
    ga = rng.standard_normal(shape)
    wa, ba = rng.standard_normal(c), rng.standard_normal(c)
    x = convolve.tensor(xa, requires_grad=True)
    w = convolve.tensor(wa, requires_grad=True) if affine else None
    b = convolve.tensor(ba, requires_grad=True) if affine else None
    rm, rv = rng.standard_normal(c), rng.random(c) + 0.5
    trm, trv = torch.from_numpy(rm.copy()), torch.from_numpy(rv.copy())
    y = _bn(x, w, b, rm, rv, backend)
    y.backward(ga)
    tx = torch.tensor(xa, requires_grad=True)
    tw = torch.tensor(wa, requires_grad=True) if affine else None
    tb = torch.tensor(ba, requires_grad=True) if affine else None
    ty = torch.nn.functional.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1)
    ty.backward(torch.from_numpy(ga))
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rm, trm.numpy(), rtol=1e-9)
    np.testing.assert_allclose(rv, trv.numpy(), rtol=1e-9)
    if affine:
        np.testing.assert_allclose(w.grad, tw.grad.numpy(), rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(b.grad, tb.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_batch_norm_train_gradcheck(rng, backend):
    shape = (3, 2, 4)
    xa, wa, ba = rng.standard_normal(shape), rng.standard_normal(2), rng.standard_normal(2)
    ga = rng.standard_normal(shape)

    def loss(x, w, b):
        return float((_bn(convolve.tensor(x), convolve.tensor(w), convolve.tensor(b), None,
                          None, backend).data * ga).sum())

    ts = [convolve.tensor(a, requires_grad=True) for a in (xa, wa, ba)]
    _bn(*ts, None, None, backend).backward(ga)
    arrays = [xa, wa, ba]
    for k, a in enumerate(arrays):
        num = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            for sign in (1, -1):
                bumped = [v.copy() for v in arrays]
                bumped[k][i] += sign * 1e-6
                num[i] += sign * loss(*bumped) / 2e-6
        np.testing.assert_allclose(ts[k].grad, num, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_batch_norm_numba_twin_equals_numpy(rng, dtype):
    x = rng.standard_normal((8, 5, 7, 7)).astype(dtype)
    g = rng.standard_normal(x.shape).astype(dtype)
    outs = {}
    for backend in BACKENDS:
        xt = convolve.tensor(x, requires_grad=True)
        w = convolve.tensor(np.linspace(0.5, 2, 5).astype(dtype), requires_grad=True)
        b = convolve.tensor(np.linspace(-1, 1, 5).astype(dtype), requires_grad=True)
        y = _bn(xt, w, b, None, None, backend)
        y.backward(g)
        outs[backend] = (y.data, xt.grad, w.grad, b.grad)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for a, b in zip(*outs.values()):
        assert a.dtype == dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol)


SGD_OPTIONS = [{"momentum": 0.9}, {"momentum": 0.9, "nesterov": True},
               {"momentum": 0.5, "dampening": 0.3}, {"momentum": 0.9, "weight_decay": 1e-2},
               {"momentum": 0.8, "maximize": True, "nesterov": True, "weight_decay": 0.1}]


def _sgd_run(opts, dtype, backend):
    """Four SGD steps; after the first (which creates the buffer) each goes through the
    fused pass of ``backend``."""
    from convolve.optim.sgd import _one_pass

    rng = np.random.default_rng(0)
    p0 = rng.standard_normal((4, 3)).astype(dtype)
    grads = [rng.standard_normal((4, 3)).astype(dtype) for _ in range(4)]
    p = convolve.nn.Parameter(p0.copy())
    opt = optim.SGD([p], lr=0.1, **opts)
    group = opt.param_groups[0]
    for g in grads:
        p.grad = g.copy()
        state = opt.state[p]
        if "momentum_buffer" not in state:
            opt.step()
            continue
        d = opt._direction(p.data, p.grad, group["weight_decay"], group["maximize"])
        assert _one_pass(p.data, d, state["momentum_buffer"], group, backend)
    return p0, grads, p.data


def _reference_sgd(p0, grads, opts):
    """SGD written out with NumPy in the optimizer's order of float operations."""
    f = p0.dtype.type
    p, buf = p0.copy(), None
    mom, damp = opts["momentum"], opts.get("dampening", 0)
    for g in grads:
        d = -g if opts.get("maximize") else g
        if opts.get("weight_decay"):
            d = d + p * f(opts["weight_decay"])
        if buf is None:
            buf = d.copy()
        else:
            buf = buf * f(mom) + (d * f(1 - damp) if damp else d)
        step = d + buf * f(mom) if opts.get("nesterov") else buf
        p = p + step * f(-0.1)
    return p


@pytest.mark.parametrize("opts", SGD_OPTIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sgd_one_pass_bitwise_equals_numpy(opts, dtype):
    p0, grads, via_numba = _sgd_run(opts, dtype, "numba")
    via_twin = _sgd_run(opts, dtype, "numpy")[2]
    p = convolve.nn.Parameter(p0.copy())
    opt = optim.SGD([p], lr=0.1, **opts)  # the optimizer as it runs (either path)
    for g in grads:
        p.grad = g.copy()
        opt.step()
    want = _reference_sgd(p0, grads, opts)
    for got in (via_numba, via_twin, p.data):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("opts", SGD_OPTIONS)
def test_sgd_one_pass_matches_torch(torch, opts):
    p0, grads, ours = _sgd_run(opts, np.float64, "numba")
    tp = torch.tensor(p0.copy(), requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.1, **opts)
    for g in grads:
        tp.grad = torch.from_numpy(g.copy())
        topt.step()
    np.testing.assert_allclose(ours, tp.detach().numpy(), rtol=1e-9)


def test_fused_backend_choice():
    assert _fused.kernels("numpy") is _fused_numpy
    with pytest.raises(ValueError, match="backend"):
        _fused.kernels("cuda")
