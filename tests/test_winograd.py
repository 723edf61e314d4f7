"""Winograd F(2x2, 3x3) engine and the compiled col2im loops: each kernel against a plain
reference, adjoint identities, and conv2d through the forced plan against PyTorch
(float64 at rtol 1e-9) and finite differences."""

import numpy as np
import pytest

pytest.importorskip("numba")  # optional: without it the planner never picks Winograd

import convolve as cv
import convolve.functional as F
from convolve.functional.conv.engines import _col2im_kernels, _winograd_kernels
from convolve.functional.conv.engines import winograd as wg
from helpers import gradcheck
from test_functional_conv import _ours, _torch

BT = np.array([[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]], dtype=float)
AT = np.array([[1, 1, 1, 0], [0, 1, -1, -1]], dtype=float)
G = np.array([[1, 0, 0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0, 0, 1]])

# (input h, w, pads): odd and even output sizes, asymmetric pads, one-tile outputs
GEOMETRIES = [(5, 6, ((1, 1), (1, 1))), (7, 4, ((0, 0), (2, 1))), (3, 3, ((0, 0), (0, 0))),
              (1, 2, ((1, 1), (1, 2))), (8, 8, ((2, 2), (0, 1)))]


def _ref_input_transform(x, pads):
    """Plain loop: v[4r+s, c, tile] = (B^T d B)[r, s] for each 4x4 tile d of the padded input."""
    m, c, h, w = x.shape
    _, _, th, tw = wg.tiles(h, w, pads)
    xp = np.zeros((m, c, 2 * th + 2, 2 * tw + 2))
    xp[:, :, pads[0][0]:pads[0][0] + h, pads[1][0]:pads[1][0] + w] = x
    v = np.zeros((16, c, m * th * tw))
    for n, ch, i, j in np.ndindex(m, c, th, tw):
        d = xp[n, ch, 2 * i:2 * i + 4, 2 * j:2 * j + 4]
        v[:, ch, (n * th + i) * tw + j] = (BT @ d @ BT.T).ravel()
    return v


def _ref_output_transform(mm, bias, th, tw, oh, ow):
    """Plain loop: 2x2 output tile = A^T M A + bias, cropped to (OH, OW)."""
    o = mm.shape[1]
    m = mm.shape[2] // (th * tw)
    out = np.zeros((m, o, 2 * th, 2 * tw))
    for n, q, i, j in np.ndindex(m, o, th, tw):
        tile = mm[:, q, (n * th + i) * tw + j].reshape(4, 4)
        out[n, q, 2 * i:2 * i + 2, 2 * j:2 * j + 2] = AT @ tile @ AT.T + bias[q]
    return out[:, :, :oh, :ow]


@pytest.mark.parametrize("h, w, pads", GEOMETRIES)
def test_transforms_match_plain_references_and_are_adjoint(rng, h, w, pads):
    m, c, o = 2, 3, 2
    oh, ow, th, tw = wg.tiles(h, w, pads)
    t = m * th * tw
    x = rng.standard_normal((m, c, h, w))
    vb = wg.planes(c, t, np.float64)
    _winograd_kernels.input_transform(x, pads[0][0], pads[1][0], th, tw, vb)
    v = wg.plane_view(vb, c, t)
    np.testing.assert_allclose(v, _ref_input_transform(x, pads), rtol=1e-14, atol=1e-14)
    dvb = rng.standard_normal(vb.shape)
    dx = rng.standard_normal(x.shape)  # overwritten
    _winograd_kernels.input_transform_adjoint(dvb, pads[0][0], pads[1][0], th, tw, dx)
    np.testing.assert_allclose(np.sum(v * wg.plane_view(dvb, c, t)), np.sum(x * dx), rtol=1e-12)

    mmb, bias = rng.standard_normal(wg.planes(o, t, np.float64).shape), rng.standard_normal(o)
    mm = wg.plane_view(mmb, o, t)
    out = np.empty((m, o, oh, ow))
    _winograd_kernels.output_transform(mmb, bias, th, tw, out)
    np.testing.assert_allclose(out, _ref_output_transform(mm, bias, th, tw, oh, ow), rtol=1e-13)
    g = rng.standard_normal(out.shape)
    dmb = wg.planes(o, t, np.float64)
    _winograd_kernels.output_transform_adjoint(g, th, tw, dmb)
    linear = _ref_output_transform(mm, np.zeros(o), th, tw, oh, ow)
    np.testing.assert_allclose(np.sum(linear * g), np.sum(mm * wg.plane_view(dmb, o, t)),
                               rtol=1e-12)


