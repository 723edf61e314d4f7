"""Bombs of each kind, as an attacker would craft them: each must fail fast with a one-line
error, under a memory limit (``resource.setrlimit(RLIMIT_AS)`` in a subprocess) where memory
is the point. The limits themselves (convolve.limits) and their overrides are checked too."""

import gzip
import io
import os
import resource
import struct
import subprocess
import sys
import tarfile
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from convolve import limits, models
from convolve.data.cifar import CIFAR10
from convolve.data.download import download_file
from convolve.data.idx import load_idx
from convolve.errors import DownloadError, LimitError, SpecError, SpecTypeError
from convolve.summary import summary

MEMORY = 768 << 20  # the subprocesses' address-space limit: far below any bomb's expansion
SRC = str(Path(__file__).resolve().parents[1] / "src")


def run_limited(args, timeout=60, env=None, code=None):
    """Run ``python -m convolve.cli ARGS`` (or ``python -c CODE``) under RLIMIT_AS."""
    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY, MEMORY))

    environ = dict(os.environ, OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore",
                   PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""), **(env or {}))
    cmd = [sys.executable, "-c", code] if code else [sys.executable, "-m", "convolve.cli", *args]
    start = time.perf_counter()
    result = subprocess.run(cmd, capture_output=True, text=True, env=environ, timeout=timeout,
                            preexec_fn=limit, check=False)
    return result, time.perf_counter() - start


def assert_one_line(result, match, seconds, elapsed):
    assert result.returncode == 1, (result.returncode, result.stderr[-2000:])
    err = result.stderr
    assert err.startswith("convolve: error: ") and err.count("\n") == 1, err[-2000:]
    assert "Traceback" not in err and match in err, err
    assert elapsed < seconds, elapsed


def test_the_memory_limit_leaves_room_for_normal_work():
    result, _ = run_limited(["summary", "lenet5"])
    assert result.returncode == 0 and "Total params" in result.stdout, result.stderr


# ----------------------------------------------------------------------------- model specs
YAML_BOMB = "\n".join(
    [f'{c}: &{c} [{", ".join([f"*{p}"] * 9)}]' for p, c in zip("abcdefgh", "bcdefghi")])
YAML_BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + YAML_BOMB + \
    "\ninput_shape: [4]\nlayers: *i\n"


def test_yaml_alias_bomb_fails_fast(tmp_path):
    assert len(YAML_BOMB) < 700  # 9**9 = 387 million strings once expanded
    (tmp_path / "bomb.yaml").write_text(YAML_BOMB)
    result, elapsed = run_limited(["summary", str(tmp_path / "bomb.yaml")])
    assert_one_line(result, "too many values", 20, elapsed)
    assert "CONVOLVE_MAX_SPEC_NODES" in result.stderr


def test_yaml_alias_count_and_recursive_alias(tmp_path):
    many = "a: &a 1\nlayers: [" + ", ".join(["*a"] * 50) + "]\n"
    (tmp_path / "many.yaml").write_text(many)
    with limits.override(yaml_aliases=10), pytest.raises(LimitError, match="YAML aliases"):
        models.load_spec(tmp_path / "many.yaml")
    (tmp_path / "loop.yaml").write_text("layers: &l [*l]\n")
    with pytest.raises(LimitError, match="nested too deeply"):
        models.load_spec(tmp_path / "loop.yaml")


def test_deeply_nested_json_spec(tmp_path):
    depth = 300_000
    (tmp_path / "deep.json").write_text("[" * depth + "]" * depth)
    result, elapsed = run_limited(["summary", str(tmp_path / "deep.json")])
    assert_one_line(result, "nested too deeply", 20, elapsed)
    with pytest.raises(LimitError, match="nested too deeply"):
        models.load_spec("[" * 100 + "]" * 100)


