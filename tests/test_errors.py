"""One-line errors: hostile checkpoint metadata, every exception family the CLI can meet
(KeyError, RecursionError, TypeError, MemoryError, Pillow, full disk, unexpected bugs), and
the documented exception hierarchy of convolve.errors."""

import errno
import json
import os

import pytest
import safetensors.numpy as st
from safetensors import safe_open

from convolve import cli, errors, models
from convolve.cli import describe_error, main
from convolve.io import load_checkpoint, save_checkpoint
from test_limits import assert_one_line, run_limited


@pytest.fixture(scope="module")
def good(tmp_path_factory):
    path = tmp_path_factory.mktemp("ckpt") / "good.safetensors"
    return save_checkpoint(path, models.get_model("lenet5", (1, 8, 8)),
                           extra={"data": {"name": "digits", "pixel_mean": 0.2}})


def forge(good, tmp_path, **fields):
    """A copy of ``good`` with metadata fields replaced (None deletes one)."""
    arrays = st.load_file(good)
    with safe_open(good, framework="numpy") as fh:
        meta = dict(fh.metadata())
    for k, v in fields.items():
        if v is None:
            meta.pop(k, None)
        else:
            meta[k] = v if isinstance(v, str) else json.dumps(v)
    path = tmp_path / "forged.safetensors"
    st.save_file(arrays, path, metadata=meta)
    return path


def one_line(capsys, argv, match):
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("convolve: error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err and match in err, err
    return err


DEEP = "[" * 200_000 + "]" * 200_000
NESTED = 1
for _ in range(80):
    NESTED = [NESTED]
HOSTILE = {
    "missing array (KeyError)": ({"model_keys": ["0.weight", "nope"]}, "damaged metadata"),
    "deep extra (RecursionError)": ({"extra": DEEP}, "nested too deeply"),
    "deep architecture": ({"architecture": {"a": NESTED}}, "nested too deeply"),
    "architecture a list": ({"architecture": [1, 2]}, "architecture must be dict"),
    "layers not a list (TypeError)": ({"architecture": {"layers": 5, "input_shape": [1, 8, 8]}},
                                      "expected a list of layers"),
    "huge channels": ({"architecture": {"input_shape": [1, 8, 8], "layers": [
        {"type": "conv2d", "out_channels": 10 ** 15, "kernel_size": 3}]}}, "layer_value"),
    "bad rng": ({"rng": {"bit_generator": "PCG64", "state": "x"}}, "damaged RNG state"),
    "bad epoch": ({"epoch": "soon"}, "'soon'"),
    "bad skeleton": ({"extra": {"__dict__": 5}}, "damaged metadata"),
    "dangling array": ({"extra": {"__array__": "extra/999"}}, "damaged metadata"),
    "not json": ({"extra": "{nope"}, "damaged metadata"),
    "no rng": ({"rng": None}, "damaged metadata"),
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_checkpoint_metadata_is_one_line(good, tmp_path, capsys, case):
    fields, match = HOSTILE[case]
    path = forge(good, tmp_path, **fields)
    err = one_line(capsys, ["summary", str(path)], match)
    assert str(path) in err
    with pytest.raises(errors.InputError):
        from convolve.io import load_model
        load_model(path)


def test_metadata_size_limit(good, monkeypatch):
    monkeypatch.setenv("CONVOLVE_MAX_METADATA_BYTES", "100")
    with pytest.raises(errors.LimitError, match="metadata.*CONVOLVE_MAX_METADATA_BYTES"):
        load_checkpoint(good)


def test_malformed_extra_data_is_ignored_not_fatal(good, tmp_path, capsys):
    path = forge(good, tmp_path, extra={"data": [1, 2], "cli": "x"})
    one_line(capsys, ["eval", str(path)], "does not say which data it was trained on")
    assert cli._data_info(load_checkpoint(path)) == {}


def test_memory_error_is_one_line(good, tmp_path):
    arch = {"input_shape": [1, 100, 100], "layers": [{"type": "flatten"},
                                                     {"type": "linear", "out_features": 30000}]}
    path = forge(good, tmp_path, architecture=arch)
    result, elapsed = run_limited(["summary", str(path), "--memory-budget", "0"])
    assert_one_line(result, "out of memory", 60, elapsed)
    result, elapsed = run_limited(["summary", str(path)], env={"CONVOLVE_MEMORY_BUDGET": "256M"})
    assert_one_line(result, "over the memory budget of 256 MiB", 60, elapsed)


def test_pillow_errors_are_one_line(good, tmp_path, capsys):
    from PIL import Image

    Image.new("L", (30, 30), 200).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    one_line(capsys, ["predict", str(good), str(tmp_path / "cut.png")], "cut.png")
    (tmp_path / "text.png").write_text("not an image")
    one_line(capsys, ["predict", str(good), str(tmp_path / "text.png")],
             "cannot read image")
    one_line(capsys, ["predict", str(good), str(tmp_path / "absent.png")], "no such image")


def test_full_disk_and_other_families_are_described():
    with pytest.raises(OSError) as info, open("/dev/full", "wb") as fh:
        fh.write(b"x" * 10)
    assert info.value.errno == errno.ENOSPC
    assert describe_error(info.value).startswith("no space left on device")
    assert describe_error(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/x/last.tmp")) == \
        "no space left on device writing /x/last.tmp; free some space or choose another --out"
    assert describe_error(MemoryError()).startswith("out of memory; try a smaller")
    assert describe_error(RecursionError("maximum recursion depth")).startswith(
        "the input is nested too deeply")
    assert describe_error(KeyError("no such key 'x'")) == "no such key 'x'"
    assert describe_error(ValueError("a\nb " + "x" * 5000)).endswith("...")
    assert "\n" not in describe_error(ValueError("a\nb"))
    assert describe_error(AttributeError("boom")).startswith("unexpected AttributeError: boom")


def test_the_safety_net_catches_a_bug(capsys):
    @cli.subcommand("explode", "raise an unexpected exception")
    def explode(p):
        return lambda args: 1 / 0

    try:
        one_line(capsys, ["explode"], "unexpected ZeroDivisionError: division by zero")
        os.environ["CONVOLVE_DEBUG"] = "1"
        with pytest.raises(ZeroDivisionError):
            main(["explode"])
    finally:
        os.environ.pop("CONVOLVE_DEBUG", None)
        del cli._SUBCOMMANDS["explode"]


def test_exception_hierarchy():
    assert issubclass(errors.InputError, ValueError)
    for cls in (errors.SpecError, errors.CheckpointError, errors.DataError, errors.LimitError):
        assert issubclass(cls, errors.InputError) and issubclass(cls, errors.ConvolveError)
    assert issubclass(errors.SpecTypeError, TypeError)
    assert issubclass(errors.DownloadError, OSError)
    from convolve.data import DownloadError
    from convolve.io import CheckpointError
    assert CheckpointError is errors.CheckpointError and DownloadError is errors.DownloadError


def test_idx_with_an_empty_but_unrepresentable_shape(tmp_path):
    """Found by scripts/fuzz_parsers.py: 0 x (2**32-1)^3 holds no data, yet NumPy cannot
    make the shape (its ValueError was not a documented type)."""
    import struct

    from convolve.data.idx import load_idx

    path = tmp_path / "z-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 4]) + struct.pack(">4I", 0, *[2 ** 32 - 1] * 3))
    with pytest.raises(errors.DataError, match="cannot make an array of shape 0x4294967295"):
        load_idx(path)