def test_weight_transform_and_its_adjoint(rng):
    w = rng.standard_normal((3, 2, 3, 3))
    wh = wg.transform_weight(w)
    for q, c in np.ndindex(3, 2):
        np.testing.assert_allclose(wh[:, q, c], (G @ w[q, c] @ G.T).ravel(), rtol=1e-14)
    dwh = rng.standard_normal(wh.shape)
    np.testing.assert_allclose(np.sum(wh * dwh), np.sum(w * wg.transform_weight_adjoint(dwh)),
                               rtol=1e-12)


def test_planes_rows_are_offset():
    buf = wg.planes(3, 1024, np.float32)
    assert buf.flags.c_contiguous and (buf.strides[0] % 4096) == 64
    assert wg.plane_view(buf, 3, 1024).shape == (16, 3, 1024)


def _winograd_config(seed: int) -> dict:
    """A random conv2d config that takes the Winograd path (3x3, stride 1, 1 group, zeros)."""
    rng = np.random.default_rng(seed)
    while True:
        kind = rng.integers(4)
        padding = [int(rng.integers(0, 3)), tuple(int(p) for p in rng.integers(0, 3, 2)),
                   "same", "valid"][kind]
        pad = (padding,) * 2 if isinstance(padding, int) else \
            {"same": (1, 1), "valid": (0, 0)}.get(padding, padding)
        size = tuple(int(s) for s in rng.integers(1, 10, 2))
        if all(s + 2 * p >= 3 for s, p in zip(size, pad)):
            return {"batch": int(rng.choice([0, 1, 2, 3])), "groups": 1,
                    "cin": int(rng.integers(1, 6)), "cout": int(rng.integers(1, 6)),
                    "size": size, "kernel": (3, 3), "stride": (1, 1), "dilation": (1, 1),
                    "mode": "zeros", "padding": padding, "bias": bool(rng.random() < 0.7)}


@pytest.mark.parametrize("dtype, rtol, atol", [(np.float64, 1e-9, 1e-11),
                                               (np.float32, 1e-4, 1e-5)], ids=["f64", "f32"])
@pytest.mark.parametrize("seed", range(40))
def test_winograd_conv2d_matches_torch(torch, seed, dtype, rtol, atol):
    cfg = _winograd_config(seed)
    rng = np.random.default_rng(seed + 50_000)
    lead = (cfg["batch"],) if cfg["batch"] else ()
    x = rng.standard_normal(lead + (cfg["cin"],) + cfg["size"]).astype(dtype)
    w = rng.standard_normal((cfg["cout"], cfg["cin"], 3, 3)).astype(dtype)
    b = rng.standard_normal(cfg["cout"]).astype(dtype) if cfg["bias"] else None
    y = F.conv2d(cv.tensor(x), cv.tensor(w), padding=cfg["padding"])
    g = rng.standard_normal(y.shape).astype(dtype)
    ref = _torch(torch, cfg, x, w, b, g)
    for plan in ({"engine": "winograd", "chunk_bytes": 1 + (seed % 2) * 10**6,
                  "threads": 1 + seed % 3}, {"engine": "im2col_nhwc", "chunk_bytes": 1}):
        ours = _ours(cfg, x, w, b, g, plan)
        for name, a, r in zip(("output", "input grad", "weight grad", "bias grad"), ours, ref):
            if r is None:
                assert a is None
                continue
            assert a.dtype == dtype
            np.testing.assert_allclose(a, r, rtol=rtol, atol=atol,
                                       err_msg=f"{name} with {plan}: {cfg}")


@pytest.mark.parametrize("shape, padding", [((2, 2, 5, 6), 1), ((1, 3, 4, 3), (0, 2)),
                                            ((2, 1, 3, 4), "valid"), ((3, 2, 5, 5), 2)], ids=str)
def test_winograd_gradcheck(rng, shape, padding):
    x = rng.standard_normal(shape)
    w, b = rng.standard_normal((3, shape[1], 3, 3)), rng.standard_normal(3)
    plan = {"engine": "winograd", "chunk_bytes": 1}
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, padding=padding, plan=plan), x, w, b)


