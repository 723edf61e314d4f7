"""conv1d / conv2d / locally_connected2d / pad_nd: PyTorch as oracle, finite differences,
naive loop references, and the error messages of bad input."""

import itertools

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from convolve.functional.conv import (
    accumulate_windows,
    conv_output_size,
    normalize_padding,
    sliding_windows,
)
from convolve.functional.conv.parallel import batch_chunks, map_chunks
from helpers import gradcheck

MODES = ("zeros", "reflect", "replicate", "circular")


def plans_for(cfg, x, w, seed: int) -> list:
    """Every engine and option that can run the conv, forced one by one: batch chunks of
    one sample, serial or two chunk threads alternating with the seed."""
    return F.conv_plans(x, w, stride=cfg["stride"], padding=cfg["padding"],
                        dilation=cfg["dilation"], groups=cfg["groups"],
                        padding_mode=cfg["mode"], every=True, threads=1 + seed % 2,
                        chunk_bytes=1)


# ------------------------------------------------------------ random configs
def _random_config(seed: int, nd: int) -> dict:
    """A small random valid conv configuration (shapes, stride, padding, mode, ...)."""
    rng = np.random.default_rng(seed)
    while True:
        groups = int(rng.choice([1, 1, 2, 3]))
        cfg = {
            "batch": int(rng.choice([0, 1, 2, 3])),  # 0 = unbatched input
            "groups": groups, "cin": groups * int(rng.integers(1, 4)),
            "cout": groups * int(rng.integers(1, 4)),
            "size": tuple(int(s) for s in rng.integers(1, 9, nd)),
            "kernel": tuple(int(k) for k in rng.integers(1, 5, nd)),
            "stride": tuple(int(s) for s in rng.integers(1, 4, nd)),
            "dilation": tuple(int(d) for d in rng.integers(1, 3, nd)),
            "mode": str(rng.choice(MODES)), "bias": bool(rng.random() < 0.7),
        }
        kind = rng.integers(4)
        if kind == 0:
            cfg["padding"] = int(rng.integers(0, 3))
        elif kind == 1:
            cfg["padding"] = tuple(int(p) for p in rng.integers(0, 3, nd))
        else:
            cfg["padding"] = "same" if kind == 2 else "valid"
        if cfg["padding"] == "same":
            cfg["stride"] = (1,) * nd
        if _is_valid(cfg):
            return cfg


def _is_valid(cfg) -> bool:
    pads = normalize_padding(cfg["padding"], cfg["kernel"], cfg["stride"], cfg["dilation"], "t")
    for n, k, s, p, d in zip(cfg["size"], cfg["kernel"], cfg["stride"], pads, cfg["dilation"]):
        if conv_output_size(n, k, s, p, d) < 1:
            return False
        if cfg["mode"] == "reflect" and max(p) >= n or cfg["mode"] == "circular" and max(p) > n:
            return False
    return True


