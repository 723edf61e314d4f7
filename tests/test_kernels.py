"""Compiled ReLU / 2x2 max-pool / Adam loops (functional/_numba_loops.py): same results as
the NumPy twins (bitwise) and as PyTorch; the one loader's policy (functional/_backend.py)."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve.functional import _backend

pytest.importorskip("numba")


@pytest.fixture
def mode(monkeypatch):
    """Choose the tier for one test through CONVOLVE_KERNELS (restored afterwards)."""

    def set_mode(value):
        monkeypatch.setenv("CONVOLVE_KERNELS", value)
    return set_mode


def _values(rng, shape, kind, dtype):
    """Random values; 'ties': small integers (many equal maxima, zeros as after ReLU);
    'special': also NaN, +-inf and -0.0."""
    if kind == "normal":
        x = rng.standard_normal(shape)
    else:
        x = rng.integers(-2, 3, shape).astype(float)
    if kind == "special":
        flat = x.reshape(-1)
        for v in (np.nan, np.inf, -np.inf, -0.0):
            flat[rng.choice(flat.size, max(1, flat.size // 20), replace=False)] = v
    return x.astype(dtype)


def _run(op, x, g, **kw):
    """(output, indices or None, input grad) of op(x) backpropagating g."""
    X = cv.tensor(x, requires_grad=True)
    out = op(X, **kw)
    out, idx = out if isinstance(out, tuple) else (out, None)
    out.backward(g)
    return out.data, None if idx is None else idx.data, X.grad


SHAPES = [(2, 3, 8, 8), (3, 2, 9, 7), (5, 16, 16), (1, 1, 2, 2), (4, 6, 28, 28), (2, 1, 3, 5)]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("kind", ["normal", "ties", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_2x2_loop_equals_numpy_path(mode, shape, kind, dtype):
    rng = np.random.default_rng(len(shape) * 100 + shape[-1])
    x = _values(rng, shape, kind, dtype)
    oshape = shape[:-2] + (shape[-2] // 2, shape[-1] // 2)
    g = rng.integers(-3, 4, oshape).astype(dtype)  # finite: tiers agree on every element
    results = {}
    for m in ("numpy", "numba"):
        mode(m)
        results[m] = _run(F.max_pool2d, x, g, kernel_size=2, return_indices=True)
    for a, b, what in zip(results["numpy"], results["numba"], ("output", "indices", "grad")):
        assert a.dtype == b.dtype and a.shape == b.shape, what
        np.testing.assert_array_equal(a, b, err_msg=what)


@pytest.mark.parametrize("kind", ["ties", "special"])
def test_max_pool_2x2_loop_matches_torch(torch, mode, kind):
    """Ties go to the first max, NaN windows to their last NaN, as in PyTorch's kernel."""
    mode("numba")
    rng = np.random.default_rng(7)
    x = _values(rng, (3, 4, 10, 11), kind, np.float64)
    g = rng.integers(-3, 4, (3, 4, 5, 5)).astype(np.float64)
    out, idx, grad = _run(F.max_pool2d, x, g, kernel_size=2, stride=2, return_indices=True)
    xt = torch.tensor(x, requires_grad=True)
    yt, it = torch.nn.functional.max_pool2d(xt, 2, return_indices=True)
    yt.backward(torch.tensor(g))
    np.testing.assert_array_equal(out, yt.detach().numpy())
    np.testing.assert_array_equal(idx, it.numpy())
    np.testing.assert_array_equal(grad, xt.grad.numpy())


def test_other_windows_stay_on_numpy(mode):
    """Padding, other kernel sizes, ceil overhangs and dilation use the NumPy path."""
    from convolve.functional.pool import _compiled_kernels, _geometry

    mode("numba")
    x = cv.tensor(np.zeros((1, 1, 7, 7)))
    assert _compiled_kernels(*_geometry("t", x, 2, 2, None, 0, 1, False)) is not None
    for k, s, p, d, ceil in [(3, 2, 0, 1, False), (2, 2, 1, 1, False), (2, 1, 0, 1, False),
                             (2, 2, 0, 2, False), (2, 2, 0, 1, True)]:
        assert _compiled_kernels(*_geometry("t", x, 2, k, s, p, d, ceil)) is None


