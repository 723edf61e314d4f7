"""Checkpoints: round trips, atomic writes (a crash mid-write keeps the old file), clear
errors for missing/truncated/corrupted/foreign files, nested state flattening."""

import json
import os

import numpy as np
import pytest
import safetensors.numpy as st

import convolve as cv
from convolve import _fileio, models, optim
from convolve import io as cio


def _model(seed=0):
    cv.manual_seed(seed)
    return models.mlp((1, 4, 4), 3, hidden=(5,))


def _trained(seed=0):
    """A model and an Adam optimizer after two steps, so the optimizer has state."""
    model = _model(seed)
    opt = optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    for _ in range(2):
        x = cv.tensor(rng.standard_normal((6, 1, 4, 4)).astype(np.float32))
        loss = cv.functional.cross_entropy(model(x), rng.integers(0, 3, 6))
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model, opt


def _assert_same_state(a: dict, b: dict):
    assert list(a) == list(b)
    for k, value in a.items():
        np.testing.assert_array_equal(value, b[k], err_msg=k)
        assert np.asarray(value).dtype == np.asarray(b[k]).dtype, k


def _assert_nested_equal(a, b):
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _assert_nested_equal(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_nested_equal(x, y)
    elif isinstance(a, np.ndarray):
        np.testing.assert_array_equal(a, b)
        assert a.dtype == b.dtype
    else:
        assert a == b or (isinstance(a, float) and np.isnan(a) and np.isnan(b))


def test_flatten_state_round_trips_nested_values():
    state = {0: {"step": 3, "exp_avg": np.arange(6.0).reshape(2, 3)},
             "groups": [{"lr": 0.1, "betas": (0.9, 0.999), "nesterov": False, "name": None}],
             "scalar": np.float32(0.5), "big": 2**70, "nan": float("nan"), "empty": []}
    arrays = {}
    skeleton = cio.flatten_state(state, "opt/", arrays)
    back = cio.unflatten_state(json.loads(json.dumps(skeleton)), arrays)
    _assert_nested_equal(state, back)
    assert isinstance(back["scalar"], np.float32) and 0 in back  # int keys stay ints
    with pytest.raises(TypeError, match="flatten_state"):
        cio.flatten_state({"f": object()}, "x/", {})


def test_checkpoint_round_trip_with_optimizer_and_rng(tmp_path):
    model, opt = _trained()
    cv.manual_seed(123)
    rng_before = cv.get_rng_state()
    path = cio.save_checkpoint(tmp_path / "c.safetensors", model, opt, epoch=7,
                               extra={"note": "hi", "arr": np.ones(3)})
    ckpt = cio.load_checkpoint(path)
    assert ckpt["epoch"] == 7 and ckpt["extra"]["note"] == "hi"
    np.testing.assert_array_equal(ckpt["extra"]["arr"], np.ones(3))
    assert ckpt["rng"] == rng_before
    assert ckpt["architecture"] == model.spec
    _assert_same_state(model.state_dict(), ckpt["model"])
    _assert_nested_equal(opt.state_dict(), ckpt["optimizer"])

    other, other_opt = _model(seed=5), None
    other_opt = optim.Adam(other.parameters(), lr=1.0)
    cv.manual_seed(999)
    cio.restore_checkpoint(path, other, other_opt)
    _assert_same_state(model.state_dict(), other.state_dict())
    _assert_nested_equal(opt.state_dict(), other_opt.state_dict())
    assert cv.get_rng_state() == rng_before


def test_load_model_rebuilds_from_architecture(tmp_path):
    model, _ = _trained()
    cio.save_checkpoint(tmp_path / "m.safetensors", model)
    back = cio.load_model(tmp_path / "m.safetensors")
    _assert_same_state(model.state_dict(), back.state_dict())
    x = cv.tensor(np.random.default_rng(0).standard_normal((2, 1, 4, 4)).astype(np.float32))
    model.eval()
    np.testing.assert_array_equal(model(x).data, back(x).data)


def test_no_architecture_means_clear_error(tmp_path):
    plain = cv.nn.Sequential(cv.nn.Flatten(), cv.nn.Linear(4, 2))
    cio.save_checkpoint(tmp_path / "p.safetensors", plain)
    assert cio.load_checkpoint(tmp_path / "p.safetensors")["architecture"] is None
    with pytest.raises(cio.CheckpointError, match="no architecture"):
        cio.load_model(tmp_path / "p.safetensors")


def test_crash_mid_write_keeps_previous_checkpoint(tmp_path, monkeypatch):
    model, opt = _trained()
    path = tmp_path / "last.safetensors"
    cio.save_checkpoint(path, model, opt, epoch=1)
    before = path.read_bytes()

    def crash(src, dst):
        raise OSError("simulated crash before rename")

    monkeypatch.setattr(os, "replace", crash)
    newer, newer_opt = _trained(seed=1)
    with pytest.raises(OSError, match="simulated crash"):
        cio.save_checkpoint(path, newer, newer_opt, epoch=2)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.safetensors"]  # no temp left
    ckpt = cio.load_checkpoint(path)
    assert ckpt["epoch"] == 1
    _assert_same_state(model.state_dict(), ckpt["model"])


def test_crash_inside_writer_leaves_no_temp_file(tmp_path, monkeypatch):
    model, _ = _trained()
    path = tmp_path / "c.safetensors"
    cio.save_checkpoint(path, model, epoch=3)

    def half_write(fd, data):
        os.write(fd, bytes(data[:10]))
        raise KeyboardInterrupt

    monkeypatch.setattr(_fileio, "_write_all", half_write)
    with pytest.raises(KeyboardInterrupt):
        cio.save_checkpoint(path, model, epoch=4)
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["c.safetensors"]
    assert cio.load_checkpoint(path)["epoch"] == 3


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip_header", "empty"])
def test_damaged_file_raises_error_naming_the_file(tmp_path, damage):
    model, opt = _trained()
    path = tmp_path / "bad.safetensors"
    cio.save_checkpoint(path, model, opt)
    raw = path.read_bytes()
    damaged = {"truncate": raw[: len(raw) // 2], "garbage": b"not a checkpoint at all" * 3,
               "flip_header": raw[:8] + b"#" + raw[9:], "empty": b""}[damage]
    path.write_bytes(damaged)
    with pytest.raises(cio.CheckpointError) as info:
        cio.load_checkpoint(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_foreign_safetensors_and_missing_file(tmp_path):
    path = tmp_path / "weights.safetensors"
    st.save_file({"w": np.zeros(3, np.float32)}, path)
    with pytest.raises(cio.CheckpointError, match="not a convolve checkpoint"):
        cio.load_checkpoint(path)
    with pytest.raises(FileNotFoundError, match="nope.safetensors"):
        cio.load_checkpoint(tmp_path / "nope.safetensors")
    with pytest.raises(cio.CheckpointError, match="directory"):
        cio.load_checkpoint(tmp_path)


def test_file_is_plain_safetensors_without_pickle(tmp_path):
    model, opt = _trained()
    path = cio.save_checkpoint(tmp_path / "c.safetensors", model, opt)
    arrays = st.load_file(path)  # any safetensors reader can open it
    assert {k for k in arrays if k.startswith("model/")} == \
        {f"model/{k}" for k in model.state_dict()}
    assert b"\x80\x04" not in path.read_bytes()[:16]  # not a pickle stream


@pytest.mark.parametrize("bad", ["-3", "1_0", " 5", "+5", "abc", "1e3", "9" * 13, "", "٣"])
def test_stored_epoch_is_validated_on_load(tmp_path, bad):
    from safetensors import safe_open

    model, _ = _trained()
    path = cio.save_checkpoint(tmp_path / "c.safetensors", model, epoch=2)
    arrays = st.load_file(path)
    with safe_open(path, framework="numpy") as fh:
        meta = fh.metadata()
    cio.save_safetensors(path, arrays, dict(meta, epoch=bad))
    with pytest.raises(cio.CheckpointError, match="expected a non-negative integer") as info:
        cio.load_checkpoint(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    cio.save_safetensors(path, arrays, dict(meta, epoch="12"))
    assert cio.load_checkpoint(path)["epoch"] == 12


@pytest.mark.parametrize("epoch", [-1, True, 2.0, "3", None])
def test_save_checkpoint_rejects_a_bad_epoch(tmp_path, epoch):
    with pytest.raises(ValueError, match="epoch must be an int >= 0"):
        cio.save_checkpoint(tmp_path / "c.safetensors", _model(), epoch=epoch)
    assert list(tmp_path.iterdir()) == []