def test_winograd_is_planned_only_where_it_applies(rng):
    x = np.zeros((2, 4, 6, 6))
    assert "winograd" in {p.engine for p in F.conv_plans(x, np.zeros((4, 4, 3, 3)), padding=1,
                                                          every=True)}
    for w_shape, kw in [((4, 4, 3, 2), {}), ((4, 4, 3, 3), {"stride": (2, 1)}),
                        ((4, 4, 3, 3), {"dilation": (1, 2)}), ((4, 2, 3, 3), {"groups": 2}),
                        ((4, 4, 3, 3), {"padding": 1, "padding_mode": "reflect"})]:
        w = np.zeros(w_shape)
        assert "winograd" not in {p.engine for p in F.conv_plans(x, w, every=True, **kw)}
        with pytest.raises(ValueError, match="engine 'winograd' cannot run this conv"):
            F.conv2d(cv.tensor(x), cv.tensor(w), plan="winograd", **kw)


@pytest.mark.parametrize("need", ["input", "weight"])
def test_winograd_single_gradients(rng, need):
    x, w = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((4, 2, 3, 3))
    tx, tw = cv.tensor(x, requires_grad=need == "input"), cv.tensor(w, requires_grad=need != "input")
    g = rng.standard_normal((3, 4, 6, 5))
    F.conv2d(tx, tw, padding=1, plan={"engine": "winograd", "chunk_bytes": 1}).backward(g)
    rx, rw = cv.tensor(x, requires_grad=True), cv.tensor(w, requires_grad=True)
    F.conv2d(rx, rw, padding=1, plan="im2col_nhwc").backward(g)
    if need == "input":
        assert tw.grad is None
        np.testing.assert_allclose(tx.grad, rx.grad, rtol=1e-12, atol=1e-12)
    else:
        assert tx.grad is None
        np.testing.assert_allclose(tw.grad, rw.grad, rtol=1e-12, atol=1e-12)


# ------------------------------------------------ Numba col2im of the im2col engine
@pytest.mark.parametrize("stride, dh", [((1, 1), 1), ((2, 3), 1), ((1, 2), 2)])
def test_numba_col2im_matches_accumulate_windows(rng, stride, dh):
    m, c, oh, ow, kh, kw = 2, 3, 4, 3, 3, 2
    hp, wp = (oh - 1) * stride[0] + dh * (kh - 1) + 2, (ow - 1) * stride[1] + kw + 1
    dcol = rng.standard_normal((m, oh, ow, kh, kw, c))
    dxp = rng.standard_normal((m, hp, wp, c))  # zeroed by the kernel
    _col2im_kernels.col2im_nhwc(dcol.reshape(m, oh, ow, kh, kw * c), c, *stride, dh,
                              dxp.reshape(m, hp, wp * c))
    ref = np.zeros((m, c, hp, wp))
    F.accumulate_windows(dcol.transpose(0, 5, 1, 2, 3, 4), ref, stride, (dh, 1))
    np.testing.assert_allclose(dxp.transpose(0, 3, 1, 2), ref, rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("kw", [{"padding": 2}, {"stride": 2, "padding": (1, 0)},
                                {"dilation": (2, 1)}, {"padding": 1, "padding_mode": "reflect"}],
                         ids=str)
def test_numba_input_grad_gradcheck(rng, kw):
    x, w = rng.standard_normal((2, 3, 7, 6)), rng.standard_normal((2, 3, 3, 2))
    plan = {"engine": "im2col_nhwc", "input_grad": "numba", "chunk_bytes": 1}
    gradcheck(lambda x, w: F.conv2d(x, w, plan=plan, **kw), x, w)


@pytest.mark.parametrize("stride, dilation", [((1, 1), (1, 1)), ((2, 3), (1, 2)), ((1, 2), (2, 1))])
def test_numba_col2im_nchw_matches_accumulate_windows(rng, stride, dilation):
    m, c, oh, ow, kh, kw = 2, 3, 4, 3, 3, 2
    hp = (oh - 1) * stride[0] + dilation[0] * (kh - 1) + 2
    wp = (ow - 1) * stride[1] + dilation[1] * (kw - 1) + 1
    dcol = rng.standard_normal((m, c, kh, kw, oh, ow))
    dxp = rng.standard_normal((m, c, hp, wp))  # zeroed by the kernel
    _col2im_kernels.col2im_nchw(dcol, *stride, *dilation, dxp)
    ref = np.zeros((m, c, hp, wp))
    F.accumulate_windows(dcol.transpose(0, 1, 4, 5, 2, 3), ref, stride, dilation)
    np.testing.assert_allclose(dxp, ref, rtol=1e-13, atol=1e-13)
