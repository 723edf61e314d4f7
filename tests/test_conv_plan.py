"""The conv planner and its engines: every engine and option forced on a seeded table of
shapes (ResNet/MobileNet layers, odd sizes nothing was tuned for) against PyTorch in
float64, finite differences through the fast paths, and the plan's forcing, repr and
errors."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

# (x shape, w shape, conv kwargs): ResNet/MobileNet-style layers at toy sizes, then odd ones
TABLE = [
    ((2, 3, 13, 13), (4, 3, 7, 7), {"stride": 2, "padding": 3}),       # 7x7 s2 p3 stem
    ((2, 4, 7, 7), (6, 4, 3, 3), {"stride": 2, "padding": 1}),          # stride-2 3x3
    ((3, 4, 7, 6), (6, 4, 1, 1), {"stride": 2}),                        # 1x1 s2 shortcut
    ((2, 6, 5, 5), (4, 6, 1, 1), {}),                                   # 1x1 s1
    ((2, 6, 4, 4), (5, 6, 3, 3), {"padding": 1}),                       # 3x3 on a 4x4 map
    ((2, 5, 2, 2), (3, 5, 3, 3), {"padding": 1}),                       # ... on a 2x2 map
    ((2, 5, 1, 1), (3, 5, 3, 3), {"padding": 1}),                       # ... on a 1x1 map
    ((2, 6, 9, 8), (6, 1, 3, 3), {"padding": 1, "groups": 6}),          # depthwise 3x3
    ((2, 4, 9, 9), (4, 1, 3, 3), {"stride": 2, "padding": 1, "groups": 4}),
    ((2, 3, 8, 7), (6, 1, 3, 2), {"padding": (2, 1), "dilation": 2, "groups": 3}),
    ((2, 3, 8, 8), (3, 1, 3, 3), {"padding": 2, "groups": 3, "padding_mode": "reflect"}),
    ((1, 4, 11, 5), (4, 2, 1, 1), {"stride": (2, 3), "groups": 2}),     # grouped 1x1
    ((3, 4, 9, 7), (6, 2, 3, 3), {"padding": 1, "groups": 2}),          # grouped 3x3
    ((2, 5, 11, 9), (3, 5, 5, 3), {"padding": (2, 0), "dilation": (1, 2)}),
    ((2, 3, 6, 9), (4, 3, 3, 3), {"padding": 1, "padding_mode": "circular"}),
    ((2, 3, 6, 9), (4, 3, 3, 3), {"padding": "same", "padding_mode": "replicate"}),
    ((4, 7, 7), (5, 4, 3, 3), {"padding": 1}),                          # unbatched
    ((0, 4, 6, 6), (5, 4, 3, 3), {"padding": 1}),                       # empty batch
    ((0, 4, 6, 6), (4, 1, 3, 3), {"padding": 1, "groups": 4}),
    ((0, 4, 6, 6), (5, 4, 1, 1), {"stride": 2}),
]


def _torch_conv(torch, x, w, b, g, kw):
    kw = dict(kw)
    mode = kw.pop("padding_mode", "zeros")
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    if mode == "zeros":
        y = torch.nn.functional.conv2d(tx, tw, tb, **kw)
    else:
        layer = torch.nn.Conv2d(w.shape[1] * kw.get("groups", 1), w.shape[0], w.shape[2:],
                                padding_mode=mode, dtype=torch.float64, **kw)
        y = layer._conv_forward(tx, tw, tb)
    y.backward(torch.tensor(g))
    return [t.detach().numpy() for t in (y, tx.grad, tw.grad, tb.grad)]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("case", range(len(TABLE)), ids=lambda i: str(TABLE[i]))
def test_every_plan_matches_torch_float64(torch, case):
    xs, ws, kw = TABLE[case]
    rng = np.random.default_rng(case)
    x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
    y0 = F.conv2d(cv.tensor(x), cv.tensor(w), **kw)
    g = rng.standard_normal(y0.shape)
    ref = _torch_conv(torch, x, w, b, g, kw)
    plans = [p for threads, chunk in ((1, None), (2, 1))
             for p in F.conv_plans(x, w, every=True, threads=threads, chunk_bytes=chunk, **kw)]
    engines = {p.engine for p in plans}
    assert {"im2col_nhwc", "im2col_cm"} <= engines
    crop = plans[0].crop  # taps that only meet zero padding are cropped off first
    kernel = ws[2:] if not crop else tuple(b - a + 1 for a, b in crop)
    pads = kw.get("padding", 0) if not crop else kernel != ws[2:]
    assert ("gemm1x1" in engines) == (kernel == (1, 1) and (not pads or bool(crop)))
    assert ("depthwise" in engines) == (ws[1] == 1 and kw.get("groups", 1) == xs[-3])
    for plan in plans:
        tx, tw, tb = (cv.tensor(a, requires_grad=True) for a in (x, w, b))
        y = F.conv2d(tx, tw, tb, plan=plan, **kw)
        y.backward(g)
        for name, a, r in zip(("output", "input grad", "weight grad", "bias grad"),
                              (y.data, tx.grad, tw.grad, tb.grad), ref):
            np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-11, err_msg=f"{name} {plan!r}")


@pytest.mark.parametrize("shape, kw, crop", [
    ((2, 5, 1, 1), {"padding": 1}, ((1, 1), (1, 1))),
    ((2, 5, 1, 4), {"padding": 1}, ((1, 1), (0, 2))),
    ((2, 5, 1, 2), {"padding": 1, "stride": 2}, ((1, 1), (1, 2))),
    ((2, 5, 3, 3), {"padding": 1}, ()),
    ((2, 5, 1, 1), {"padding": 1, "padding_mode": "circular"}, ()),  # not zeros: no crop
])
def test_taps_that_only_meet_zero_padding_are_cropped(torch, shape, kw, crop):
    """A 3x3 kernel on a 1x1 map is a 1x1 conv with the centre taps; the other taps' weight
    gradient is zero, as PyTorch's."""
    x, w = np.zeros(shape), np.zeros((3, 5, 3, 3))
    plan = F.conv_plans(x, w, **kw)
    assert plan.crop == crop
    if crop:
        assert "taps=" in repr(plan)
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal(shape), rng.standard_normal((3, 5, 3, 3)), \
        rng.standard_normal(3)
    tx, tw, tb = (cv.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, plan=plan, **kw)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    for a, r in zip((y.data, tx.grad, tw.grad, tb.grad), _torch_conv(torch, x, w, b, g, kw)):
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-11)


