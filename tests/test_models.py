"""Named models and layer-list descriptions: shapes, inferred sizes, torch equivalence,
JSON/YAML sources and clear errors."""

import json

import numpy as np
import pytest

import convolve as cv
from convolve import models, nn, zoo
from convolve.models import build_model, output_shape

SPEC = [{"type": "conv2d", "out_channels": 6, "kernel_size": 5}, {"type": "relu"},
        {"type": "maxpool2d", "kernel_size": 2}, {"type": "flatten"},
        {"type": "linear", "out_features": 10}]


def _x(shape, n=3, seed=0):
    return np.random.default_rng(seed).standard_normal((n,) + tuple(shape)).astype(np.float32)


def test_build_model_infers_sizes_from_the_input_shape():
    model = build_model(SPEC, (3, 32, 32))
    assert isinstance(model, nn.Sequential) and len(model) == 5
    assert model[0].in_channels == 3
    assert model[4].in_features == 6 * 14 * 14
    assert model.spec["input_shape"] == [3, 32, 32] and model.spec["layers"] == SPEC
    assert output_shape(model, (3, 32, 32)) == (10,)
    assert model(cv.tensor(_x((3, 32, 32)))).shape == (3, 10)


@pytest.mark.parametrize("source", ["dict", "json_text", "json_file", "yaml_file"])
def test_descriptions_from_every_source(tmp_path, source):
    spec = {"name": "tiny", "input_shape": [1, 12, 12], "layers": SPEC}
    if source == "dict":
        arg = spec
    elif source == "json_text":
        arg = json.dumps(spec)
    elif source == "json_file":
        arg = tmp_path / "m.json"
        arg.write_text(json.dumps(spec))
    else:
        import yaml  # a test dependency (convolve[cli])

        arg = tmp_path / "m.yaml"
        arg.write_text(yaml.safe_dump(spec))
    model = build_model(arg)
    assert model.spec["name"] == "tiny" and model[4].in_features == 6 * 4 * 4
    assert output_shape(model, (1, 12, 12)) == (10,)


def test_rebuilding_from_the_spec_gives_the_same_architecture():
    for model in (models.lenet5((1, 8, 8)), models.vgg_small(), models.cnn1d(),
                  models.lenet5_lc((1, 12, 12), 4)):
        again = build_model(model.spec)
        assert {k: v.shape for k, v in model.state_dict().items()} == \
            {k: v.shape for k, v in again.state_dict().items()}
        json.dumps(model.spec)  # JSON-able, so a checkpoint can store it


@pytest.mark.parametrize("shape, features", [
    ((1, 28, 28), 16 * 5 * 5),   # padding 2, the usual PyTorch LeNet
    ((1, 32, 32), 16 * 5 * 5),   # the original, unpadded
    ((1, 8, 8), 16 * 2 * 2),     # digits: 8 -> 4 -> 4 (same-padded) -> 2
    ((3, 32, 32), 16 * 5 * 5),
    ((1, 5, 5), 16 * 1 * 1),     # 5 -> 2 -> 2 -> 1
])
def test_lenet5_builds_for_each_input(shape, features):
    for build in (models.lenet5, models.lenet5_lc):
        model = build(shape, 7)
        flat = next(m for m in model if isinstance(m, nn.Linear))
        assert flat.in_features == features
        assert output_shape(model, shape) == (7,)


def test_lenet5_matches_the_pytorch_lenet(torch):
    tnn = torch.nn
    ref = tnn.Sequential(tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
                         tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
                         tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(),
                         tnn.Linear(84, 10)).double()
    model = models.lenet5().double()
    assert list(model.state_dict()) == list(ref.state_dict())
    model.load_state_dict(ref.state_dict())
    x = _x((1, 28, 28)).astype(np.float64)
    np.testing.assert_allclose(model(cv.tensor(x)).data,
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_cnn1d_is_the_mnist1d_papers_cnn(torch):
    tnn = torch.nn
    ref = tnn.Sequential(tnn.Conv1d(1, 25, 5, 2, 1), tnn.ReLU(), tnn.Conv1d(25, 25, 5, 2, 1),
                         tnn.ReLU(), tnn.Conv1d(25, 25, 5, 2, 1), tnn.ReLU(), tnn.Flatten(),
                         tnn.Linear(100, 10)).double()
    model = models.cnn1d((1, 40), 10).double()
    model.load_state_dict(ref.state_dict())
    x = _x((1, 40)).astype(np.float64)
    np.testing.assert_allclose(model(cv.tensor(x)).data,
                               ref(torch.from_numpy(x)).detach().numpy(), rtol=1e-10)


def test_other_named_models():
    assert output_shape(models.vgg_small((3, 32, 32), 10), (3, 32, 32)) == (10,)
    assert output_shape(models.vgg_small((1, 8, 8), 3), (1, 8, 8)) == (3,)
    mlp = models.mlp((1, 8, 8), 10, hidden=(32, 16))
    assert [m.out_features for m in mlp if isinstance(m, nn.Linear)] == [32, 16, 10]
    assert models.available_models() == sorted(["cnn1d", "lenet5", "lenet5_lc", "mlp",
                                                "vgg_small", *zoo.ZOO])
    assert models.get_model("lenet5", (1, 8, 8), 10).spec["name"] == "lenet5"


@pytest.mark.parametrize("spec, shape, match", [
    ([{"type": "conv2d", "out_channels": 2, "kernel_size": 3},
      {"type": "linear", "out_features": 3}], (1, 8, 8), "add .*flatten"),
    ([{"type": "warp"}], (1, 8, 8), "unknown type 'warp'"),
    ([{"out_channels": 2}], (1, 8, 8), "'type' key"),
    ([{"type": "conv2d", "out_channels": 2, "kernel_size": 3, "colour": 1}], (1, 8, 8),
     "layer 0 \\(conv2d\\)"),
    ([{"type": "conv2d", "out_channels": 2, "kernel_size": 9}], (1, 8, 8),
     "cannot take input of shape"),
    ([{"type": "flatten"}], None, "input shape is unknown"),
    ([{"type": "flatten"}], (1, 0, 8), "positive"),
])
def test_build_model_errors(spec, shape, match):
    with pytest.raises(ValueError, match=match):
        build_model(spec, shape)


def test_named_model_errors(tmp_path):
    with pytest.raises(ValueError, match="unknown model 'resnet'"):
        models.get_model("resnet", (1, 8, 8))
    with pytest.raises(ValueError, match="lenet5: input_shape must be \\(C, H, W\\)"):
        models.lenet5((1, 40))
    with pytest.raises(ValueError, match="at least 4x4"):
        models.lenet5((1, 3, 3))
    with pytest.raises(ValueError, match="cnn1d"):
        models.cnn1d((1, 8, 8))
    with pytest.raises(FileNotFoundError, match="no_such.json"):
        build_model(str(tmp_path / "no_such.json"), (1, 8, 8))
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        build_model(str(bad), (1, 8, 8))
    with pytest.raises(TypeError, match="list of layers"):
        build_model({"layer": []}, (1, 8, 8))
