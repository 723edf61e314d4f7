"""ONNX export: ONNX Runtime (CPU) reproduces convolve's outputs for the named models, seeded
random stacks over every supported layer and a table of edge-case layers; errors name the
layer; a failed export writes nothing."""

import os
import sys

import numpy as np
import pytest

import convolve as cv
from convolve import models, nn
from convolve.onnx import ExportError, export, to_onnx
from layer_stacks import build, random_stack, randomize_batch_norm

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="session")
def onnxrt():
    """onnxruntime (and onnx): skipped on a developer machine without them, FAILS under CI."""
    try:
        import onnx  # noqa: F401
        import onnxruntime
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail("onnx and onnxruntime are required in CI (pip install 'convolve[onnx]')")
        pytest.skip("onnx / onnxruntime not installed")
    return onnxruntime


def assert_runtime_matches(ort, model, input_shape, opset=17, seed=0):
    """Export, run in ONNX Runtime at batch 1 and 7, compare with convolve in eval mode."""
    model.eval()
    proto = to_onnx(model, input_shape, opset)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(proto.SerializeToString(), opts,
                                providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(seed)
    for batch in (1, 7):
        x = rng.standard_normal((batch, *input_shape)).astype(np.float32)
        with cv.no_grad():
            ours = model(cv.tensor(x)).data
        (theirs,) = sess.run(["output"], {"input": x})
        assert theirs.shape == ours.shape
        np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL)
    return proto


# ------------------------------------------------------------------------ named models
@pytest.mark.parametrize("name", [n for n in models.available_models()
                                  if not n.startswith("resnet")])  # not Sequential: no export
def test_named_models_match_onnxruntime(onnxrt, name):
    cv.manual_seed(0)
    model = models.get_model(name, input_shape=(1, 28, 28) if name == "mlp" else None)
    randomize_batch_norm(model, np.random.default_rng(1))
    assert_runtime_matches(onnxrt, model, tuple(model.spec["input_shape"]))


# -------------------------------------------------------------------- random stacks
# (seed, nd, opset): opset 19+ adds circular padding (Pad mode 'wrap'), 20+ the Gelu op.
STACKS = [(seed, nd, opset) for seed, (nd, opset) in enumerate(
    [(2, 17), (2, 19), (2, 20), (2, 13), (1, 17), (1, 19), (0, 17), (2, 18), (1, 13)] * 4)]


def stack_for(seed, nd, opset):
    modes = ("zeros", "reflect", "replicate") + (("circular",) if opset >= 19 else ())
    return random_stack(seed, nd, extra=True, modes=modes)


@pytest.mark.parametrize("seed,nd,opset", STACKS)
def test_random_stacks_match_onnxruntime(onnxrt, seed, nd, opset):
    input_shape, spec = stack_for(seed, nd, opset)
    cv.manual_seed(seed)
    model = build(nn, spec)
    randomize_batch_norm(model, np.random.default_rng(seed))
    assert_runtime_matches(onnxrt, model, input_shape, opset, seed)


def test_random_stacks_cover_every_supported_layer():
    """The sweep above really exercises every layer type the exporter translates."""
    from convolve._onnx_layers import _TRANSLATORS

    seen = set()

    def walk(spec):
        for e in spec:
            walk(e) if isinstance(e, list) else seen.add(e[0])

    for seed, nd, opset in STACKS:
        walk(stack_for(seed, nd, opset)[1])
    expected = {n for n in _TRANSLATORS if hasattr(nn, n)} - {
        "Identity", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "Dropout1d", "Dropout2d",
        "ConvTranspose1d", "ConvTranspose2d"}  # test_onnx_import.py::test_conv_transpose_*
    assert expected <= seen, f"never generated: {sorted(expected - seen)}"


# ------------------------------------------------------------------ edge-case table
def _layer(name, **kw):
    return getattr(nn, name)(**kw)


