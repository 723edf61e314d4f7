"""Property tests of the parsers of untrusted input (Hypothesis): IDX, CIFAR, images and
ImageFolder, checkpoints and model descriptions. Property: a valid result, or one of the
documented exception types (convolve.errors, FileNotFoundError); never anything else.

About 10^3 examples per parser, derandomized when CI is set; the longer run is
scripts/fuzz_parsers.py."""

import gzip
import io
import json
import math
import os
import struct
import tarfile
import tempfile
from pathlib import Path

import numpy as np
import pytest
import safetensors.numpy as st
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs
from PIL import Image
from safetensors import safe_open

from convolve import models
from convolve.data import ImageFolder
from convolve.data.cifar import RECORD, read_cifar_bin, read_tar_members
from convolve.data.idx import load_idx
from convolve.data.images import read_image
from convolve.errors import ConvolveError
from convolve.io import load_checkpoint, load_model, save_checkpoint

ALLOWED = (ConvolveError, FileNotFoundError)
FUZZ = settings(max_examples=int(os.environ.get("CONVOLVE_FUZZ_EXAMPLES", "1000")), deadline=None,
                derandomize=bool(os.environ.get("CI")), database=None,
                suppress_health_check=list(HealthCheck))
WORK = Path(tempfile.mkdtemp(prefix="convolve-fuzz-"))
for _sub in ("folder/a", "folder/b"):
    (WORK / _sub).mkdir(parents=True)


def outcome(fn, *args):
    """fn(*args), or None when it raised a documented exception; anything else propagates."""
    try:
        return fn(*args)
    except ALLOWED:
        return None


def write(name: str, data: bytes) -> Path:
    path = WORK / name
    path.write_bytes(data)
    return path


def mutate(data: bytes, edits) -> bytes:
    """Apply (position, byte) overwrites and a final truncation/extension to ``data``."""
    buf = bytearray(data)
    for pos, value in edits[:-1]:
        if buf:
            buf[pos % len(buf)] = value
    cut, extra = edits[-1] if edits else (len(buf), 0)
    return bytes(buf[: cut % (len(buf) + 1)] if extra % 2 else buf + bytes([extra]) * (cut % 7))


EDITS = hs.lists(hs.tuples(hs.integers(0, 1 << 20), hs.integers(0, 255)), max_size=8)


# ------------------------------------------------------------------------------------- IDX
def idx_bytes(code: int, dims, payload: bytes) -> bytes:
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims) + payload


@hs.composite
def idx_files(draw):
    kind = draw(hs.sampled_from(["raw", "structured", "structured"]))
    if kind == "raw":
        data = draw(hs.binary(max_size=64))
    else:
        code = draw(hs.sampled_from([0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E, 0x00, 0x0A, 0xFF]))
        dims = draw(hs.lists(hs.integers(0, 7) | hs.sampled_from([2 ** 31, 2 ** 32 - 1]),
                             min_size=0, max_size=4))
        size = math.prod(dims) * {0x0B: 2, 0x0C: 4, 0x0D: 4, 0x0E: 8}.get(code, 1)
        payload = draw(hs.binary(min_size=size, max_size=size)) if size < 4096 else b""
        data = mutate(idx_bytes(code, dims, payload), draw(EDITS))
    return gzip.compress(data) if draw(hs.booleans()) else data


@FUZZ
@given(idx_files())
def test_fuzz_idx(data):
    result = outcome(load_idx, write("f.idx", data))
    assert result is None or isinstance(result, np.ndarray)


# ----------------------------------------------------------------------------------- CIFAR
def _tar(members) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for name, blob in members:
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return buf.getvalue()


@FUZZ
@given(records=hs.integers(0, 3), labels=hs.binary(min_size=3, max_size=3),
       name=hs.sampled_from(["b/test_batch.bin", "../x", "/abs", "b/other"]),
       edits=EDITS, gz=hs.booleans())
def test_fuzz_cifar(records, labels, name, edits, gz):
    blob = bytearray(records * RECORD)
    for i in range(records):
        blob[i * RECORD] = labels[i % 3]
    result = outcome(read_cifar_bin, mutate(bytes(blob), edits), "x.bin")
    assert result is None or result[0].shape == (len(result[1]), 3, 32, 32)
    archive = mutate(_tar([(name, bytes(blob))]), edits)
    path = write("c.tar.gz" if gz else "c.tar", gzip.compress(archive) if gz else archive)
    got = outcome(read_tar_members, path, ["b/test_batch.bin"])
    assert got is None or set(got) == {"b/test_batch.bin"}


# ---------------------------------------------------------------------------------- images
def _image_bytes(fmt: str, mode: str, w: int, h: int) -> bytes:
    arrays = {"L": np.uint8, "I;16": np.uint16, "I": np.int32, "F": np.float32, "RGB": np.uint8}
    shape = (h, w, 3) if mode == "RGB" else (h, w)
    a = (np.arange(np.prod(shape)) % 251).astype(arrays[mode]).reshape(shape)
    buf = io.BytesIO()
    Image.fromarray(a, mode=None if mode in ("L", "RGB", "I;16") else mode).save(buf, format=fmt)
    return buf.getvalue()