def test_spec_size_layer_count_and_values():
    with limits.override(spec_bytes=100), pytest.raises(LimitError, match="spec_bytes"):
        models.load_spec('{"layers": [' + ", ".join(['{"type": "relu"}'] * 20) + "]}")
    many = {"input_shape": [4], "layers": [{"type": "relu"}] * 1_000_000}
    start = time.perf_counter()
    with pytest.raises(LimitError, match="layer count: 1,000,000 layers exceeds"):
        models.build_model(many)
    with limits.override(layers=0), pytest.raises(LimitError, match="too many values"):
        models.build_model(many)
    assert time.perf_counter() - start < 10
    huge = [{"type": "conv2d", "out_channels": 10 ** 12, "kernel_size": 3}]
    with pytest.raises(LimitError, match=r"layer 0 \(conv2d\).*CONVOLVE_MAX_LAYER_VALUE"):
        models.build_model(huge, (3, 8, 8))


def test_memory_budget_is_checked_before_allocating():
    code = ("from convolve import models\n"
            "from convolve.errors import LimitError\n"
            "spec = [{'type': 'conv2d', 'out_channels': 4096, 'kernel_size': 3},"
            " {'type': 'flatten'}, {'type': 'linear', 'out_features': 4096}]\n"
            "try:\n    models.build_model(spec, (3, 256, 256))\n"
            "except LimitError as err:\n    print(err)\n")
    result, elapsed = run_limited(None, code=code, env={"CONVOLVE_MEMORY_BUDGET": "512M"})
    assert result.returncode == 0, result.stderr[-2000:]
    assert "over the memory budget of 512 MiB" in result.stdout and elapsed < 20
    assert "--memory-budget" in result.stdout
    with limits.override(memory_budget="1M"), pytest.raises(LimitError, match="memory budget"):
        models.get_model("lenet5")
    with limits.override(memory_budget=0):
        models.get_model("lenet5")  # 0: no check


def test_cli_memory_budget_flag(tmp_path, capsys):
    from convolve.cli import main

    spec = tmp_path / "wide.json"
    spec.write_text('{"layers": [{"type": "flatten"}, {"type": "linear", "out_features": 64}]}')
    argv = ["train", "--config", str(spec), "--data", "digits", "--limit", "20", "--epochs", "0",
            "-q", "--out", str(tmp_path / "run"), "--memory-budget", "1K"]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "over the memory budget of 1 KiB" in err, err


def test_spec_type_errors_are_documented_types():
    with pytest.raises(SpecTypeError, match="received str") as info:
        models.build_model({"layers": "relu"}, (4,))
    assert isinstance(info.value, TypeError) and isinstance(info.value, ValueError)
    with pytest.raises(SpecError, match="layer 0 must be a dict"):
        models.build_model([7], (4,))
    with pytest.raises(SpecError, match="unexpected keyword argument 'colour'"):
        models.build_model([{"type": "relu", "colour": "red"}], (4,))


# ------------------------------------------------------------------------------ summary
def test_summary_of_a_huge_input_allocates_nothing():
    result, elapsed = run_limited(["summary", "lenet5", "--input", "1x100000x100000", "--json"])
    assert result.returncode == 0, result.stderr[-2000:]
    assert '"input_shape": [1, 100000, 100000]' in result.stdout and elapsed < 20
    model = models.get_model("vgg_small", (3, 32, 32))
    s = summary(model, (3, 32, 32))
    assert s.output_shape == (10,)