EDGE_CASES = [
    # (id, builder, input shape, opset)
    ("conv2d-same-even-kernel-dilated", lambda: nn.Sequential(
        _layer("Conv2d", in_channels=2, out_channels=4, kernel_size=(4, 2), padding="same",
               dilation=(2, 3))), (2, 9, 8), 17),
    ("conv2d-groups-reflect", lambda: nn.Sequential(
        _layer("Conv2d", in_channels=4, out_channels=6, kernel_size=3, padding=(2, 1), groups=2,
               padding_mode="reflect")), (4, 7, 6), 13),
    ("conv2d-replicate-strided", lambda: nn.Sequential(
        _layer("Conv2d", in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=2,
               padding_mode="replicate")), (3, 8, 9), 17),
    ("conv2d-circular", lambda: nn.Sequential(
        _layer("Conv2d", in_channels=1, out_channels=3, kernel_size=3, padding=(1, 2),
               padding_mode="circular")), (1, 6, 7), 19),
    ("conv1d-depthwise-circular-same", lambda: nn.Sequential(
        _layer("Conv1d", in_channels=3, out_channels=3, kernel_size=4, padding="same", groups=3,
               padding_mode="circular")), (3, 11), 21),
    ("maxpool2d-ceil-padded-dilated", lambda: nn.Sequential(
        _layer("MaxPool2d", kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=True)),
     (2, 10, 9), 17),
    ("avgpool2d-ceil-count-pad", lambda: nn.Sequential(
        _layer("AvgPool2d", kernel_size=3, stride=2, padding=1, ceil_mode=True,
               count_include_pad=True)), (2, 8, 7), 17),
    ("avgpool2d-ceil-no-count-pad", lambda: nn.Sequential(
        _layer("AvgPool2d", kernel_size=(3, 2), stride=(2, 3), padding=(1, 1), ceil_mode=True,
               count_include_pad=False)), (2, 8, 7), 17),
    ("avgpool1d-ceil-count-pad", lambda: nn.Sequential(
        _layer("AvgPool1d", kernel_size=4, stride=3, padding=2, ceil_mode=True)), (2, 10), 17),
    ("maxpool1d-ceil-overhang-beyond-kernel", lambda: nn.Sequential(
        _layer("MaxPool1d", kernel_size=2, stride=3, dilation=3, ceil_mode=True)), (2, 8), 17),
    ("maxpool1d-ceil", lambda: nn.Sequential(
        _layer("MaxPool1d", kernel_size=2, stride=2, ceil_mode=True)), (3, 9), 17),
    ("adaptive-global", lambda: nn.Sequential(
        _layer("AdaptiveAvgPool2d", output_size=1), nn.Flatten()), (3, 5, 7), 17),
    ("adaptive-dividing", lambda: nn.Sequential(
        _layer("AdaptiveAvgPool2d", output_size=(2, 7))), (3, 6, 7), 17),
    ("adaptive1d-dividing-and-global", lambda: nn.Sequential(
        _layer("AdaptiveAvgPool1d", output_size=3), _layer("AdaptiveAvgPool1d", output_size=1)),
     (2, 9), 17),
    ("blurpool-reflect", lambda: nn.Sequential(
        _layer("BlurPool2d", channels=3, kernel_size=3, stride=2)), (3, 9, 8), 17),
    ("blurpool-replicate-5", lambda: nn.Sequential(
        _layer("BlurPool2d", channels=2, kernel_size=5, stride=2, padding_mode="replicate")),
     (2, 8, 8), 17),
    ("blurpool-circular-4", lambda: nn.Sequential(
        _layer("BlurPool2d", channels=2, kernel_size=4, stride=2, padding_mode="circular")),
     (2, 7, 8), 19),
    ("lc2d-padded-strided-dilated", lambda: nn.Sequential(
        _layer("LocallyConnected2d", in_channels=2, out_channels=3, in_size=(9, 8),
               kernel_size=(3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2))),
     (2, 9, 8), 17),
    ("batchnorm-no-affine", lambda: nn.Sequential(
        nn.BatchNorm2d(3, affine=False, eps=1e-3)), (3, 4, 4), 17),
    ("gelu-op-and-formula", lambda: nn.Sequential(nn.GELU(), nn.GELU(approximate="tanh")),
     (5, 6), 20),
    ("softmax-legacy-dims", lambda: nn.Sequential(nn.Softmax(), nn.LogSoftmax(dim=-2)),
     (4, 3), 17),
    ("flatten-start-2-then-linear", lambda: nn.Sequential(
        nn.Flatten(start_dim=2), nn.Linear(12, 5), nn.ReLU()), (3, 4, 3), 17),
    ("flatten-noop-identity-dropout", lambda: nn.Sequential(
        nn.Flatten(1, 1), nn.Identity(), nn.Dropout(0.5)), (4,), 17),
    ("empty-sequential", lambda: nn.Sequential(), (2, 3), 17),
    ("bare-linear", lambda: nn.Linear(4, 3), (4,), 17),
]