SEEDS = [_image_bytes(f, m, w, h) for f, m, w, h in [
    ("PNG", "L", 5, 4), ("PNG", "I;16", 4, 3), ("PNG", "RGB", 3, 3), ("TIFF", "F", 4, 4),
    ("TIFF", "I", 3, 5), ("BMP", "RGB", 4, 2), ("GIF", "L", 4, 4), ("JPEG", "RGB", 8, 8)]]


@FUZZ
@given(seed=hs.sampled_from(range(len(SEEDS))), edits=EDITS,
       mode=hs.sampled_from(["L", "RGB"]), size=hs.sampled_from([None, (3, 5)]),
       raw=hs.binary(max_size=48), use_raw=hs.booleans())
def test_fuzz_images(seed, edits, mode, size, raw, use_raw):
    data = raw if use_raw else mutate(SEEDS[seed], edits)
    x = outcome(read_image, write("i.img", data), mode, size)
    if x is not None:
        assert x.dtype == np.float32 and np.isfinite(x).all()
        assert x.min() >= 0 and x.max() <= 1 + 1e-6
    write("folder/a/x.png", data)
    write("folder/b/y.png", SEEDS[0])
    ds = outcome(ImageFolder, WORK / "folder", size or (4, 5), mode)
    assert ds is None or ds.x.shape[0] == 2


# ----------------------------------------------------------------------------- checkpoints
GOOD = save_checkpoint(WORK / "good.safetensors", models.get_model("mlp", (4,), hidden=(3,)),
                       extra={"data": {"name": "digits"}, "n": np.arange(3)})
GOOD_BYTES = GOOD.read_bytes()
with safe_open(GOOD, framework="numpy") as _fh:
    GOOD_META = dict(_fh.metadata())
JSON = hs.recursive(hs.none() | hs.booleans() | hs.integers(-2, 10 ** 6) | hs.floats()
                    | hs.text(max_size=6),
                    lambda c: hs.lists(c, max_size=4) | hs.dictionaries(hs.text(max_size=6), c,
                                                                        max_size=4),
                    max_leaves=12)
FIELDS = ["epoch", "rng", "model_keys", "extra", "architecture", "format_version", "optimizer"]


@FUZZ
@given(edits=EDITS, field=hs.sampled_from(FIELDS), value=JSON, how=hs.integers(0, 2))
def test_fuzz_checkpoints(edits, field, value, how):
    if how == 0:
        data = mutate(GOOD_BYTES, edits)
    else:
        arrays = st.load_file(GOOD)
        meta = dict(GOOD_META)
        meta[field] = json.dumps(value) if how == 1 else json.dumps(value)[:-1] or "x"
        data = st.save(arrays, metadata=meta)
    path = write("c.safetensors", data)
    ckpt = outcome(load_checkpoint, path)
    if ckpt is not None:
        outcome(load_model, ckpt)


# ------------------------------------------------------------------------ model descriptions
ARGS = ["out_channels", "out_features", "kernel_size", "stride", "padding", "dilation", "groups",
        "bias", "p", "output_size", "start_dim", "end_dim", "in_features", "in_channels",
        "num_features", "ceil_mode", "negative_slope", "dim", "in_size", "channels",
        "padding_mode", "affine", "approximate"]
VALUES = (hs.integers(-2, 9) | hs.sampled_from([0.5, "same", "valid", "reflect", None, True,
                                                 10 ** 30, 1e300, float("nan"), "x"])
          | hs.lists(hs.integers(-1, 5), max_size=3))
LAYER = hs.fixed_dictionaries(
    {"type": hs.sampled_from(sorted(models.LAYER_TYPES) + ["dense", "conv", "bogus", 3])},
    optional={a: VALUES for a in ARGS})
SPEC = hs.fixed_dictionaries(
    {"layers": hs.lists(LAYER, max_size=5) | JSON},
    optional={"input_shape": hs.lists(hs.integers(-1, 9), max_size=4) | JSON, "name": JSON})


@FUZZ
@given(spec=SPEC, as_text=hs.integers(0, 4), cut=hs.integers(0, 200), raw=hs.text(max_size=40))
def test_fuzz_model_specs(spec, as_text, cut, raw):
    text = json.dumps(spec)
    if as_text == 4:
        source = raw  # any string: JSON text, a path, or neither
    elif as_text == 0:
        source = spec
    elif as_text == 1:
        source = text if cut % 2 else text[: cut % (len(text) + 1)] or "{"
    else:
        path = WORK / ("s.yaml" if as_text == 3 else "s.json")
        path.write_text(text[: cut % (len(text) + 1)] if cut % 5 == 0 else text)
        source = str(path)
    model = outcome(models.build_model, source, None)
    assert model is None or hasattr(model, "spec")


@pytest.fixture(scope="module", autouse=True)
def _small_budget():
    """Valid but large models are refused by the budget, not allocated."""
    from convolve import limits

    with limits.override(memory_budget="64M"):
        yield