def _arrays(cfg, dtype, seed):
    rng = np.random.default_rng(seed + 10_000)
    lead = (cfg["batch"],) if cfg["batch"] else ()
    x = rng.standard_normal(lead + (cfg["cin"],) + cfg["size"]).astype(dtype)
    w = rng.standard_normal((cfg["cout"], cfg["cin"] // cfg["groups"]) + cfg["kernel"])
    b = rng.standard_normal(cfg["cout"]).astype(dtype) if cfg["bias"] else None
    return x, w.astype(dtype), b


def _ours(cfg, x, w, b, g, plan=None):
    """Output and (x, w, b) gradients of our op for the upstream gradient g."""
    fn = F.conv1d if len(cfg["size"]) == 1 else F.conv2d
    tx, tw = cv.tensor(x, requires_grad=True), cv.tensor(w, requires_grad=True)
    tb = None if b is None else cv.tensor(b, requires_grad=True)
    y = fn(tx, tw, tb, stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
           groups=cfg["groups"], padding_mode=cfg["mode"], plan=plan)
    y.backward(g)
    return y.data, tx.grad, tw.grad, (None if tb is None else tb.grad)


def _torch(torch, cfg, x, w, b, g):
    """The same through torch: F.conv for zeros padding, nn.ConvNd for the other modes."""
    nd = len(cfg["size"])
    tx, tw = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
    tb = None if b is None else torch.tensor(b, requires_grad=True)
    kw = {"stride": cfg["stride"], "padding": cfg["padding"], "dilation": cfg["dilation"],
              "groups": cfg["groups"]}
    if cfg["mode"] == "zeros":
        fn = torch.nn.functional.conv1d if nd == 1 else torch.nn.functional.conv2d
        y = fn(tx, tw, tb, **kw)
    else:
        cls = torch.nn.Conv1d if nd == 1 else torch.nn.Conv2d
        layer = cls(cfg["cin"], cfg["cout"], cfg["kernel"], bias=b is not None,
                    padding_mode=cfg["mode"], dtype=tw.dtype, **kw)
        y = layer._conv_forward(tx, tw, tb)
    y.backward(torch.tensor(g))
    return [None if t is None else t.detach().numpy()
            for t in (y, tx.grad, tw.grad, None if tb is None else tb.grad)]


def _compare(torch, seed, nd, dtype, rtol, atol):
    cfg = _random_config(seed, nd)
    x, w, b = _arrays(cfg, dtype, seed)
    fn = F.conv1d if nd == 1 else F.conv2d
    ours_y = fn(cv.tensor(x), cv.tensor(w), None if b is None else cv.tensor(b),
                stride=cfg["stride"], padding=cfg["padding"], dilation=cfg["dilation"],
                groups=cfg["groups"], padding_mode=cfg["mode"])
    g = np.random.default_rng(seed + 20_000).standard_normal(ours_y.shape).astype(dtype)
    ref = _torch(torch, cfg, x, w, b, g)
    plans = plans_for(cfg, x, w, seed)
    assert {"im2col_nhwc", "im2col_cm"} <= {p.engine for p in plans}
    for plan in plans:
        ours = _ours(cfg, x, w, b, g, plan)
        for name, a, r in zip(("output", "input grad", "weight grad", "bias grad"), ours, ref):
            if r is None:
                assert a is None
                continue
            assert a.dtype == dtype, f"{name} dtype {a.dtype}, expected {dtype}: {cfg}"
            np.testing.assert_allclose(a, r, rtol=rtol, atol=atol,
                                       err_msg=f"{name} with {plan!r}: {cfg}")


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(320))
def test_conv2d_matches_torch_float64(torch, seed):
    _compare(torch, seed, 2, np.float64, 1e-9, 1e-11)


@pytest.mark.parametrize("seed", range(120))
def test_conv1d_matches_torch_float64(torch, seed):
    _compare(torch, 1000 + seed, 1, np.float64, 1e-9, 1e-11)


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("seed", range(60))
def test_conv2d_matches_torch_float32(torch, seed):
    _compare(torch, 2000 + seed, 2, np.float32, 1e-4, 1e-5)


@pytest.mark.parametrize("seed", range(30))
def test_conv1d_matches_torch_float32(torch, seed):
    _compare(torch, 3000 + seed, 1, np.float32, 1e-4, 1e-5)


@pytest.mark.parametrize("shape", [(16, 32, 16, 32, 3, 1), (12, 6, 14, 16, 5, 0),
                                   (8, 3, 20, 8, 3, 1)], ids=str)
def test_layer_sized_conv_matches_torch_with_default_chunking(torch, shape):
    """Layer-sized float32 convs, several default-sized batch chunks, default threading."""
    n, c, h, o, k, p = shape
    rng = np.random.default_rng(7)
    x = rng.standard_normal((n, c, h, h)).astype(np.float32)
    w = (rng.standard_normal((o, c, k, k)) / np.sqrt(c * k * k)).astype(np.float32)
    b = rng.standard_normal(o).astype(np.float32)
    cfg = {"size": (h, h), "kernel": (k, k), "stride": (1, 1), "padding": p, "dilation": (1, 1),
           "groups": 1, "mode": "zeros", "cin": c, "cout": o}
    g = rng.standard_normal((n, o, h + 2 * p - k + 1, h + 2 * p - k + 1)).astype(np.float32)
    for a, r in zip(_ours(cfg, x, w, b, g), _torch(torch, cfg, x, w, b, g)):
        np.testing.assert_allclose(a, r, rtol=1e-4, atol=1e-4 * np.abs(r).max())


def test_sweep_covers_every_option():
    """The seeded sweep really exercises each padding kind, mode, groups, stride and dilation."""
    cfgs = [_random_config(s, 2) for s in range(320)]
    assert {c["mode"] for c in cfgs} == set(MODES)
    assert {"same", "valid"} <= {c["padding"] for c in cfgs if isinstance(c["padding"], str)}
    assert any(c["mode"] != "zeros" and c["padding"] == "same" for c in cfgs)
    assert {c["groups"] for c in cfgs} == {1, 2, 3}
    assert any(max(c["stride"]) > 1 for c in cfgs) and any(max(c["dilation"]) > 1 for c in cfgs)
    assert any(c["batch"] == 0 for c in cfgs) and any(not c["bias"] for c in cfgs)


# ------------------------------------------------------- finite differences
GRAD_CASES_2D = [
    {},
    {"stride": 2},
    {"stride": (2, 1), "padding": (1, 2)},
    {"padding": 1, "dilation": 2},
    {"padding": "same", "dilation": (1, 2)},
    {"padding": "valid"},
    {"groups": 2},
    {"groups": 2, "stride": 2, "padding": 1},
    {"padding": 2, "padding_mode": "reflect"},
    {"padding": (1, 2), "padding_mode": "replicate", "stride": 2},
    {"padding": 2, "padding_mode": "circular", "dilation": 2},
    {"padding": "same", "padding_mode": "reflect"},
]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("kw", GRAD_CASES_2D, ids=str)
def test_conv2d_gradcheck(rng, kw, bias):
    """Finite differences through every engine and option that can run the conv."""
    groups = kw.get("groups", 1)
    x = rng.standard_normal((2, 2 * groups, 5, 6))
    w = rng.standard_normal((2 * groups, 2, 3, 2))
    args = [x, w] + ([rng.standard_normal(2 * groups)] if bias else [])
    for plan in F.conv_plans(x, w, every=True, threads=1 + bias, chunk_bytes=1, **kw):
        gradcheck(lambda x, w, b=None, plan=plan: F.conv2d(x, w, b, plan=plan, **kw), *args)


@pytest.mark.parametrize("kw", [{}, {"padding": 1, "padding_mode": "circular"},
                                {"stride": 2, "padding": "valid"}, {"padding": "same"}], ids=str)
def test_conv2d_gradcheck_unbatched(rng, kw):
    x, w, b = rng.standard_normal((2, 5, 4)), rng.standard_normal((3, 2, 2, 3)), \
        rng.standard_normal(3)
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, **kw), x, w, b)