def test_empty_batch_gives_zero_weight_and_bias_grads(torch):
    x, w, b = np.zeros((0, 3, 5, 5)), np.ones((2, 3, 3, 3)), np.ones(2)
    tx, tw, tb = (cv.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(tx, tw, tb, padding=1)
    assert y.shape == (0, 2, 5, 5)
    y.sum().backward()
    ref = _torch_conv(torch, x, w, b, np.zeros((0, 2, 5, 5)), {"padding": 1})
    for a, r in zip((tx.grad, tw.grad, tb.grad), ref[1:]):
        assert a.shape == r.shape and not a.any() and not r.any()


@pytest.mark.parametrize("per_sample", [False, True])
@pytest.mark.parametrize("kw", [{}, {"stride": 2}, {"stride": (1, 2), "groups": 2}], ids=str)
def test_gemm1x1_gradcheck(rng, kw, per_sample):
    x, w, b = rng.standard_normal((2, 4, 5, 4)), rng.standard_normal((4, 4 // kw.get(
        "groups", 1), 1, 1)), rng.standard_normal(4)
    plan = {"engine": "gemm1x1", "per_sample": per_sample, "chunk_bytes": 1}
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, plan=plan, **kw), x, w, b)


@pytest.mark.parametrize("tier", ["numba", "numpy"])
@pytest.mark.parametrize("kw", [{"padding": 1}, {"stride": 2, "padding": (0, 1)},
                                {"dilation": 2, "padding": 2, "padding_mode": "reflect"}],
                         ids=str)
def test_depthwise_gradcheck(rng, kw, tier):
    """Multiplier 2 (out_channels = 2 * in_channels), both tiers."""
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((6, 1, 3, 3)), \
        rng.standard_normal(6)
    plan = {"engine": "depthwise", "input_grad": tier, "chunk_bytes": 1}
    if tier == "numba":
        pytest.importorskip("numba")
    gradcheck(lambda x, w, b: F.conv2d(x, w, b, groups=3, plan=plan, **kw), x, w, b)


