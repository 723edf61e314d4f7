"""ONNX import: convolve -> ONNX -> convolve round trips, torch.onnx.export -> convolve for
LeNet-5, the CIFAR net and a torch.nn ResNet-18, training through an imported model
(gradients against torch in float64), and hostile or malformed files."""

import io
import json
import os

import numpy as np
import pytest

import convolve as cv
from convolve import interop, models, nn
from convolve.onnx import OnnxImportError, load, to_onnx
from layer_stacks import build, randomize_batch_norm
from test_onnx import STACKS, stack_for

if not os.environ.get("CI"):  # under CI a missing onnx fails the import below
    pytest.importorskip("onnx")
import onnx
from onnx import TensorProto, helper

RTOL, ATOL = 1e-4, 1e-5  # ONNX Runtime's tolerance (float32)


def run(module, x):
    with cv.no_grad():
        return module(x).data


# ---------------------------------------------------------------- convolve round trip
@pytest.mark.parametrize("name", [n for n in models.available_models()
                                  if not n.startswith("resnet")])  # not Sequential: no export
def test_named_models_round_trip(name):
    cv.manual_seed(0)
    model = models.get_model(name, input_shape=(1, 28, 28) if name == "mlp" else None)
    randomize_batch_norm(model, np.random.default_rng(1))
    shape = tuple(model.spec["input_shape"])
    back = load(to_onnx(model.eval(), shape))
    x = np.random.default_rng(2).standard_normal((3, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(back, x), run(model, cv.tensor(x)), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed,nd,opset", STACKS)
def test_random_stacks_round_trip(seed, nd, opset):
    input_shape, spec = stack_for(seed, nd, opset)
    cv.manual_seed(seed)
    model = build(nn, spec)
    randomize_batch_norm(model, np.random.default_rng(seed))
    back = load(to_onnx(model.eval(), input_shape, opset).SerializeToString())
    x = np.random.default_rng(seed).standard_normal((4, *input_shape)).astype(np.float32)
    np.testing.assert_allclose(run(back, x), run(model, cv.tensor(x)), rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------- torch -> convolve
def _basic_block(tnn, cin, cout, stride):
    class Block(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(cin, cout, 3, stride, 1, bias=False)
            self.bn1, self.relu = tnn.BatchNorm2d(cout), tnn.ReLU()
            self.conv2 = tnn.Conv2d(cout, cout, 3, 1, 1, bias=False)
            self.bn2 = tnn.BatchNorm2d(cout)
            self.down = tnn.Sequential(tnn.Conv2d(cin, cout, 1, stride, bias=False),
                                       tnn.BatchNorm2d(cout)) if stride != 1 or cin != cout \
                else tnn.Identity()

        def forward(self, x):
            y = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
            return self.relu(y + self.down(x))
    return Block()


def resnet18(tnn, classes=10):
    """torchvision's ResNet-18 layout built from torch.nn (torchvision is not a dependency)."""
    layers = [tnn.Conv2d(3, 64, 7, 2, 3, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(),
              tnn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [_basic_block(tnn, cin, cout, stride), _basic_block(tnn, cout, cout, 1)]
        cin = cout
    return tnn.Sequential(*layers, tnn.AdaptiveAvgPool2d(1), tnn.Flatten(),
                          tnn.Linear(512, classes))


def torch_model(torch, name):
    torch.manual_seed(0)
    if name == "resnet18":
        return resnet18(torch.nn), (3, 64, 64)
    model = models.get_model(name)
    return interop.to_torch(model), tuple(model.spec["input_shape"])


def export_torch(torch, model, shape, dtype=None):
    buf = io.BytesIO()
    x = torch.zeros((2, *shape), dtype=dtype or torch.float32)
    torch.onnx.export(model, (x,), buf, dynamo=False, input_names=["input"],
                      output_names=["output"], dynamic_axes={"input": {0: "N"}})
    return buf.getvalue()


@pytest.mark.parametrize("name", ["lenet5", "vgg_small", "resnet18"])
def test_torch_exports_load_and_match(torch, name):
    model, shape = torch_model(torch, name)
    randomize_batch_norm(model, np.random.default_rng(3))
    model.eval()
    ours = load(export_torch(torch, model, shape))
    x = np.random.default_rng(4).standard_normal((3, *shape)).astype(np.float32)
    with torch.no_grad():
        expected = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(run(ours, x), expected, rtol=RTOL, atol=ATOL)


def test_imported_model_trains_with_torch_gradients(torch):
    """float64: one SGD step; every Parameter's gradient equals torch's for the same graph."""
    model, shape = torch_model(torch, "lenet5")
    model = model.double().train()
    ours = load(export_torch(torch, model.eval(), shape, torch.float64)).train()
    model.train()
    names = dict(ours.named_parameters())
    assert len(names) == len(list(model.parameters()))
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((4, *shape)), rng.integers(0, 10, 4)
    torch.nn.functional.cross_entropy(model(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    loss = cv.nn.functional.cross_entropy(ours(x), y)
    loss.backward()
    for tname, p in model.named_parameters():
        ours_p = names[ours.initializer_names[tname]]
        np.testing.assert_allclose(ours_p.grad, p.grad.numpy(), rtol=1e-9, atol=1e-12)
    before = {k: v.data.copy() for k, v in names.items()}
    cv.optim.SGD(ours.parameters(), lr=0.1).step()
    assert all(not np.array_equal(before[k], v.data) for k, v in names.items())


def test_constants_stay_buffers():
    model = build(nn, [("Conv2d", {"in_channels": 1, "out_channels": 2, "kernel_size": 3}),
                       ("BatchNorm2d", {"num_features": 2}), ("Flatten", {}),
                       ("Linear", {"in_features": 72, "out_features": 3})])
    ours = load(to_onnx(model.eval(), (1, 8, 8)))
    assert len(list(ours.parameters())) == 6  # conv w, b; bn scale, bias; linear w, b
    assert {b.data.dtype.kind for b in ours.buffers()} >= {"f"}  # running mean/var
    assert not ours.training


# ------------------------------------------------------------------- hostile and malformed
def _graph(nodes, inits=(), inputs=("x",), outputs=("y",), shape=(1, 4)):
    g = helper.make_graph(
        nodes, "g", [helper.make_tensor_value_info(i, TensorProto.FLOAT, shape) for i in inputs],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
        initializer=list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])


def _one_line(err):
    msg = str(err.value)
    assert "\n" not in msg
    return msg


def test_unsupported_operator_is_named():
    m = _graph([helper.make_node("Relu", ["x"], ["h"], name="ok"),
                helper.make_node("Hardmax", ["h"], ["y"], name="hm")])
    with pytest.raises(OnnxImportError) as err:
        load(m)
    msg = _one_line(err)
    assert "node 1" in msg and "'hm'" in msg and "Hardmax" in msg


def test_cyclic_graph_is_rejected():
    m = _graph([helper.make_node("Relu", ["y"], ["h"], name="a"),
                helper.make_node("Relu", ["h"], ["y"], name="b")])
    with pytest.raises(OnnxImportError, match="cycle") as err:
        load(m)
    _one_line(err)


def test_truncated_file_is_rejected(tmp_path):
    data = to_onnx(models.lenet5().eval(), (1, 28, 28)).SerializeToString()
    path = tmp_path / "cut.onnx"
    for cut in (len(data) // 2, len(data) - 3, 7):
        path.write_bytes(data[:cut])
        with pytest.raises(OnnxImportError) as err:
            load(path)
        assert str(path) in _one_line(err) or "model" in str(err.value)


def test_huge_declared_initializer_is_rejected_before_allocating():
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[1 << 20, 1 << 20])
    t.raw_data = b"\0" * 16
    m = _graph([helper.make_node("Add", ["x", "w"], ["y"])], inits=[t])
    with pytest.raises(OnnxImportError, match="over the cap") as err:
        load(m)
    _one_line(err)
    small = helper.make_tensor("w", TensorProto.FLOAT, [4, 4], [0.0] * 15 + [1.0])
    small.ClearField("float_data")
    small.raw_data = b"\0" * 8  # declares 16 floats, holds 2
    with pytest.raises(OnnxImportError, match="holds 8 bytes"):
        load(_graph([helper.make_node("Add", ["x", "w"], ["y"])], inits=[small]))


def test_huge_shape_value_is_rejected_at_run_time():
    shape = helper.make_tensor("s", TensorProto.INT64, [2], [1 << 30, 1 << 30])
    m = _graph([helper.make_node("ConstantOfShape", ["s"], ["y"])], inits=[shape])
    with pytest.raises(ValueError, match="ConstantOfShape") as err:
        load(m)(np.zeros((1, 4), np.float32))
    _one_line(err)


def test_caps_on_file_size_and_node_count(tmp_path):
    m = _graph([helper.make_node("Relu", ["x"], ["y"])])
    path = tmp_path / "m.onnx"
    path.write_bytes(m.SerializeToString())
    with pytest.raises(OnnxImportError, match="over the cap"):
        load(path, max_bytes=8)
    with pytest.raises(OnnxImportError, match="nodes, over the cap"):
        load(m, max_nodes=0)
    np.testing.assert_array_equal(run(load(path), np.array([[-1, 2, -3, 4]], np.float32)),
                                  [[0, 2, 0, 4]])


@pytest.fixture(scope="module")
def ort():
    """onnxruntime: skipped on a developer machine without it, an ImportError under CI."""
    if not os.environ.get("CI"):
        pytest.importorskip("onnxruntime")
    import onnxruntime

    return onnxruntime


@pytest.mark.parametrize("nd", [1, 2])
def test_conv_transpose_exports_to_onnxruntime_and_back(ort, nd):
    from test_onnx import assert_runtime_matches

    cv.manual_seed(nd)
    model = nn.Sequential(
        getattr(nn, f"ConvTranspose{nd}d")(4, 6, 3, stride=2, padding=1, output_padding=1,
                                          groups=2, dilation=1),
        nn.ReLU(), getattr(nn, f"ConvTranspose{nd}d")(6, 2, 2, stride=3, bias=False,
                                                      dilation=2), nn.Flatten())
    shape = (4, *(5,) * nd)
    proto = assert_runtime_matches(ort, model, shape)
    x = np.random.default_rng(0).standard_normal((2, *shape)).astype(np.float32)
    np.testing.assert_allclose(run(load(proto), x), run(model, cv.tensor(x)), rtol=1e-5,
                               atol=1e-6)


def test_cli_summary_and_eval_on_an_onnx_model(tmp_path, capsys):
    from convolve.cli import _load_split, main
    from convolve.onnx import export
    from convolve.train import evaluate

    cv.manual_seed(0)
    model = models.lenet5().eval()
    path = export(model, (1, 28, 28), tmp_path / "lenet.onnx")
    assert main(["summary", str(path), "--json"]) == 0
    s = json.loads(capsys.readouterr().out)
    assert s["total_params"] == sum(p.data.size for p in model.parameters())
    assert main(["eval", str(path), "--data", "mnist5k", "--limit", "64", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    split = _load_split("mnist5k", 64)
    want = evaluate(model, (split.x_test, split.y_test), batch_size=256)
    assert got["accuracy"] == want["accuracy"]
    assert abs(got["loss"] - want["loss"]) <= 1e-6 * abs(want["loss"])
    assert main(["eval", str(path)]) != 0  # no --data: one-line error
    assert "pass --data" in capsys.readouterr().err


def test_selection_ops_backward_matches_torch(torch):
    """Where, Max, Min and GatherElements (used by expanded ONNX functions) in float64."""
    d = TensorProto.DOUBLE
    nodes = [helper.make_node("Greater", ["a", "b"], ["m"]),
             helper.make_node("Where", ["m", "a", "b"], ["w"]),
             helper.make_node("Max", ["w", "b", "c"], ["mx"]),
             helper.make_node("Min", ["mx", "a"], ["mn"]),
             helper.make_node("GatherElements", ["mn", "idx"], ["y"], axis=1)]
    idx = helper.make_tensor("idx", TensorProto.INT64, [3, 5],
                             np.random.default_rng(0).integers(-4, 4, 15).tolist())
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info(n, d, [3, 4])
                                       for n in "abc"],
                          [helper.make_tensor_value_info("y", d, None)], initializer=[idx])
    ours = load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((3, 4)) for _ in range(3)]
    gy = rng.standard_normal((3, 5))
    cx = [cv.tensor(x, requires_grad=True) for x in xs]
    ours(*cx).backward(gy)
    ta, tb, tc = (torch.tensor(x, requires_grad=True) for x in xs)
    ti = torch.tensor(onnx.numpy_helper.to_array(idx) % 4)
    w = torch.where(ta > tb, ta, tb)
    ty = torch.gather(torch.minimum(torch.maximum(torch.maximum(w, tb), tc), ta), 1, ti)
    ty.backward(torch.tensor(gy))
    for ours_x, theirs in zip(cx, (ta, tb, tc)):
        np.testing.assert_allclose(ours_x.grad, theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("node", [
    helper.make_node("Pad", ["x", "p"], ["y"]),
    helper.make_node("MaxPool", ["x4"], ["y"], kernel_shape=[1, 1], pads=[0, 0, 1 << 30, 7]),
    helper.make_node("ConvTranspose", ["x4", "w"], ["y"], strides=[1 << 20, 1 << 20])])
def test_huge_padding_or_stride_is_rejected_before_allocating(node):
    p = helper.make_tensor("p", TensorProto.INT64, [4], [0, 1 << 30, 0, 1 << 30])
    w = helper.make_tensor("w", TensorProto.FLOAT, [1, 1, 1, 1], [1.0])
    g = helper.make_graph([helper.make_node("Reshape", ["x", "s"], ["x4"]), node], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                          initializer=[p, w, helper.make_tensor("s", TensorProto.INT64, [4],
                                                                [1, 1, 2, 2])])
    model = load(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]))
    with pytest.raises(ValueError, match="over 268435456 elements") as err:
        model(np.ones((1, 4), np.float32))
    _one_line(err)


def test_corrupted_bytes_give_one_line_value_errors():
    """Seeded byte flips in a LeNet-5 file: each load+run succeeds or raises a one-line
    ValueError (never another exception type)."""
    data = to_onnx(models.lenet5().eval(), (1, 28, 28)).SerializeToString()
    rng = np.random.default_rng(0)
    for _ in range(60):
        d = bytearray(data)
        for _ in range(int(rng.integers(1, 6))):
            d[int(rng.integers(0, len(d) if rng.random() < 0.3 else 400))] = \
                int(rng.integers(0, 256))
        try:
            run(load(bytes(d)), np.zeros((1, 1, 28, 28), np.float32))
        except ValueError as err:
            assert "\n" not in str(err)
