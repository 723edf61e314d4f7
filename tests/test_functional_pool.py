"""Pooling ops: finite-difference gradchecks, seeded sweeps against PyTorch, ties, bad input."""

import math

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

N_CONFIGS = 100  # valid random configurations per pooling kind


# ------------------------------------------------------------------ random configurations
def _spatial(rng, nd, lo=1, hi=10):
    return tuple(int(v) for v in rng.integers(lo, hi + 1, nd))


def _shape(rng, spatial):
    """A batched (N, C, *spatial) or, one time in five, unbatched (C, *spatial) shape."""
    c = int(rng.integers(1, 4))
    if rng.random() < 0.2:
        return (c,) + spatial
    return (int(rng.integers(1, 3)), c) + spatial


def _maybe_tuple(rng, vals, nd):
    """An int when all entries agree (half the time), else the tuple."""
    if len(set(vals)) == 1 and rng.random() < 0.5:
        return vals[0]
    return tuple(vals)


def _window_kw(rng, nd, dilation):
    k = [int(v) for v in rng.integers(1, 5, nd)]
    kw = {"kernel_size": _maybe_tuple(rng, k, nd),
          "padding": _maybe_tuple(rng, [int(rng.integers(0, ki // 2 + 1)) for ki in k], nd),
          "ceil_mode": bool(rng.random() < 0.5)}
    if rng.random() < 0.8:
        kw["stride"] = _maybe_tuple(rng, [int(v) for v in rng.integers(1, 4, nd)], nd)
    if dilation:
        kw["dilation"] = _maybe_tuple(rng, [int(v) for v in rng.integers(1, 4, nd)], nd)
    return kw


def _max_config(nd):
    def make(rng):
        kw = _window_kw(rng, nd, dilation=True)
        kw["return_indices"] = True
        return _shape(rng, _spatial(rng, nd)), kw
    return make


def _avg_config(nd):
    def make(rng):
        kw = _window_kw(rng, nd, dilation=False)
        kw["count_include_pad"] = bool(rng.random() < 0.5)
        if nd == 2 and rng.random() < 0.3:
            kw["divisor_override"] = int(rng.integers(1, 6))
        return _shape(rng, _spatial(rng, nd)), kw
    return make


def _adaptive_config(rng):
    spatial = _spatial(rng, 2, 1, 12)
    out = [int(rng.integers(1, n + 3)) for n in spatial]
    if rng.random() < 0.3:  # a divisor of the input size: the reshape fast path
        out = [int(rng.choice([d for d in range(1, n + 1) if n % d == 0])) for n in spatial]
    if rng.random() < 0.2:
        out[int(rng.integers(0, 2))] = None
    size = out[0] if out[0] == out[1] and rng.random() < 0.5 else tuple(out)
    return _shape(rng, spatial), {"output_size": size}


def _adaptive1d_config(rng):
    (n,) = _spatial(rng, 1, 1, 12)
    out = int(rng.integers(1, n + 3))
    return _shape(rng, (n,)), {"output_size": out if rng.random() < 0.7 else (out,)}


def _blur_config(rng):
    kw = {"kernel_size": int(rng.integers(1, 8)),
          "stride": _maybe_tuple(rng, [int(v) for v in rng.integers(1, 4, 2)], 2),
          "padding_mode": str(rng.choice(["reflect", "replicate", "circular", "zeros"]))}
    return _shape(rng, _spatial(rng, 2, 1, 11)), kw


# ------------------------------------------------------------------------- torch references
def _binomial_filter(torch, k, channels):
    """k x k normalised binomial filter built by repeated [1, 1]/2 smoothing, (C, 1, k, k)."""
    row = np.array([1.0])
    for _ in range(k - 1):
        row = np.convolve(row, [0.5, 0.5])
    return torch.tensor(np.outer(row, row)).expand(channels, 1, k, k)


def _torch_blur(torch, x, kernel_size, stride, padding_mode):
    tf = torch.nn.functional
    lo, hi = (kernel_size - 1) // 2, math.ceil((kernel_size - 1) / 2)
    mode = "constant" if padding_mode == "zeros" else padding_mode
    xp = tf.pad(x, (lo, hi, lo, hi), mode=mode)
    w = _binomial_filter(torch, kernel_size, x.shape[-3]).to(x.dtype)
    return tf.conv2d(xp, w, stride=stride, groups=x.shape[-3])


KINDS = {
    "max1d": (F.max_pool1d, "max_pool1d", _max_config(1)),
    "max2d": (F.max_pool2d, "max_pool2d", _max_config(2)),
    "avg1d": (F.avg_pool1d, "avg_pool1d", _avg_config(1)),
    "avg2d": (F.avg_pool2d, "avg_pool2d", _avg_config(2)),
    "adaptive_avg1d": (F.adaptive_avg_pool1d, "adaptive_avg_pool1d", _adaptive1d_config),
    "adaptive_avg2d": (F.adaptive_avg_pool2d, "adaptive_avg_pool2d", _adaptive_config),
    "blur": (F.blur_pool2d, None, _blur_config),
}


def _torch_op(torch, name):
    if name is None:
        return lambda x, **kw: _torch_blur(torch, x, **kw)
    return getattr(torch.nn.functional, name)


def _run_both(torch, ours, theirs, x, kw, g_seed, int_grad=False):
    """Forward + backward of both libraries on x; returns ((out, grad, idx) ours, theirs).

    int_grad: an integer-valued upstream gradient, so sums are exact in any order."""
    X = cv.tensor(x, requires_grad=True)
    xt = torch.tensor(x, requires_grad=True)
    Y, yt = ours(X, **kw), theirs(xt, **kw)
    (Y, I), (yt, it) = (Y, yt) if isinstance(Y, tuple) else ((Y, None), (yt, None))
    g_rng = np.random.default_rng(g_seed)
    g = g_rng.integers(-3, 4, Y.shape) if int_grad else g_rng.standard_normal(Y.shape)
    g = g.astype(x.dtype)
    Y.backward(g)
    yt.backward(torch.tensor(g))
    mine = (Y.data, X.grad, None if I is None else I.data)
    ref = (yt.detach().numpy(), xt.grad.numpy(), None if it is None else it.numpy())
    return mine, ref


def _compare(mine, ref, rtol, atol, dtype, what):
    assert mine[0].dtype == dtype and mine[1].dtype == dtype, what
    assert mine[0].shape == ref[0].shape, what
    np.testing.assert_allclose(mine[0], ref[0], rtol=rtol, atol=atol, err_msg=f"output {what}")
    np.testing.assert_allclose(mine[1], ref[1], rtol=rtol, atol=atol, err_msg=f"grad {what}")
    if ref[2] is not None:
        assert mine[2].dtype == np.int64
        np.testing.assert_array_equal(mine[2], ref[2], err_msg=f"indices {what}")


def _has_empty_window(nd, kw, in_shape, out_shape):
    """Does some max-pool window hold no input element (it lies wholly in the padding)?

    PyTorch then returns -inf with an index outside the plane, and its backward writes that
    gradient out of bounds (into the next plane), so only values and indices can compare.
    """
    def tup(v):
        return (v,) * nd if isinstance(v, int) else tuple(v)

    k = tup(kw["kernel_size"])
    s = tup(kw.get("stride") or kw["kernel_size"])
    p, d = tup(kw.get("padding", 0)), tup(kw.get("dilation", 1))
    for a in range(nd):
        n, out = in_shape[a - nd], out_shape[a - nd]
        for o in range(out):
            if not any(0 <= o * s[a] - p[a] + i * d[a] < n for i in range(k[a])):
                return True
    return False


@pytest.mark.parametrize("kind", list(KINDS))
def test_random_configs_match_torch(torch, kind):
    """>= 100 seeded valid configs per kind: outputs, input grads (and indices) match torch in
    float64 (rtol 1e-9) and float32 (rtol 1e-4); max pools also on tie-heavy integer inputs.
    Configs torch rejects must be rejected by us with ValueError."""
    ours, name, make = KINDS[kind]
    theirs = _torch_op(torch, name)
    rng = np.random.default_rng(sorted(KINDS).index(kind))
    valid = rejected = degenerate = 0
    while valid < N_CONFIGS:
        shape, kw = make(rng)
        what = f"{kind} shape={shape} {kw}"
        x = rng.standard_normal(shape)
        try:
            theirs(torch.tensor(x), **kw)
        except RuntimeError:
            with pytest.raises(ValueError, match=r"too small|too much"):
                ours(cv.tensor(x), **kw)
            rejected += 1
            continue
        mine, ref = _run_both(torch, ours, theirs, x, kw, valid)
        if kind.startswith("max") and _has_empty_window(int(kind[3]), kw, shape, ref[0].shape):
            mine, ref = (mine[0], np.zeros_like(mine[1]), mine[2]), (ref[0], mine[1] * 0, ref[2])
            _compare(mine, ref, 0, 0, np.float64, what + " (a window wholly in padding)")
            degenerate += 1
            continue
        _compare(mine, ref, 1e-9, 1e-11, np.float64, what)
        mine, ref = _run_both(torch, ours, theirs, x.astype(np.float32), kw, valid)
        _compare(mine, ref, 1e-4, 1e-5, np.float32, what + " float32")
        if kind.startswith("max"):
            ties = rng.integers(-2, 3, shape).astype(np.float64)
            mine, ref = _run_both(torch, ours, theirs, ties, kw, valid, int_grad=True)
            _compare(mine, ref, 0, 0, np.float64, what + " ties")
        valid += 1
    assert rejected < valid  # the generator mostly yields valid configs


# ------------------------------------------------------------------------- special values
@pytest.mark.parametrize("nd", [1, 2])
def test_max_pool_neg_inf_windows_and_nan_match_torch(torch, nd):
    """All -inf windows (value -inf, index at the first non-padded element) and NaN windows
    (NaN propagates; PyTorch routes to the last NaN) follow torch's CPU kernel."""
    rng = np.random.default_rng(3)
    shape = (2, 3) + (9,) * nd
    x = rng.integers(-1, 2, shape).astype(np.float64)
    x[x < 0] = -np.inf
    x.reshape(-1)[rng.choice(x.size, 12, replace=False)] = np.nan
    ours, name = (F.max_pool1d, "max_pool1d") if nd == 1 else (F.max_pool2d, "max_pool2d")
    theirs = getattr(torch.nn.functional, name)
    for kw in [{"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
               {"kernel_size": 2}, {"kernel_size": 3, "stride": 1, "padding": 1, "dilation": 2}]:
        kw["return_indices"] = True
        mine, ref = _run_both(torch, ours, theirs, x, kw, 0, int_grad=True)
        _compare(mine, ref, 0, 0, np.float64, str(kw))


def test_max_pool_ties_route_to_first_max(torch):
    """A constant input: every window's gradient goes to its first (top-left) element."""
    x = np.zeros((1, 1, 4, 6))
    X = cv.tensor(x, requires_grad=True)
    F.max_pool2d(X, 2).sum().backward()
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(X.grad, xt.grad.numpy())
    assert X.grad[0, 0, 0, 0] == 1 and X.grad[0, 0, 1, 1] == 0


# ------------------------------------------------------------------ finite-difference checks
def _distinct(shape, seed=0):
    """Float64 values that are pairwise at least 0.01 apart (no ties within eps)."""
    rng = np.random.default_rng(seed)
    return (rng.permutation(int(np.prod(shape))).reshape(shape) - 20) * 0.013


MAX_OPTIONS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": (2, 3), "stride": (1, 2), "padding": (1, 0), "dilation": (2, 1)},
    {"kernel_size": 2, "stride": 1, "dilation": 2, "ceil_mode": True},
]


@pytest.mark.parametrize("kw", MAX_OPTIONS, ids=str)
def test_max_pool2d_gradcheck(kw):
    gradcheck(lambda x: F.max_pool2d(x, **kw), _distinct((2, 2, 5, 6)))


@pytest.mark.parametrize("kw", [{"kernel_size": 2}, {"kernel_size": 3, "stride": 2, "padding": 1,
                                "ceil_mode": True}, {"kernel_size": 2, "dilation": 3, "stride": 1}],
                         ids=str)
def test_max_pool1d_gradcheck(kw):
    gradcheck(lambda x: F.max_pool1d(x, **kw), _distinct((2, 3, 9)))


AVG_OPTIONS = [
    {"kernel_size": 2},
    {"kernel_size": 3, "stride": 2, "padding": 1},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True},
    {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
    {"kernel_size": (2, 3), "stride": (2, 1), "padding": (1, 1), "divisor_override": 4},
]


@pytest.mark.parametrize("kw", AVG_OPTIONS, ids=str)
def test_avg_pool2d_gradcheck(kw, rng):
    gradcheck(lambda x: F.avg_pool2d(x, **kw), rng.standard_normal((2, 2, 5, 6)))


@pytest.mark.parametrize("kw", AVG_OPTIONS[:4], ids=str)
def test_avg_pool1d_gradcheck(kw, rng):
    kw = {k: v[0] if isinstance(v, tuple) else v for k, v in kw.items()}
    gradcheck(lambda x: F.avg_pool1d(x, **kw), rng.standard_normal((2, 3, 7)))


@pytest.mark.parametrize("size", [2, (3, 2), (4, None), (5, 8), 1], ids=str)
def test_adaptive_avg_pool2d_gradcheck(size, rng):
    gradcheck(lambda x: F.adaptive_avg_pool2d(x, size), rng.standard_normal((2, 2, 6, 4)))


@pytest.mark.parametrize("size", [3, (4,), 7, 1], ids=str)
def test_adaptive_avg_pool1d_gradcheck(size, rng):
    gradcheck(lambda x: F.adaptive_avg_pool1d(x, size), rng.standard_normal((2, 2, 6)))


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular", "zeros"])
@pytest.mark.parametrize("k,stride", [(1, 2), (3, 2), (4, (1, 2)), (7, 3)])
def test_blur_pool2d_gradcheck(mode, k, stride, rng):
    gradcheck(lambda x: F.blur_pool2d(x, k, stride, mode), rng.standard_normal((2, 1, 5, 6)))


# ------------------------------------------------------------------------ shapes and dtypes
def _naive_adaptive(x, oh, ow):
    """Loop reference of PyTorch's adaptive bins [floor(i*n/o), ceil((i+1)*n/o))."""
    H, W = x.shape[-2:]
    out = np.empty(x.shape[:-2] + (oh, ow))
    for i in range(oh):
        for j in range(ow):
            h0, h1 = (i * H) // oh, -(-((i + 1) * H) // oh)
            w0, w1 = (j * W) // ow, -(-((j + 1) * W) // ow)
            out[..., i, j] = x[..., h0:h1, w0:w1].mean(axis=(-2, -1))
    return out


@pytest.mark.parametrize("hw,out", [((7, 5), (3, 2)), ((4, 4), (6, 5)), ((8, 6), (4, 3))])
def test_adaptive_avg_pool2d_matches_loop_reference(hw, out, rng):
    x = rng.standard_normal((2, 3) + hw)
    np.testing.assert_allclose(F.adaptive_avg_pool2d(cv.tensor(x), out).data,
                               _naive_adaptive(x, *out), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("op,kw", [
    (F.max_pool2d, {"kernel_size": 2}), (F.avg_pool2d, {"kernel_size": 3, "padding": 1}),
    (F.adaptive_avg_pool2d, {"output_size": 3}), (F.blur_pool2d, {})],
    ids=lambda v: getattr(v, "__name__", None) or str(v))
def test_unbatched_equals_batched_and_float32_stays(op, kw, rng):
    x = rng.standard_normal((3, 7, 8)).astype(np.float32)
    X = cv.tensor(x, requires_grad=True)
    Y = op(X, **kw)
    Y.sum().backward()
    Xb = cv.tensor(x[None], requires_grad=True)
    Yb = op(Xb, **kw)
    Yb.sum().backward()
    assert Y.dtype == np.float32 and X.grad.dtype == np.float32
    np.testing.assert_array_equal(Y.data, Yb.data[0])
    np.testing.assert_array_equal(X.grad, Xb.grad[0])


def test_blur_pool2d_output_size_is_ceil_of_input_over_stride():
    for h, w, s in [(7, 8, 2), (9, 4, 3), (1, 5, 2)]:
        y = F.blur_pool2d(cv.tensor(np.ones((1, 1, h, w))), 3, s, "replicate")
        assert y.shape == (1, 1, math.ceil(h / s), math.ceil(w / s))
        np.testing.assert_allclose(y.data, 1.0)  # the filter is normalised


def test_max_pool_no_grad_and_indices_dtype(rng):
    x = cv.tensor(rng.standard_normal((2, 3, 6, 6)))
    with cv.no_grad():
        y, idx = F.max_pool2d(x, 2, return_indices=True)
    assert not y.requires_grad and idx.dtype == np.int64 and idx.shape == (2, 3, 3, 3)
    flat = x.data.reshape(2, 3, -1)
    np.testing.assert_array_equal(np.take_along_axis(flat, idx.data.reshape(2, 3, -1), -1),
                                  y.data.reshape(2, 3, -1))


def test_ops_accept_batch_of_zero():
    y = F.max_pool2d(cv.tensor(np.zeros((0, 2, 4, 4))), 2)
    assert y.shape == (0, 2, 2, 2)


# --------------------------------------------------------------------------------- bad input
x4 = cv.tensor(np.zeros((1, 2, 6, 6)))
x3 = cv.tensor(np.zeros((1, 2, 6)))

BAD = [
    (lambda: F.max_pool2d(x3[0, 0], 2), ValueError, r"max_pool2d: expected a .* rank 3 or 4.*\(6,\)"),
    (lambda: F.max_pool1d(x4, 2), ValueError, r"max_pool1d: expected a .* rank 2 or 3"),
    (lambda: F.avg_pool2d(cv.tensor(np.zeros((2, 6, 6, 1, 1))), 2), ValueError, r"rank 3 or 4"),
    (lambda: F.max_pool2d(np.zeros((1, 1, 4, 4), np.int64), 2), TypeError,
     r"max_pool2d: expected a floating-point input, received dtype int64"),
    (lambda: F.blur_pool2d(np.zeros((1, 4, 4), np.int32)), TypeError, r"blur_pool2d: .*int32"),
    (lambda: F.max_pool2d(x4, 3, padding=2), ValueError,
     r"max_pool2d: padding must be at most half of kernel_size, received padding=2"),
    (lambda: F.avg_pool1d(x3, 2, padding=(2,)), ValueError, r"avg_pool1d: padding must be at"),
    (lambda: F.max_pool2d(x4, 7), ValueError, r"max_pool2d: computed output size \(0, 0\) is too"),
    (lambda: F.avg_pool2d(x4, (7, 2)), ValueError,
     r"avg_pool2d: computed output size \(0, 3\)"),
    (lambda: F.max_pool2d(x4, 0), ValueError, r"max_pool2d: kernel_size entries must be integers"),
    (lambda: F.max_pool2d(x4, (2, 2, 2)), ValueError,
     r"max_pool2d: kernel_size must be an int or a tuple of 2 ints, received kernel_size=\(2, 2"),
    (lambda: F.max_pool2d(x4, 2.5), ValueError, r"kernel_size must be an int"),
    (lambda: F.max_pool2d(x4, 2, stride=0), ValueError, r"max_pool2d: stride entries must be"),
    (lambda: F.max_pool2d(x4, 2, dilation=0), ValueError, r"max_pool2d: dilation entries"),
    (lambda: F.avg_pool2d(x4, 2, padding=-1), ValueError, r"avg_pool2d: padding entries must be"),
    (lambda: F.max_pool2d(x4, 2, ceil_mode=1), TypeError, r"max_pool2d: ceil_mode must be a bool"),
    (lambda: F.avg_pool2d(x4, 2, divisor_override=0), ValueError,
     r"avg_pool2d: divisor_override must be None or a non-zero int, received divisor_override=0"),
    (lambda: F.avg_pool2d(x4, 2, count_include_pad=None), TypeError, r"count_include_pad must"),
    (lambda: F.max_pool2d(cv.tensor(np.zeros((2, 0, 4, 4))), 2), ValueError,
     r"max_pool2d: expected non-empty channel and spatial dims, received shape \(2, 0, 4, 4\)"),
    (lambda: F.adaptive_avg_pool2d(x4, 0), ValueError,
     r"adaptive_avg_pool2d: output_size must be an int >= 1 .* received output_size=0"),
    (lambda: F.adaptive_avg_pool2d(x4, (2, 2, 2)), ValueError, r"output_size=\(2, 2, 2\)"),
    (lambda: F.adaptive_avg_pool2d(x4, None), ValueError, r"output_size=None"),
    (lambda: F.adaptive_avg_pool1d(x3, (2, 2)), ValueError,
     r"adaptive_avg_pool1d: output_size must be an int >= 1 .*received output_size=\(2, 2\)"),
    (lambda: F.adaptive_avg_pool1d(x4, 2), ValueError, r"adaptive_avg_pool1d: expected a"),
    (lambda: F.blur_pool2d(x4, 8), ValueError, r"blur_pool2d: kernel_size must be an int in 1..7"),
    (lambda: F.blur_pool2d(x4, 3, 0), ValueError, r"blur_pool2d: stride entries must be"),
    (lambda: F.blur_pool2d(x4, padding_mode="refl"), ValueError,
     r"blur_pool2d: padding_mode must be one of .* received padding_mode='refl'"),
    (lambda: F.blur_pool2d(cv.tensor(np.zeros((2, 6))), 5), ValueError,
     r"blur_pool2d: expected a \(N, C, H, W\) or \(C, H, W\) input of rank 3 or 4"),
    (lambda: F.blur_pool2d(cv.tensor(np.zeros((1, 2, 3, 6))), 7), ValueError,
     r"blur_pool2d: padding_mode='reflect' pads by 3 for kernel_size=7, too much"),
]


@pytest.mark.parametrize("call,exc,match", BAD, ids=[b[2][:40] for b in BAD])
def test_bad_input_raises_clear_error(call, exc, match):
    with pytest.raises(exc, match=match):
        call()
