"""convolve.save / convolve.load: round trips of what training scripts save, resuming an
optimizer exactly, bounded reading of damaged files, and PyTorch's own files read without
running code (torch 2.13 writes them here; pickle appears only in these tests)."""

import io
from collections import OrderedDict

import numpy as np
import pytest
import safetensors.numpy as st

import convolve
from convolve import nn, optim
from convolve.serialization import UnsafeFileError


def _checkpoint():
    rng = np.random.default_rng(0)
    w = convolve.Tensor(rng.random((3, 2)))
    return {
        "net": OrderedDict([("w", w), ("w_again", w), ("count", convolve.tensor(
            np.array(7, np.int64), dtype=np.int64))]),
        "acc": 91.25, "epoch": 3, "best": None, "done": False, "name": "résumé",
        "nan": float("nan"), "big": 2**70,
        "arrays": [np.arange(4, dtype=np.int16), np.float32(2.5), np.bool_(True)],
        "opt": {"state": {0: {"step": 4, "m": rng.random(3)}},
                "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0]}]},
        (1, "a"): "tuple key", 2: [True, (None,)],
        "param": nn.Parameter(np.ones(2, np.float32)),
        "half": np.ones((2, 0), np.float16), "scalar0d": np.array(3.0),
    }


def _assert_same(a, b, path="obj"):
    assert type(a) is type(b), (path, type(a), type(b))
    if isinstance(b, convolve.Tensor):
        assert a.dtype == b.dtype and a.requires_grad == b.requires_grad, path
        np.testing.assert_array_equal(a.data, b.data)
    elif isinstance(b, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), path
        np.testing.assert_array_equal(a, b)
    elif isinstance(b, dict):
        assert list(a) == list(b), path
        for k in b:
            _assert_same(a[k], b[k], f"{path}[{k!r}]")
    elif isinstance(b, (list, tuple)):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _assert_same(x, y, f"{path}[{i}]")
    elif isinstance(b, float) and np.isnan(b):
        assert np.isnan(a), path
    else:
        assert a == b, (path, a, b)


@pytest.mark.parametrize("target", ["path", "bytesio"])
def test_round_trip_keeps_structure_types_and_sharing(tmp_path, target):
    ckpt = _checkpoint()
    f = tmp_path / "ck.pt" if target == "path" else io.BytesIO()
    convolve.save(ckpt, f)
    if target == "bytesio":
        f.seek(0)
    back = convolve.load(f, map_location="cpu", weights_only=True)
    _assert_same(back, ckpt)
    assert back["net"]["w"] is back["net"]["w_again"]  # one storage, one object
    assert isinstance(back["param"], nn.Parameter) and back["param"].requires_grad


def _model():
    return nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                         nn.Linear(3 * 4 * 4, 4))


def _train(model, opt, steps, start):
    loss_fn = nn.CrossEntropyLoss()
    for s in range(start, start + steps):
        rng = np.random.default_rng(s)
        x = convolve.Tensor(rng.standard_normal((5, 1, 6, 6)).astype(np.float32))
        y = rng.integers(0, 4, 5)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()