@pytest.mark.filterwarnings("ignore:softmax. implicit dimension")  # the legacy-dim case
@pytest.mark.parametrize("build_model,input_shape,opset",
                         [c[1:] for c in EDGE_CASES], ids=[c[0] for c in EDGE_CASES])
def test_edge_cases_match_onnxruntime(onnxrt, build_model, input_shape, opset):
    cv.manual_seed(0)
    model = build_model()
    randomize_batch_norm(model, np.random.default_rng(0))
    assert_runtime_matches(onnxrt, model, input_shape, opset)


def test_pool_sweep_matches_onnxruntime(onnxrt):
    """120 random 1-D/2-D max/avg pools (ceil_mode, padding, dilation, count_include_pad)."""
    rng = np.random.default_rng(7)
    checked = 0
    while checked < 120:
        nd, k = int(rng.integers(1, 3)), int(rng.integers(1, 5))
        kw = {"kernel_size": k, "stride": int(rng.integers(1, 4)),
              "padding": int(rng.integers(0, k // 2 + 1)), "ceil_mode": bool(rng.random() < 0.7)}
        if rng.random() < 0.5:
            layer = _layer(f"MaxPool{nd}d", dilation=int(rng.integers(1, 4)), **kw)
        else:
            layer = _layer(f"AvgPool{nd}d", count_include_pad=bool(rng.random() < 0.5), **kw)
        shape = (2, *(int(v) for v in rng.integers(3, 12, size=nd)))
        try:
            to_onnx(nn.Sequential(layer), shape, check=False)
        except ExportError:  # the window does not fit this input; draw again
            continue
        assert_runtime_matches(onnxrt, nn.Sequential(layer), shape, seed=checked)
        checked += 1


# ---------------------------------------------------------------------- graph facts
def test_written_file_is_valid_with_dynamic_batch(onnxrt, tmp_path):
    import onnx

    model = models.get_model("cnn1d")
    path = export(model, (1, 40), tmp_path / "cnn1d.onnx", opset=17)
    proto = onnx.load(path)
    onnx.checker.check_model(proto, full_check=True)
    assert proto.opset_import[0].version == 17
    (inp,), (out,) = proto.graph.input, proto.graph.output
    in_dims = [d.dim_param or d.dim_value for d in inp.type.tensor_type.shape.dim]
    out_dims = [d.dim_param or d.dim_value for d in out.type.tensor_type.shape.dim]
    assert (inp.name, in_dims) == ("input", ["N", 1, 40])
    assert (out.name, out_dims) == ("output", ["N", 10])
    assert {n.op_type for n in proto.graph.node} <= {"Conv", "Relu", "Flatten", "Gemm"}


def test_batch_norm_and_dropout_export_inference_mode_and_keep_training_flag(onnxrt):
    model = nn.Sequential(nn.Linear(4, 3), nn.BatchNorm1d(3), nn.Dropout(0.9))
    randomize_batch_norm(model, np.random.default_rng(0))
    before = model[1].running_mean.data.copy()
    proto = to_onnx(model, (4,))
    assert model.training and all(m.training for m in model.modules())
    np.testing.assert_array_equal(model[1].running_mean.data, before)
    ops = [n.op_type for n in proto.graph.node]
    assert ops == ["Gemm", "BatchNormalization", "Identity"]


def test_float64_model_exports_as_float32_graph(onnxrt):
    cv.manual_seed(0)
    model = models.get_model("lenet5_lc", input_shape=(1, 12, 12)).double().eval()
    proto = to_onnx(model, (1, 12, 12))
    from onnx import TensorProto

    types = {t.data_type for t in proto.graph.initializer}
    assert types == {TensorProto.FLOAT, TensorProto.INT64}  # weights; shapes
    sess = onnxrt.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((3, 1, 12, 12))
    with cv.no_grad():
        expected = model(cv.tensor(x)).data
    (got,) = sess.run(["output"], {"input": x.astype(np.float32)})
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


# ---------------------------------------------------------------------------- errors
class Doubler(nn.Module):
    def forward(self, x):
        return x * 2


def test_unsupported_layer_is_named(onnxrt):
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 4), nn.ReLU(), Doubler())
    with pytest.raises(ExportError, match=r"export: layer 3 \(Doubler\) is not supported for ONNX"):
        to_onnx(model, (4,))
    nested = nn.Sequential(nn.Linear(4, 4), nn.Sequential(nn.ReLU(), Doubler()))
    with pytest.raises(ExportError, match=r"layer 1\.1 \(Doubler\)"):
        to_onnx(nested, (4,))


def test_circular_padding_needs_opset_19(onnxrt):
    model = nn.Sequential(_layer("Conv2d", in_channels=1, out_channels=1, kernel_size=3,
                                 padding=1, padding_mode="circular"))
    with pytest.raises(ExportError, match=r"layer 0 \(Conv2d\).*'circular'.*opset >= 19.*17"):
        to_onnx(model, (1, 5, 5), opset=17)
    to_onnx(model, (1, 5, 5), opset=19)


@pytest.mark.parametrize("layer,shape,match", [
    (lambda: _layer("AdaptiveAvgPool2d", output_size=(2, 3)), (1, 5, 6), "does not divide"),
    (lambda: nn.BatchNorm2d(2, track_running_stats=False), (2, 3, 3), "track_running_stats"),
    (lambda: _layer("MaxPool2d", kernel_size=2, return_indices=True), (1, 4, 4),
     "return_indices"),
    (lambda: _layer("AvgPool2d", kernel_size=2, divisor_override=3), (1, 4, 4),
     "divisor_override"),
    (lambda: nn.Flatten(0), (2, 3), "batch"),
])
def test_inexpressible_settings_are_named(onnxrt, layer, shape, match):
    with pytest.raises(ExportError, match=match):
        to_onnx(nn.Sequential(nn.Identity(), layer()), shape)


@pytest.mark.parametrize("kwargs,match", [
    ({"input_shape": (3, 0)}, "input_shape"), ({"input_shape": "1x28x28"}, "input_shape"),
    ({"opset": 12}, "opset"), ({"opset": 10_000}, "opset"), ({"opset": 17.0}, "opset"),
])
def test_bad_arguments(onnxrt, kwargs, match):
    args = {"model": nn.Sequential(nn.Linear(3, 2)), "input_shape": (3,), "opset": 17} | kwargs
    with pytest.raises(ValueError, match=match):
        to_onnx(**args)
    with pytest.raises(TypeError, match="convolve.nn.Module"):
        to_onnx(lambda x: x, (3,))


def test_input_shape_the_model_rejects_names_the_layer(onnxrt):
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    with pytest.raises(ExportError, match=r"layer 1 \(Linear\) rejects input of shape"):
        to_onnx(model, (1, 8, 8))


def test_failed_export_leaves_existing_file_untouched(onnxrt, tmp_path):
    path = tmp_path / "model.onnx"
    export(nn.Sequential(nn.Linear(3, 2)), (3,), path)
    umask = os.umask(0)
    os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    before = path.read_bytes()
    for bad in (nn.Sequential(nn.Linear(3, 2), Doubler()),  # unsupported layer
                nn.Sequential(nn.Linear(5, 2))):  # wrong input shape
        with pytest.raises(ExportError):
            export(bad, (3,), path)
        assert path.read_bytes() == before
        assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]
    with pytest.raises(ExportError):
        export(nn.Sequential(Doubler()), (3,), tmp_path / "new.onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.onnx"]