# ---------------------------------------------------------------------------- data files
def _gzip_stream(path: Path, head: bytes, zeros: int) -> None:
    """``head`` then ``zeros`` zero bytes, as concatenated gzip members (one per 64 MiB)."""
    block = gzip.compress(bytes(64 << 20), compresslevel=9)
    with open(path, "wb") as f:
        f.write(gzip.compress(head))
        f.writelines(block for _ in range(zeros // (64 << 20)))


@pytest.mark.parametrize("head,match", [
    (b"\x1f\x8b\0\0", "not an IDX file"),                                  # bad magic, 1 GiB
    (bytes([0, 0, 8, 1]) + struct.pack(">I", 10), "found more than"),      # promises 10 bytes
    (bytes([0, 0, 0x0E, 2]) + struct.pack(">2I", 2 ** 31, 2 ** 31), "data_bytes"),  # 32 EiB
])
def test_gzip_idx_bombs(tmp_path, head, match):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    _gzip_stream(path, head, 1 << 30)
    assert path.stat().st_size < 2 << 20
    code = ("import sys\nfrom convolve.data.idx import load_idx\n"
            "try:\n    load_idx(sys.argv[1])\nexcept ValueError as err:\n"
            "    print(type(err).__name__, err)\n")
    result, elapsed = run_limited(None, code=code.replace("sys.argv[1]", repr(str(path))))
    assert result.returncode == 0, result.stderr[-2000:]
    assert match in result.stdout and elapsed < 20, result.stdout
    with pytest.raises(ValueError, match=match):
        load_idx(path)


def test_cifar_member_size_checked_before_reading(tmp_path, monkeypatch):
    folder = tmp_path / "t"
    blob = bytes(40 * 3073)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        info.size = len(blob)
        tar.addfile(info, io.BytesIO(blob))
    folder.mkdir()
    (folder / "cifar-10-binary.tar.gz").write_bytes(buf.getvalue())
    monkeypatch.setenv("CONVOLVE_MAX_DATA_BYTES", "100000")
    with pytest.raises(LimitError, match=r"member cifar-10-batches-bin/test_batch.bin: 122,920"):
        CIFAR10(folder, train=False)
    (folder / "test_batch.bin").write_bytes(blob)
    with pytest.raises(LimitError, match="test_batch.bin: 122,920 bytes exceeds"):
        CIFAR10(folder, train=False)
    monkeypatch.delenv("CONVOLVE_MAX_DATA_BYTES")
    assert len(CIFAR10(folder, train=False)) == 40


def _png_header(width: int, height: int) -> bytes:
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">2I5B", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_image_bombs(tmp_path, monkeypatch, run_dir_for_predict):
    from convolve.data.images import read_image

    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header(50_000, 50_000))
    result, elapsed = run_limited(["predict", str(run_dir_for_predict), str(bomb)])
    assert_one_line(result, "bomb.png: refused as a decompression bomb", 30, elapsed)
    big = tmp_path / "big.png"
    big.write_bytes(_png_header(9000, 9000))  # under Pillow's threshold, over our own cap
    result, elapsed = run_limited(["predict", str(run_dir_for_predict), str(big)])
    assert_one_line(result, "big.png: 9000x9000 image: 81,000,000 pixels exceeds", 30, elapsed)
    monkeypatch.setenv("CONVOLVE_MAX_IMAGE_PIXELS", "0")  # only Pillow's own checks left
    warn = tmp_path / "warn.png"
    warn.write_bytes(_png_header(10_000, 10_000))  # over Pillow's warning threshold
    with pytest.raises(LimitError, match="decompression bomb"):
        read_image(warn)


@pytest.fixture(scope="module")
def run_dir_for_predict(tmp_path_factory):
    from convolve.io import save_checkpoint

    path = tmp_path_factory.mktemp("run") / "m.safetensors"
    return save_checkpoint(path, models.get_model("lenet5", (1, 8, 8)))


def test_download_size_cap(tmp_path):
    import hashlib

    src = tmp_path / "mirror"
    src.mkdir()
    data = bytes(5000)
    (src / "f.bin").write_bytes(data)
    sha = hashlib.sha256(data).hexdigest()
    with limits.override(download_bytes=4096), pytest.raises(DownloadError, match="4,096"):
        download_file("f.bin", [src.as_uri()], tmp_path / "dest", sha)
    assert not any((tmp_path / "dest").iterdir())  # no partial file left
    got = download_file("f.bin", [src.as_uri()], tmp_path / "dest", sha)
    assert got.read_bytes() == data


def test_limits_parse_and_override(monkeypatch):
    assert limits.parse_size("8G") == 8 << 30 and limits.parse_size("512k") == 512 << 10
    assert limits.parse_size("1e6") == 10 ** 6 and limits.parse_size("2MiB") == 2 << 20
    with pytest.raises(LimitError, match="expected a number of bytes"):
        limits.parse_size("lots")
    monkeypatch.setenv("CONVOLVE_MAX_LAYERS", "3")
    assert limits.get("layers") == 3
    with limits.override(layers=5):
        assert limits.get("layers") == 5
    assert limits.get("layers") == 3
    with pytest.raises(LimitError, match="layer count: 4 layers exceeds the limit of 3"):
        models.build_model([{"type": "relu"}] * 4, (2,))
    np.testing.assert_equal(limits.get("memory_budget") > 0, True)