@pytest.mark.parametrize("kind", ["normal", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_loop_equals_numpy_path_and_torch(torch, mode, kind, dtype):
    rng = np.random.default_rng(3)
    x = _values(rng, (4, 8, 16, 16), kind, dtype)  # above the kernels' size threshold
    g = rng.standard_normal(x.shape).astype(dtype)
    results = {}
    for m in ("numpy", "numba"):
        mode(m)
        results[m] = _run(F.relu, x, g)
    for a, b in zip(results["numpy"][::2], results["numba"][::2]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    xt = torch.tensor(x, requires_grad=True)
    torch.relu(xt).backward(torch.tensor(g))
    np.testing.assert_array_equal(results["numba"][0], torch.relu(torch.tensor(x)).numpy())
    np.testing.assert_array_equal(results["numba"][2], xt.grad.numpy())


def test_relu_non_contiguous_and_small_inputs(mode):
    mode("numba")
    x = np.random.default_rng(0).standard_normal((64, 130)).astype(np.float32)
    for a in (x[:, ::2], x[:3]):  # strided view; below the size threshold
        out, _, grad = _run(F.relu, a, np.ones(a.shape, np.float32))
        np.testing.assert_array_equal(out, np.maximum(a, 0))
        np.testing.assert_array_equal(grad, (a > 0).astype(np.float32))


def test_one_loading_policy(mode):
    """Loaded on first use and kept (no call counting); 'numpy' selects the twins."""
    mode("auto")
    loops = _backend.load("loops")
    assert loops is not None and hasattr(loops, "max_pool_2x2_forward")
    assert _backend.load("loops") is loops
    assert all(_backend.available(name) for name in _backend.MODULES)
    mode("numpy")
    assert _backend.load("loops") is None and not _backend.available("winograd")
    with pytest.raises(ValueError, match="unknown kernel module 'nope'"):
        _backend.load("nope")


def test_without_numba_everything_stays_on_numpy():
    """In a process where Numba cannot be imported: pooling, ReLU and conv run, and the
    planner offers no compiled engine or option."""
    import subprocess
    import sys

    code = """if True:
        import sys; sys.modules["numba"] = None
        import numpy as np, convolve as cv, convolve.functional as F
        from convolve.functional import _backend
        assert not any(_backend.available(n) for n in _backend.MODULES)
        y = F.max_pool2d(F.relu(cv.tensor(np.arange(16.0).reshape(1, 1, 4, 4))), 2)
        assert y.data.ravel().tolist() == [5, 7, 13, 15]
        x, w = np.zeros((2, 4, 6, 6)), np.zeros((4, 1, 3, 3))
        plans = F.conv_plans(x, w, padding=1, groups=4, every=True)
        plans += F.conv_plans(x, np.zeros((4, 4, 3, 3)), padding=1, every=True)
        assert "winograd" not in {p.engine for p in plans}
        assert all(p.input_grad != "numba" for p in plans)
        assert F.conv2d(cv.tensor(x), cv.tensor(w), padding=1, groups=4).shape == (2, 4, 6, 6)
    """
    env = {k: v for k, v in __import__("os").environ.items() if k != "CONVOLVE_KERNELS"}
    env["PYTHONPATH"] = __import__("os").pathsep.join(sys.path)
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


ADAM_OPTIONS = [{}, {"weight_decay": 0.1}, {"maximize": True}, {"betas": (0.3, 0.9)},
                {"lr": 0.05, "eps": 1e-3}, {"weight_decay": 0.05, "decoupled_weight_decay": True}]


@pytest.mark.parametrize("kw", ADAM_OPTIONS, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_adam_loop_equals_numpy_path_bitwise(mode, kw, dtype):
    """Five steps of Adam: parameters and state identical with and without the loop."""
    rng = np.random.default_rng(4)
    shapes = [(6, 1, 5, 5), (6,), (120, 400), (10,)]
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(5)]
    results = {}
    for m in ("numpy", "numba"):
        mode(m)
        ps = [cv.tensor(a.copy(), requires_grad=True) for a in init]
        opt = cv.optim.Adam(ps, **kw)
        for step_grads in grads:
            for p, g in zip(ps, step_grads):
                p.grad = g
            opt.step()
        results[m] = ([p.data for p in ps], opt.state_dict()["state"])
    for a, b in zip(results["numpy"][0], results["numba"][0]):
        assert a.dtype == b.dtype == dtype
        np.testing.assert_array_equal(a, b)
    for i, st in results["numpy"][1].items():
        for key, val in st.items():
            np.testing.assert_array_equal(val, results["numba"][1][i][key])


def test_adam_loop_skips_amsgrad_and_strided_params(mode, monkeypatch):
    """AMSGrad and non-contiguous parameters stay on the NumPy path."""
    mode("numba")
    loops = _backend.load("loops")
    calls = []
    real = loops.adam_update
    monkeypatch.setattr(loops, "adam_update", lambda *a: calls.append(a[0].size) or real(*a))
    p = cv.tensor(np.ones((4, 3)), requires_grad=True)
    p.data = np.ones((4, 6))[:, ::2]  # a strided view
    q = cv.tensor(np.ones(5), requires_grad=True)
    r = cv.tensor(np.ones(7), requires_grad=True)
    for t in (p, q, r):
        t.grad = np.ones(t.shape)
    cv.optim.Adam([p, q]).step()
    cv.optim.Adam([r], amsgrad=True).step()
    assert calls == [5]  # q only
    for t in (p, q, r):
        np.testing.assert_allclose(t.data, 1 - 1e-3)