def test_plan_repr_and_forcing_by_argument_and_environment(monkeypatch):
    x, w = np.zeros((8, 16, 8, 8)), np.zeros((16, 16, 1, 1))
    plan = F.conv_plans(x, w)
    text = repr(plan)
    assert text.startswith(f"ConvPlan({plan.engine}") and "8x16x8x8 -> 16, k=1x1" in text
    assert "est " in text and "threads=" in text
    for engine in ("im2col_nhwc", "im2col_cm", "gemm1x1"):
        forced = F.plan_conv((8, 16, 8, 8), (16, 16, 1, 1), engine=engine)
        assert forced.engine == engine and forced.forced and "(forced)" in repr(forced)
        monkeypatch.setenv("CONVOLVE_CONV_ENGINE", engine)
        assert F.conv_plans(x, w).engine == engine
        y = F.conv2d(cv.tensor(x), cv.tensor(w))
        assert y.shape == (8, 16, 8, 8)
    monkeypatch.setenv("CONVOLVE_CONV_ENGINE", "winograd")  # cannot run a 1x1 conv: planned
    assert F.conv_plans(x, w).engine != "winograd"
    monkeypatch.setenv("CONVOLVE_CONV_ENGINE", "im2col")
    assert F.conv_plans(x, w).engine in ("im2col_nhwc", "im2col_cm")


def test_a_plan_runs_on_other_batch_sizes_but_not_other_convs(rng):
    w = cv.tensor(rng.standard_normal((4, 3, 3, 3)))
    plan = F.conv_plans(np.zeros((8, 3, 6, 6)), w, padding=1)
    for n in (1, 5):
        x = cv.tensor(rng.standard_normal((n, 3, 6, 6)))
        np.testing.assert_allclose(F.conv2d(x, w, padding=1, plan=plan).data,
                                   F.conv2d(x, w, padding=1, plan="im2col_cm").data,
                                   rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match="conv2d: the plan was made for another conv"):
        F.conv2d(cv.tensor(np.zeros((2, 3, 7, 6))), w, padding=1, plan=plan)


@pytest.mark.parametrize("plan, exc, match", [
    ("fft", ValueError, "engine must be one of"),
    ("gemm1x1", ValueError, "engine 'gemm1x1' cannot run this conv"),
    ("depthwise", ValueError, "engine 'depthwise' cannot run this conv"),
    ({"engine": "winograd", "input_grad": "corr"}, ValueError, "input_grad='corr' does not"),
    ({"bogus": 1}, ValueError, "unknown plan fields"),
    (3, TypeError, "plan must be a ConvPlan, an engine name or a dict"),
])
def test_bad_plans_name_the_problem(plan, exc, match):
    x, w = cv.tensor(np.zeros((1, 4, 6, 6))), cv.tensor(np.zeros((4, 4, 3, 3)))
    if plan == {"engine": "winograd", "input_grad": "corr"}:
        pytest.importorskip("numba")
    with pytest.raises(exc, match=match):
        F.conv2d(x, w, padding=1, plan=plan)


@pytest.mark.parametrize("batch", [1, 32])
def test_winograd_is_not_planned_where_it_cannot_pay(batch):
    """On a 1x1 map a 4x4 tile makes one output from 16 products (im2col: 9), and the
    transforms come on top: Winograd cannot pay there, whatever the channels (the conv is
    cropped to its centre tap and runs as a 1x1 GEMM); on 2x2 maps with one sample per
    batch (4 tiles) it cannot either."""
    for c in (8, 64, 256, 512):
        plan = F.plan_conv((batch, c, 1, 1), (c, c, 3, 3), pads=((1, 1), (1, 1)), threads=1)
        assert plan.engine == "gemm1x1" and plan.crop == ((1, 1), (1, 1)), plan
    for c in (64, 256, 512):
        plan = F.plan_conv((1, c, 2, 2), (c, c, 3, 3), pads=((1, 1), (1, 1)), threads=1)
        assert plan.engine != "winograd", plan


def test_planner_picks_the_fast_paths_for_their_shapes():
    """Depthwise convs go to the direct engine and 1x1 convs on large maps skip im2col."""
    dw = F.plan_conv((32, 64, 16, 16), (64, 1, 3, 3), pads=((1, 1), (1, 1)), groups=64)
    assert dw.engine == "depthwise"
    one = F.plan_conv((32, 128, 16, 16), (128, 128, 1, 1), threads=1)
    assert one.engine == "gemm1x1", one


def test_summary_plan_prints_each_conv_layers_plan(capsys):
    from convolve.cli import main
    from convolve.models import get_model
    from convolve.summary import conv_plans

    model = get_model("vgg_small", (3, 32, 32), 10)
    plans = conv_plans(model, (3, 32, 32), batch=8)
    convs = [n for n, m in model.named_modules() if type(m).__name__ == "Conv2d"]
    assert [name for name, _ in plans] == convs
    modules = dict(model.named_modules())
    assert all(p.x_shape[0] == 8 and p.w_shape == modules[n].weight.shape for n, p in plans)
    assert main(["summary", "vgg_small", "--plan", "--batch", "8"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines == [f"{name}: {plan!r}" for name, plan in plans]