@pytest.mark.parametrize("kw", [
    {}, {"stride": 2, "padding": 1}, {"dilation": 2, "padding": "same"}, {"groups": 2},
    {"padding": 2, "padding_mode": "reflect"}, {"padding": 1, "padding_mode": "replicate"},
    {"padding": 3, "padding_mode": "circular", "stride": 2},
], ids=str)
@pytest.mark.parametrize("batched", [True, False])
def test_conv1d_gradcheck(rng, kw, batched):
    x = rng.standard_normal(((2,) if batched else ()) + (4, 7))
    w, b = rng.standard_normal((4, 4 // kw.get("groups", 1), 3)), rng.standard_normal(4)
    gradcheck(lambda x, w, b: F.conv1d(x, w, b, **kw), x, w, b)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
def test_pad_nd_gradcheck_and_torch(torch, rng, mode):
    x = rng.standard_normal((2, 3, 4, 5))
    pad = (2, 1, 3, 0)
    gradcheck(lambda t: F.pad_nd(t, pad, mode) * F.pad_nd(t, pad, mode), x)
    ours = F.pad_nd(cv.tensor(x), pad, mode).data
    ref = torch.nn.functional.pad(torch.tensor(x), pad, "constant" if mode == "zeros" else mode)
    np.testing.assert_array_equal(ours, ref.numpy())


# ------------------------------------------------------ locally connected 2d
def _lc_naive(x, w, b, stride, padding, dilation):
    """Direct loop: out[n, o, i, j] = sum over c, a, bb of w[i, j, o, c, a, bb] * xpad[...]."""
    (sh, sw), (ph, pw), (dh, dw) = stride, padding, dilation
    xp = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    oh, ow, o, _c, kh, kw = w.shape
    out = np.zeros((x.shape[0], o, oh, ow))
    for n, i, j, a, bb in itertools.product(range(x.shape[0]), range(oh), range(ow), range(kh),
                                            range(kw)):
        patch = xp[n, :, i * sh + a * dh, j * sw + bb * dw]  # (C,)
        out[n, :, i, j] += w[i, j, :, :, a, bb] @ patch
    return out if b is None else out + b


LC_CASES = [((1, 1), (0, 0), (1, 1)), ((2, 1), (1, 0), (1, 1)), ((1, 2), (1, 1), (2, 1))]


@pytest.mark.parametrize("stride,padding,dilation", LC_CASES)
def test_locally_connected2d_matches_naive_loop(rng, stride, padding, dilation):
    x = rng.standard_normal((2, 3, 6, 7))
    oh, ow = (conv_output_size(n, 3, s, p, d)
              for n, s, p, d in zip((6, 7), stride, padding, dilation))
    w, b = rng.standard_normal((oh, ow, 4, 3, 3, 3)), rng.standard_normal((4, oh, ow))
    y = F.locally_connected2d(cv.tensor(x), cv.tensor(w), cv.tensor(b), stride, padding,
                              dilation)
    np.testing.assert_allclose(y.data, _lc_naive(x, w, b, stride, padding, dilation),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("stride,padding,dilation", LC_CASES)
@pytest.mark.parametrize("bias", [True, False])
def test_locally_connected2d_gradcheck(rng, stride, padding, dilation, bias):
    x = rng.standard_normal((2, 2, 5, 5))
    oh, ow = (conv_output_size(5, 2, s, p, d) for s, p, d in zip(stride, padding, dilation))
    args = [x, rng.standard_normal((oh, ow, 3, 2, 2, 2))]
    if bias:
        args.append(rng.standard_normal((3, oh, ow)))
    gradcheck(lambda x, w, b=None: F.locally_connected2d(x, w, b, stride, padding, dilation),
              *args)


def test_locally_connected2d_unbatched_gradcheck(rng):
    x, w, b = rng.standard_normal((2, 4, 4)), rng.standard_normal((2, 2, 3, 2, 3, 3)), \
        rng.standard_normal((3, 2, 2))
    gradcheck(lambda x, w, b: F.locally_connected2d(x, w, b, padding="valid"), x, w, b)


@pytest.mark.parametrize("stride,padding,dilation", LC_CASES)
def test_locally_connected2d_with_shared_filter_is_conv2d(rng, stride, padding, dilation):
    x, k, b = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((4, 3, 3, 2)), \
        rng.standard_normal(4)
    ref_x, ref_k, ref_b = (cv.tensor(a, requires_grad=True) for a in (x, k, b))
    ref = F.conv2d(ref_x, ref_k, ref_b, stride, padding, dilation)
    oh, ow = ref.shape[2:]
    lx = cv.tensor(x, requires_grad=True)
    lw = cv.tensor(np.broadcast_to(k, (oh, ow) + k.shape).copy(), requires_grad=True)
    lb = cv.tensor(np.broadcast_to(b[:, None, None], (4, oh, ow)).copy(), requires_grad=True)
    y = F.locally_connected2d(lx, lw, lb, stride, padding, dilation)
    np.testing.assert_allclose(y.data, ref.data, rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    ref.backward(g)
    np.testing.assert_allclose(lx.grad, ref_x.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(lw.grad.sum(axis=(0, 1)), ref_k.grad, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(lb.grad.sum(axis=(1, 2)), ref_b.grad, rtol=1e-10, atol=1e-12)


# ----------------------------------------------------------------- helpers
def test_sliding_windows_matches_direct_indexing(rng):
    x = rng.standard_normal((2, 3, 9, 8))
    v = sliding_windows(x, (3, 2), (2, 3), (2, 1))
    oh, ow = conv_output_size(9, 3, 2, 0, 2), conv_output_size(8, 2, 3, 0, 1)
    assert v.shape == (2, 3, oh, ow, 3, 2)
    for i, j, a, b in itertools.product(range(oh), range(ow), range(3), range(2)):
        np.testing.assert_array_equal(v[:, :, i, j, a, b], x[:, :, 2 * i + 2 * a, 3 * j + b])
    assert not v.flags.writeable


def test_accumulate_windows_is_the_adjoint_of_sliding_windows(rng):
    x = rng.standard_normal((2, 9, 8))
    v = sliding_windows(x, (3, 2), (2, 3), (2, 1))
    y = rng.standard_normal(v.shape)
    back = accumulate_windows(y, np.zeros_like(x), (2, 3), (2, 1))
    np.testing.assert_allclose(np.sum(v * y), np.sum(x * back), rtol=1e-12)


@pytest.mark.parametrize("n,per_sample", [(1, 10**9), (7, 1 << 20), (64, 1), (128, 60_000), (0, 5)])
def test_batch_chunks_cover_the_batch(n, per_sample):
    chunks = batch_chunks(n, per_sample, 2 << 20)
    covered = [i for sl in chunks for i in range(sl.start, sl.stop)]
    assert covered == list(range(n))
    assert len(chunks) <= 1 or len(chunks) % 2 == 0 or len(chunks) == n


def test_conv_threads_give_identical_results(rng):
    """Chunk workers write disjoint slices and weight-grad partials are added in chunk order."""
    x = rng.standard_normal((9, 8, 6, 6)).astype(np.float32)
    w = rng.standard_normal((8, 8, 3, 3)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        for plan in F.conv_plans(x, w, padding=1, every=True, threads=threads, chunk_bytes=1):
            tx, tw = cv.tensor(x, requires_grad=True), cv.tensor(w, requires_grad=True)
            y = F.conv2d(tx, tw, padding=1, plan=plan)
            y.backward(np.ones(y.shape, np.float32))
            results.append((repr(plan).replace(f"threads={threads}", ""),
                            (y.data, tx.grad, tw.grad)))
    first = dict(results[:len(results) // 3])
    assert len(first) == len(results) // 3 >= 6
    for key, arrays in results:
        for a, b in zip(first[key], arrays):
            np.testing.assert_array_equal(a, b, err_msg=key)


def test_map_chunks_caller_works_keeps_order_and_reraises():
    """The calling thread takes chunks too; results keep chunk order; a worker's error is
    raised in the caller; BLAS thread counts are back to what they were afterwards."""
    import functools
    import threading

    from convolve._blas import _libs
    blas = _libs()
    run = functools.partial(map_chunks, threads=2)
    before = [c.num_threads for c in blas]
    seen = set()

    def fn(i):
        seen.add(threading.get_ident())
        return i * i

    assert run(fn, list(range(40))) == [i * i for i in range(40)]
    assert run(fn, [3]) == [9]
    for _ in range(20):  # the caller alone may finish all chunks; it must do some of them
        seen.clear()
        run(lambda i: fn(threading.Event().wait(1e-3)), list(range(8)))
        if threading.get_ident() in seen:
            break
    assert threading.get_ident() in seen

    def bad(i):
        if i == 5:
            raise RuntimeError("chunk 5 failed")
        return i

    with pytest.raises(RuntimeError, match="chunk 5 failed"):
        run(bad, list(range(12)))
    assert [c.num_threads for c in blas] == before
    assert run(fn, list(range(4))) == [0, 1, 4, 9]  # lock released


def test_conv_output_size_and_same_padding(torch):
    for size, k, s, p, d in itertools.product((5, 8), (1, 2, 3), (1, 2), (0, 1, 2), (1, 2)):
        if conv_output_size(size, k, s, p, d) > 0:
            ref = torch.nn.functional.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k),
                                             stride=s, padding=p, dilation=d)
            assert conv_output_size(size, k, s, p, d) == ref.shape[-1]
    assert normalize_padding("same", (4, 3), (1, 1), (1, 2), "t") == ((1, 2), (2, 2))
    assert normalize_padding("valid", (4, 3), (2, 1), (1, 1), "t") == ((0, 0), (0, 0))
    assert normalize_padding((1, 2), (4, 3), (2, 1), (1, 1), "t") == ((1, 1), (2, 2))


# ----------------------------------------------------- dtype and grad needs
def test_float32_stays_float32(rng):
    x = cv.tensor(rng.standard_normal((2, 3, 6, 6)), requires_grad=True, dtype=np.float32)
    w = cv.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True, dtype=np.float32)
    b = cv.tensor(rng.standard_normal(4), requires_grad=True, dtype=np.float32)
    for mode in MODES:
        y = F.conv2d(x, w, b, padding=1, padding_mode=mode)
        y.sum().backward()
        assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32


def test_only_required_gradients_are_computed(rng):
    x = cv.tensor(rng.standard_normal((2, 3, 6, 6)))
    w = cv.tensor(rng.standard_normal((4, 3, 3, 3)), requires_grad=True)
    F.conv2d(x, w, padding=1).sum().backward()
    assert x.grad is None and w.grad is not None
    w2 = cv.tensor(w.data)
    x2 = cv.tensor(x.data, requires_grad=True)
    F.conv2d(x2, w2, stride=2).sum().backward()
    assert x2.grad is not None and w2.grad is None


def test_bias_only_gradient(rng):
    x, w = cv.tensor(rng.standard_normal((2, 3, 5, 5))), cv.tensor(rng.standard_normal((4, 3, 3, 3)))
    b = cv.tensor(rng.standard_normal(4), requires_grad=True)
    g = rng.standard_normal((2, 4, 3, 3))
    F.conv2d(x, w, b).backward(g)
    np.testing.assert_allclose(b.grad, g.sum(axis=(0, 2, 3)), rtol=1e-12)
    assert x.grad is None and w.grad is None


@pytest.mark.parametrize("engine", ["im2col_nhwc", "im2col_cm", "depthwise", "gemm1x1"])
def test_non_contiguous_input(rng, engine):
    """Transposed and reversed views give the result of their contiguous copies."""
    base = rng.standard_normal((3, 6, 7, 2))
    x = base.transpose(3, 0, 2, 1)[:, :, ::-1]  # (2, 3, 7, 6), negative and odd strides
    w = rng.standard_normal({"depthwise": (6, 1, 3, 2), "gemm1x1": (4, 3, 1, 1)}.get(
        engine, (4, 3, 3, 2)))
    groups = 3 if engine == "depthwise" else 1
    tx = cv.tensor(0.0, dtype=np.float64)
    tx.data = x  # cv.tensor() would copy into a contiguous array
    ours = F.conv2d(tx, cv.tensor(w), stride=2, groups=groups, plan=engine)
    ref = F.conv2d(cv.tensor(np.ascontiguousarray(x)), cv.tensor(w), stride=2, groups=groups,
                   plan="im2col_nhwc")
    np.testing.assert_allclose(ours.data, ref.data, rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- bad input
def _t(*shape, dtype=np.float32):
    return cv.tensor(np.zeros(shape), dtype=dtype)


BAD_CONV2D = [
    ((_t(3, 8), _t(2, 3, 3, 3)), {}, ValueError, r"conv2d: expected a \(N, C, H, W\).*rank 3 or 4"),
    ((_t(1, 1, 3, 8, 8), _t(2, 3, 3, 3)), {}, ValueError, r"conv2d: .*received shape \(1, 1, 3"),
    ((_t(1, 4, 8, 8), _t(2, 3, 3, 3)), {}, ValueError, r"conv2d: expected input with 3 channels"),
    ((_t(1, 4, 8, 8), _t(2, 2, 3, 3)), {"groups": 3}, ValueError, r"not divisible by groups=3"),
    ((_t(1, 6, 8, 8), _t(4, 2, 3, 3)), {"groups": 3}, ValueError,
     r"out_channels=4 .*not divisible by groups=3"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"groups": 0}, ValueError, r"groups must be a positive"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"stride": 0}, ValueError, r"conv2d: stride entries"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"dilation": (1, -1)}, ValueError, r"dilation"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding": -1}, ValueError, r"conv2d: padding entries"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding": "full"}, ValueError,
     r"padding must be an int, a tuple, 'valid' or 'same'"),
    ((_t(1, 3, 2, 8), _t(2, 3, 3, 3)), {}, ValueError, r"output size \(0, 6\) is too small"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding": "same", "stride": 2}, ValueError,
     r"padding='same' is not supported for strided"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding_mode": "mirror"}, ValueError,
     r"padding_mode must be one of"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding": 8, "padding_mode": "reflect"}, ValueError,
     r"'reflect' needs padding < input size"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3)), {"padding": 9, "padding_mode": "circular"}, ValueError,
     r"'circular' needs padding <= input size"),
    ((_t(1, 3, 8, 8, dtype=np.int64), _t(2, 3, 3, 3)), {}, TypeError, r"conv2d: expected a float"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3, dtype=np.float64)), {}, TypeError,
     r"conv2d: input dtype float32 and weight dtype float64 differ"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3)), {}, ValueError, r"conv2d: expected weight of rank 4"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3), _t(3)), {}, ValueError, r"expected bias of shape \(2,\)"),
    ((_t(1, 3, 8, 8), _t(2, 3, 3, 3), _t(2, dtype=np.float64)), {}, TypeError, r"bias dtype"),
]