@pytest.mark.parametrize("make_opt", [
    lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-3),
    lambda p: optim.Adam(p, lr=0.01, amsgrad=True),
])
def test_optimizer_resume_equals_uninterrupted_run(tmp_path, make_opt):
    convolve.manual_seed(0)
    straight = _model()
    resumed = _model()
    resumed.load_state_dict(straight.state_dict())
    opt = make_opt(straight.parameters())
    _train(straight, opt, 6, 0)

    first_opt = make_opt(resumed.parameters())
    _train(resumed, first_opt, 3, 0)
    convolve.save({"net": resumed.state_dict(), "optimizer": first_opt.state_dict(),
                   "epoch": 3}, tmp_path / "ckpt.pth")
    ckpt = convolve.load(tmp_path / "ckpt.pth")
    fresh = _model()
    fresh.load_state_dict(ckpt["net"])
    fresh_opt = make_opt(fresh.parameters())
    fresh_opt.load_state_dict(ckpt["optimizer"])
    _train(fresh, fresh_opt, 3, ckpt["epoch"])
    for (k, a), b in zip(straight.state_dict().items(), fresh.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


@pytest.mark.parametrize("value,match", [
    (nn.Linear(2, 2), "type Linear at obj; .*state_dict"),
    ({"f": len}, r"obj\['f'\]"),
    ({"s": {1, 2}}, "type set"),
    ({"a": np.array(["x"])}, "dtype <U1"),
    ({("a", (1,)): 1}, "dict key"),
])
def test_save_refuses_what_it_cannot_store(tmp_path, value, match):
    with pytest.raises(TypeError, match=match):
        convolve.save(value, tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_save_and_load_argument_errors(tmp_path):
    with pytest.raises(TypeError, match="pickle_module"):
        convolve.save({}, tmp_path / "x.pt", pickle_module=object())
    convolve.save({"a": 1}, tmp_path / "x.pt")
    for ok in (None, "cpu", "cpu:0", b"cpu", {"cuda:0": "cpu"}, lambda storage, loc: storage,
               convolve.device("cpu")):
        assert convolve.load(tmp_path / "x.pt", map_location=ok) == {"a": 1}
    for bad in ("cuda", "cuda:1", {"cpu": "cuda:0"}, convolve.device("cuda", 0), "mps"):
        with pytest.raises(ValueError, match="map_location=.*CPU"):
            convolve.load(tmp_path / "x.pt", map_location=bad)
    with pytest.raises(TypeError, match="weights_only"):
        convolve.load(tmp_path / "x.pt", weights_only="yes")
    with pytest.raises(FileNotFoundError):
        convolve.load(tmp_path / "missing.pt")


def _one_line(err):
    assert "\n" not in str(err.value) and str(err.value).startswith("load: ")


def test_damaged_convolve_files_give_one_line_errors(tmp_path):
    path = tmp_path / "ck.pt"
    convolve.save(_checkpoint(), path)
    data = path.read_bytes()
    for cut in (3, 20, len(data) // 2, len(data) - 1):
        with pytest.raises(UnsafeFileError) as err:
            convolve.load(io.BytesIO(data[:cut]))
        _one_line(err)
    deep = "[" * 50000 + "]" * 50000
    for skeleton in (deep, '{"L": ' * 200 + "1" + "}" * 200, '{"T": "t99"}', '{"Q": 1}'):
        blob = st.save({"t0": np.zeros(1)}, metadata={
            "format": "convolve.save", "format_version": "1", "skeleton": skeleton})
        with pytest.raises(UnsafeFileError) as err:
            convolve.load(io.BytesIO(blob))
        _one_line(err)


def test_plain_safetensors_file_loads_as_named_tensors(tmp_path):
    st.save_file({"a": np.arange(3, dtype=np.int64), "b": np.ones(2, np.float32)},
                 tmp_path / "w.safetensors")
    out = convolve.load(tmp_path / "w.safetensors")
    assert list(out) == ["a", "b"] and out["a"].dtype == np.int64
    assert isinstance(out["b"], convolve.Tensor)


def test_deep_nesting_is_refused_on_save():
    obj = []
    for _ in range(150):
        obj = [obj]
    with pytest.raises(ValueError, match="deeper than 100"):
        convolve.save(obj, io.BytesIO())


def test_saved_state_dict_is_a_plain_safetensors_state_dict_for_torch(torch, tmp_path):
    """Arrays are named by their key path, so PyTorch reads a convolve.save'd state dict
    with safetensors alone and gets the same outputs."""
    from safetensors.torch import load_file

    from convolve.interop import to_torch

    convolve.manual_seed(0)
    model = _model().eval()
    convolve.save(model.state_dict(), tmp_path / "model.safetensors")
    convolve.manual_seed(1)
    twin = to_torch(_model()).eval()  # same layers, other weights
    twin.load_state_dict(load_file(tmp_path / "model.safetensors"))
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    with torch.no_grad():
        np.testing.assert_allclose(twin(torch.from_numpy(x)).numpy(),
                                   model(convolve.Tensor(x)).data, rtol=1e-5, atol=1e-6)
    names = sorted(st.load_file(tmp_path / "model.safetensors"))
    assert names == sorted(model.state_dict())
    blob = io.BytesIO()
    convolve.save({"opt": {"state": {0: {"m": np.ones(2)}}}, "t0": np.zeros(1),
                   "__metadata__": np.ones(1), "x": [np.ones(1)]}, blob)
    assert sorted(st.load(blob.getvalue())) == ["opt.state.0.m", "t0", "t2", "x.0"]
