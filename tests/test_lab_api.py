"""The lab page's HTTP endpoints (``convolve lab``): every endpoint, every bad input, the
parameter formulas against built layers, saving and loading the models, the command."""

import json
import re

import numpy as np
import pytest

from convolve import nn
from convolve.lab.models import IMAGE_MODELS
from convolve.lab.params import layer_formulas
from convolve.live.lab import LabState, load_models, save_models
from convolve.live.lab_app import MAX_BODY, serve_lab
from convolve.tensor import Tensor
from lab_page_support import get_json, http, trained_state


@pytest.fixture(scope="module")
def lab():
    state = trained_state()
    with serve_lab(state) as server:
        yield server.url, state


def naive_shift(img: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """out[c, i, j] = img[c, i - dy, j - dx], zero outside (a loop: the reference)."""
    out = np.zeros_like(img)
    _, h, w = img.shape
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[:, i, j] = img[:, i - dy, j - dx]
    return out


def softmax(z):
    e = np.exp(z - z.max())
    return e / e.sum()


def test_the_page_and_its_assets_obey_the_csp(lab):
    url, _ = lab
    status, headers, body = http(url)
    html = body.decode()
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>", html)
    assert scripts and all('src="/static/lab' in s for s in scripts)  # none inline
    assert "<style" not in html and "style=" not in html and "http" not in html
    for name in re.findall(r'(?:src|href)="/static/([^"]+)"', html):
        status, headers, asset = http(url + "static/" + name)
        assert status == 200 and asset, name
        text = asset.decode().replace('"http://www.w3.org/2000/svg"', "")  # a name, not a URL
        assert "http://" not in text and "https://" not in text, name


def test_state_has_finished_histories(lab):
    url, state = lab
    s = get_json(url + "api/state")
    assert s["status"] == "finished" and s["ready"] == list(IMAGE_MODELS)
    assert set(s["history"]) == set(IMAGE_MODELS)
    for name in IMAGE_MODELS:
        hist = s["history"][name]
        assert [e["epoch"] for e in hist] == list(range(1, len(hist) + 1)) and hist
        assert all(np.isfinite(e["loss"]) and 0 <= e["val_accuracy"] <= 1 for e in hist)
        built = sum(p.numel() for p in state.models[name].parameters())
        assert s["models"][name]["params"] == built


def test_models_and_test_images(lab):
    url, state = lab
    m = get_json(url + "api/models")
    assert m["input_shape"] == [1, 8, 8] and m["test_count"] == len(state.split.y_test)
    assert [x["name"] for x in m["models"]] == list(IMAGE_MODELS)
    assert {x["name"] for x in m["models"] if x["feature_maps"]} == {"lc", "cnn", "cnn_blur"}
    assert m["max_shift"] == 4 and m["classes"] == [str(k) for k in range(10)]
    for index in (0, 17, m["test_count"] - 1):
        t = get_json(url + f"api/test-image?index={index}")
        assert t["label"] == int(state.split.y_test[index])
        np.testing.assert_allclose(t["pixels"], state.split.x_test[index][0], atol=5e-5)


@pytest.mark.parametrize("dx,dy", [(0, 0), (2, -1), (-4, 3)])
def test_predict_a_shifted_test_image(lab, dx, dy):
    url, state = lab
    index = 11
    r = get_json(url + "api/predict", {"index": index, "dx": dx, "dy": dy})
    x = naive_shift(np.asarray(state.split.x_test[index], dtype=np.float32), dy, dx)
    np.testing.assert_allclose(r["input"], x[0], atol=5e-5)
    assert set(r["models"]) == set(IMAGE_MODELS) and r["pending"] == []
    for name, model in state.models.items():
        expected = softmax(np.asarray(model(Tensor(x[None])).data, dtype=np.float64)[0])
        np.testing.assert_allclose(r["models"][name]["probs"], expected, rtol=1e-6, atol=1e-9)
        assert r["models"][name]["pred"] == int(expected.argmax())
    assert "feature_maps" not in r


def test_predict_posted_pixels_equals_predict_by_index(lab):
    url, state = lab
    x = np.asarray(state.split.x_test[5][0], dtype=np.float64)
    by_pixels = get_json(url + "api/predict", {"pixels": x.tolist(), "dx": 1})
    by_pixels_3d = get_json(url + "api/predict", {"pixels": x[None].tolist(), "dx": 1})
    by_index = get_json(url + "api/predict", {"index": 5, "dx": 1})
    for name in IMAGE_MODELS:
        for other in (by_pixels_3d, by_index):
            np.testing.assert_allclose(by_pixels["models"][name]["probs"],
                                       other["models"][name]["probs"], rtol=1e-6)


def naive_conv_relu(x, weight, bias, pad):
    """ReLU of a zero-padded 2-D cross-correlation, as loops: (C, H, W) -> (F, H', W')."""
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    f, _, k, _ = weight.shape
    h, w = xp.shape[1] - k + 1, xp.shape[2] - k + 1
    out = np.zeros((f, h, w))
    for o in range(f):
        for i in range(h):
            for j in range(w):
                out[o, i, j] = np.sum(xp[:, i:i + k, j:j + k] * weight[o]) + bias[o]
    return np.maximum(out, 0)


def test_feature_maps_are_the_first_conv_layer_and_move_with_the_image(lab):
    url, state = lab
    r0 = get_json(url + "api/predict", {"index": 3, "maps": True})
    r1 = get_json(url + "api/predict", {"index": 3, "dx": 1, "maps": True})
    assert set(r0["feature_maps"]) == {"lc", "cnn", "cnn_blur"}
    conv = state.models["cnn"][0]
    x = np.asarray(state.split.x_test[3], dtype=np.float64)
    expected = naive_conv_relu(x, np.asarray(conv.weight.data, np.float64),
                               np.asarray(conv.bias.data, np.float64), 2)
    assert r0["feature_maps"]["cnn"]["layer"] == "Conv2d"
    np.testing.assert_allclose(r0["feature_maps"]["cnn"]["maps"], expected, atol=1e-4)
    # shift 1 px right: columns 3..5 of the conv maps are columns 2..4 before (their 5x5
    # windows see neither the zero fill nor the padding); the locally-connected layer has
    # other weights at every position, so its maps do not follow.
    a, b = (np.asarray(r["feature_maps"]["cnn"]["maps"]) for r in (r1, r0))
    np.testing.assert_allclose(a[:, :, 3:6], b[:, :, 2:5], atol=2e-4)
    a, b = (np.asarray(r["feature_maps"]["lc"]["maps"]) for r in (r1, r0))
    assert np.abs(a[:, :, 3:6] - b[:, :, 2:5]).max() > 1e-2


def test_shift_curve_is_the_label_probability_under_each_shift(lab):
    url, state = lab
    index = 4
    label = int(state.split.y_test[index])
    r = get_json(url + f"api/shift-curve?index={index}")
    assert r["shifts"] == list(range(-4, 5)) and r["label"] == label and r["index"] == index
    for axis in ("dx", "dy"):
        assert set(r[axis]) == set(IMAGE_MODELS)
        for s in (-3, 0, 2):
            p = get_json(url + "api/predict", {"index": index, axis: s})
            for name in IMAGE_MODELS:
                # one batch against single images: float32 sums in another order
                np.testing.assert_allclose(r[axis][name][s + 4],
                                           p["models"][name]["probs"][label], rtol=1e-4,
                                           atol=1e-7)


GOOD = np.zeros((8, 8)).tolist()


@pytest.mark.parametrize("body,status", [
    (b"{not json", 400),
    (b"\xff\xfe", 400),
    (b"[" * 100_000, 400),                          # nested too deeply to parse
    (b"x" * (MAX_BODY + 1), 413),
    (b"[1, 2]", 422),
    (b"{}", 422),                                   # neither pixels nor index
    ({"pixels": GOOD, "index": 0}, 422),            # both
    ({"index": 0, "bogus": 1}, 422),
    ({"pixels": np.zeros((7, 8)).tolist()}, 422),
    ({"pixels": np.zeros((28, 28)).tolist()}, 422),
    ({"pixels": np.zeros((2, 8, 8)).tolist()}, 422),
    ({"pixels": GOOD[:7] + [[0.0] * 7]}, 422),      # ragged
    ({"pixels": [["a"] * 8] * 8}, 422),
    ({"pixels": [[None] * 8] * 8}, 422),
    ({"pixels": [[True] * 8] * 8}, 422),
    ({"pixels": 0.5}, 422),
    ({"pixels": [[1.5] * 8] * 8}, 422),
    ({"pixels": [[-0.1] * 8] * 8}, 422),
    (b'{"pixels": [' + b",".join([b"[" + b",".join([b"NaN"] * 8) + b"]"] * 8) + b"]}", 422),
    (b'{"pixels": [' + b",".join([b"[" + b",".join([b"1e999"] * 8) + b"]"] * 8) + b"]}", 422),
    ({"index": -1}, 422),
    ({"index": 359}, 422),
    ({"index": "3"}, 422),
    ({"index": 2.0}, 422),
    ({"index": True}, 422),
    ({"index": 0, "dx": 5}, 422),
    ({"index": 0, "dy": -5}, 422),
    ({"index": 0, "dx": 1.5}, 422),
    ({"index": 0, "dy": "1"}, 422),
    ({"index": 0, "maps": "yes"}, 422),
])
def test_bad_predict_input_gets_a_clear_json_error(lab, body, status):
    url, _ = lab
    got, headers, raw = http(url + "api/predict", body, "POST")
    assert got == status, raw[:200]
    assert headers["Content-Type"] == "application/json"
    message = json.loads(raw)["error"]
    assert isinstance(message, str) and message and "\n" not in message


@pytest.mark.parametrize("path,method,status", [
    ("api/test-image", "GET", 400),
    ("api/test-image?index=abc", "GET", 400),
    ("api/test-image?index=-1", "GET", 422),
    ("api/test-image?index=359", "GET", 422),
    ("api/shift-curve", "GET", 400),
    ("api/shift-curve?index=1.5", "GET", 400),
    ("api/shift-curve?index=359", "GET", 422),
    ("api/params?n=x", "GET", 400),
    ("api/params?n=0", "GET", 422),
    ("api/params?n=4&k=5", "GET", 422),
    ("api/params?c_out=5000", "GET", 422),
    ("api/predict", "GET", 405),
    ("api/state", "POST", 405),
])
def test_bad_queries_get_a_clear_json_error(lab, path, method, status):
    url, _ = lab
    got, _, raw = http(url + path, b"{}" if method == "POST" else None, method)
    assert got == status and json.loads(raw)["error"]


# sizes not used anywhere else (nor tuned): n, c_in, c_out, k
SIZES = [(9, 2, 4, 3), (13, 1, 3, 5), (20, 5, 7, 4), (11, 3, 2, 1), (6, 4, 5, 6)]


@pytest.mark.parametrize("n,c_in,c_out,k", SIZES)
def test_params_endpoint_matches_lab_params_and_built_layers(lab, n, c_in, c_out, k):
    url, _ = lab
    r = get_json(url + f"api/params?n={n}&c_in={c_in}&c_out={c_out}&k={k}")
    m = n - k + 1
    assert r["input"] == [c_in, n, n] and r["output"] == [c_out, m, m]
    formulas = layer_formulas(n, c_in, c_out, k)
    layers = {"dense": nn.Linear(c_in * n * n, c_out * m * m),
              "locally_connected": nn.LocallyConnected2d(c_in, c_out, (n, n), k),
              "conv": nn.Conv2d(c_in, c_out, k)}
    for kind, layer in layers.items():
        assert r[kind] == formulas[kind] == sum(p.numel() for p in layer.parameters()), kind
    x = Tensor(np.zeros((1, c_in, n, n), np.float32))
    assert layers["conv"](x).shape == (1, c_out, m, m)
    assert layers["locally_connected"](x).shape == (1, c_out, m, m)


def test_params_defaults_are_the_seeds_example(lab):
    url, _ = lab
    r = get_json(url + "api/params")
    assert (r["n"], r["c_in"], r["c_out"], r["k"]) == (32, 3, 6, 5)
    assert r["conv"] == 6 * 3 * 5 * 5 + 6 and r["dense"] == (3 * 32 * 32 + 1) * 6 * 28 * 28


def test_nothing_to_predict_before_training(lab):
    state = trained_state()
    fresh = LabState(state.split, state.info)
    with serve_lab(fresh) as server:
        s = get_json(server.url + "api/state")
        assert s["status"] == "running" and s["ready"] == []
        assert s["history"] == {n: [] for n in IMAGE_MODELS}
        got, _, raw = http(server.url + "api/predict", {"index": 0}, "POST")
        assert got == 503 and "trained" in json.loads(raw)["error"]
        got, _, raw = http(server.url + "api/shift-curve?index=0")
        assert got == 503 and "trained" in json.loads(raw)["error"]


def test_a_diverged_loss_is_null_in_the_state():
    state = trained_state()
    fresh = LabState(state.split, state.info)
    fresh.log_epoch("cnn", {"epoch": 1, "loss": float("nan"), "accuracy": 0.1,
                            "val_loss": float("inf"), "val_accuracy": 0.1, "seconds": 1.0})
    entry = json.loads(json.dumps(fresh.snapshot(), allow_nan=False))["history"]["cnn"][0]
    assert entry["loss"] is None and entry["val_loss"] is None and entry["accuracy"] == 0.1


def test_saved_models_load_back_and_predict_alike(tmp_path):
    state = trained_state()
    save_models(state, tmp_path, {"epochs": 2})
    again = LabState(state.split, state.info)
    ok, source = load_models(again, tmp_path)
    assert ok and again.status == "finished" and str(tmp_path) in source
    assert again.history == state.history
    for name in IMAGE_MODELS:
        assert again.meta[name]["test_accuracy"] == state.meta[name]["test_accuracy"]
        np.testing.assert_array_equal(again.predict(state.x_test[7], 1, 1)["models"][name]
                                      ["probs"], state.predict(state.x_test[7], 1, 1)
                                      ["models"][name]["probs"])


def test_saved_models_of_other_data_or_damaged_are_not_used(tmp_path):
    state = trained_state()
    save_models(state, tmp_path)
    other = LabState(state.split, dict(state.info, name="other"))
    ok, why = load_models(other, tmp_path)
    assert not ok and "'digits'" in why and other.models == {} and other.status == "running"
    (tmp_path / "cnn.safetensors").write_bytes(b"not a checkpoint")
    ok, why = load_models(LabState(state.split, state.info), tmp_path)
    assert not ok and "cnn.safetensors" in why
    ok, why = load_models(LabState(state.split, state.info), tmp_path / "nothing")
    assert not ok and "no saved models" in why


def test_sequence_data_is_refused():
    from convolve.data import Split

    x = np.zeros((4, 1, 40), np.float32)
    y = np.arange(4)
    with pytest.raises(ValueError, match="image models"):
        LabState(Split(x, y, x, y), {"name": "seq", "num_classes": 4})