def test_missing_onnx_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(ImportError, match=r"convolve\[onnx\]"):
        to_onnx(nn.Sequential(nn.Linear(3, 2)), (3,))


# ----------------------------------------------------------------------------- CLI
def test_cli_export_writes_a_model_that_matches(onnxrt, tmp_path, capsys):
    from convolve.cli import main
    from convolve.io import save_checkpoint

    cv.manual_seed(0)
    model = models.get_model("mlp", input_shape=(1, 8, 8), hidden=(16,))
    ckpt = save_checkpoint(tmp_path / "run.safetensors", model)
    out = tmp_path / "mlp.onnx"
    assert main(["export", str(ckpt), str(out), "--opset", "18"]) == 0
    assert "wrote" in capsys.readouterr().out
    sess = onnxrt.InferenceSession(out.read_bytes(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((7, 1, 8, 8)).astype(np.float32)
    with cv.no_grad():
        expected = model.eval()(cv.tensor(x)).data
    np.testing.assert_allclose(sess.run(["output"], {"input": x})[0], expected,
                               rtol=RTOL, atol=ATOL)
    # an explicit input shape that the model cannot take: one-line error, file untouched
    before = out.read_bytes()
    assert main(["export", str(ckpt), str(out), "--input-shape", "1x9x9"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: export: layer 1 (Linear)") and err.count("\n") == 1
    assert out.read_bytes() == before
    assert main(["export", str(tmp_path / "missing.safetensors"), str(out)]) == 1
    assert "no such checkpoint" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mlp.onnx", "run.safetensors"]
