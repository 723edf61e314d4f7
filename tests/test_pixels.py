"""Pixels scaled to [0, 1] by their real range, per Pillow mode: 16-bit, 32-bit int, float,
palette, LA, RGBA. Each image is written by Pillow here; the expected values come from the
array written (divided by the mode's range) or a naive palette lookup, never pasted."""

import numpy as np
import pytest
from PIL import Image

from convolve.cli import load_image
from convolve.data import ImageFolder
from convolve.data.images import read_image


def save(path, array, mode=None):
    img = Image.fromarray(array) if mode is None else Image.fromarray(array, mode=mode)
    img.save(path)
    return path


@pytest.fixture
def ramp16():
    return np.linspace(0, 65535, 48).round().astype(np.uint16).reshape(6, 8)


def test_mid_grey_16bit_png_reads_as_half(tmp_path):
    path = save(tmp_path / "grey.png", np.full((5, 7), 32768, np.uint16))
    assert Image.open(path).mode.startswith("I")  # a real 16-bit file
    x = read_image(path, "L")
    np.testing.assert_allclose(x, 32768 / 65535, rtol=1e-6)
    rgb = read_image(path, "RGB")
    assert rgb.shape == (5, 7, 3)
    np.testing.assert_allclose(rgb, 32768 / 65535, rtol=1e-6)
    model_input = load_image(path, (1, 5, 7))
    np.testing.assert_allclose(model_input.mean(), 32768 / 65535, rtol=1e-6)


def test_16bit_ramp_is_not_clipped(tmp_path, ramp16):
    x = read_image(save(tmp_path / "ramp.png", ramp16), "L")
    np.testing.assert_allclose(x, ramp16 / 65535, rtol=1e-6, atol=1e-7)
    assert x.max() == pytest.approx(1.0) and len(np.unique(x)) == ramp16.size


def test_16bit_resized_keeps_the_scale(tmp_path):
    path = save(tmp_path / "grey.png", np.full((40, 40), 16384, np.uint16))
    x = read_image(path, "L", size=(10, 12))
    assert x.shape == (10, 12)
    np.testing.assert_allclose(x, 16384 / 65535, rtol=1e-5)


@pytest.mark.parametrize("values,lo,hi", [((0, 40000), 0, 65535),   # fits 16 bits
                                          ((-5, 100000), -5, 100000)])  # own range
def test_32bit_int_images(tmp_path, values, lo, hi):
    a = np.linspace(*values, 30).round().astype(np.int32).reshape(5, 6)
    path = save(tmp_path / "i32.tif", a, "I")
    assert Image.open(path).mode == "I"
    np.testing.assert_allclose(read_image(path, "L"), (a - lo) / (hi - lo), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("values", [(0.0, 1.0), (0.25, 0.5), (-2.0, 3.0)])
def test_float_images(tmp_path, values):
    a = np.linspace(*values, 30, dtype=np.float32).reshape(5, 6)
    path = save(tmp_path / "f.tif", a, "F")
    assert Image.open(path).mode == "F"
    x = read_image(path, "L")
    if values[0] >= 0 and values[1] <= 1:
        expected = a  # already in [0, 1]: kept as is
    else:
        expected = (a - a.min()) / (a.max() - a.min())
    np.testing.assert_allclose(x, expected, rtol=1e-6, atol=1e-7)


def test_palette_image(tmp_path):
    rng = np.random.default_rng(0)
    palette = rng.integers(0, 256, (16, 3), dtype=np.uint8)
    index = rng.integers(0, 16, (6, 9), dtype=np.uint8)
    img = Image.fromarray(index, mode="P")
    img.putpalette(palette.ravel().tolist())
    img.save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    np.testing.assert_allclose(read_image(tmp_path / "p.png", "RGB"), palette[index] / 255,
                               rtol=1e-6)


@pytest.mark.parametrize("mode,channels", [("LA", 2), ("RGBA", 4)])
def test_alpha_is_dropped_colour_scaled_by_255(tmp_path, mode, channels):
    a = np.random.default_rng(1).integers(0, 256, (5, 6, channels), dtype=np.uint8)
    path = save(tmp_path / "a.png", a, mode)
    assert Image.open(path).mode == mode
    want = "L" if mode == "LA" else "RGB"
    x = read_image(path, want)
    expected = a[..., 0] if mode == "LA" else a[..., :3]
    np.testing.assert_allclose(x, expected / 255, rtol=1e-6)


def test_image_folder_with_16bit_images(tmp_path, ramp16):
    for cls in ("a", "b"):
        (tmp_path / cls).mkdir()
        save(tmp_path / cls / "x.png", ramp16)
    ds = ImageFolder(tmp_path, mode="L")
    assert ds.x.shape == (2, 1, 6, 8) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x[0, 0], ramp16 / 65535, rtol=1e-6, atol=1e-7)