@pytest.mark.parametrize("args,kw,exc,match", BAD_CONV2D, ids=[c[3][:40] for c in BAD_CONV2D])
def test_conv2d_bad_input(args, kw, exc, match):
    with pytest.raises(exc, match=match):
        F.conv2d(*args, **kw)


def test_non_tensor_input():
    with pytest.raises(TypeError, match=r"conv2d: input must be a Tensor, received list"):
        F.conv2d([[[[1.0]]]], _t(1, 1, 1, 1))


def test_conv1d_bad_input():
    with pytest.raises(ValueError, match=r"conv1d: expected a \(N, C, L\)"):
        F.conv1d(_t(1, 3, 8, 8), _t(2, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: expected weight of rank 3"):
        F.conv1d(_t(1, 3, 8), _t(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"conv1d: computed output size \(0,\)"):
        F.conv1d(_t(1, 3, 4), _t(2, 3, 3), dilation=2)


def test_locally_connected2d_bad_input():
    op = F.locally_connected2d
    with pytest.raises(ValueError, match=r"locally_connected2d: expected weight of rank 6"):
        op(_t(1, 3, 8, 8), _t(2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"weight is for output size \(5, 5\)"):
        op(_t(1, 3, 8, 8), _t(5, 5, 2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"expected input with 3 channels"):
        op(_t(1, 2, 8, 8), _t(6, 6, 2, 3, 3, 3))
    with pytest.raises(ValueError, match=r"expected bias of shape \(2, 6, 6\)"):
        op(_t(1, 3, 8, 8), _t(6, 6, 2, 3, 3, 3), _t(2))
    with pytest.raises(TypeError, match=r"locally_connected2d: input dtype float32"):
        op(_t(1, 3, 8, 8), _t(6, 6, 2, 3, 3, 3, dtype=np.float64))


def test_pad_nd_bad_input():
    with pytest.raises(ValueError, match=r"pad_nd: pad must hold an even number"):
        F.pad_nd(_t(2, 3), (1, 1, 1))
    with pytest.raises(ValueError, match=r"pad_nd: padding_mode='reflect' needs padding <"):
        F.pad_nd(_t(2, 3), (3, 0), "reflect")
    with pytest.raises(ValueError, match=r"pad_nd: padding_mode must be one of"):
        F.pad_nd(_t(2, 3), (1, 0), "edge")
