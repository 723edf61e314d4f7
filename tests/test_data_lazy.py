"""Lazy image folders (convolve.data.LazyImages, open_image_folder): the same values as the
eager ImageFolder and read_image, numpy indexing semantics, worker processes, the
eager/lazy threshold, and a DataLoader that never decodes more than a batch."""

import numpy as np
import pytest

import convolve as cv
from convolve import limits
from convolve.data import (
    ArrayDataset,
    DataLoader,
    ImageFolder,
    LazyImages,
    Subset,
    open_image_folder,
)
from convolve.data import decode as decode_mod
from convolve.data.images import read_image
from convolve.data.transforms import RandomHorizontalFlip
from convolve.errors import DataError, LimitError
from convolve.train import fit


def write_tree(root, size=(6, 7), seed=0):
    """3 classes written unsorted; RGB, RGBA, palette, grey, 16-bit grey PNGs and a JPEG,
    all (H, W) = size; a README that is not an image."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    h, w = size
    rgb = lambda: rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    files = {
        "dog/0.png": Image.fromarray(rgb(), "RGB"),
        "dog/1.png": Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA"),
        "cat/a.png": Image.fromarray(rgb(), "RGB").convert("P", palette=Image.Palette.ADAPTIVE),
        "cat/b.png": Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L"),
        "cat/c.png": Image.fromarray(rng.integers(0, 65536, (h, w), dtype=np.uint16)),
        "bird/z.JPG": Image.fromarray(rgb(), "RGB"),
        "bird/y.png": Image.fromarray(rgb(), "RGB"),
    }
    for name, img in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        img.save(root / name)
    (root / "cat" / "README.txt").write_text("not an image")
    return root


@pytest.fixture
def tree(tmp_path):
    return write_tree(tmp_path / "tree")


def reference(ds: ImageFolder, mode, size) -> np.ndarray:
    """read_image file by file, stacked (N, C, H, W): an oracle independent of both readers."""
    imgs = [read_image(p, mode, size) for p, _ in ds.samples]
    x = np.stack(imgs)
    return x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)


@pytest.mark.parametrize("mode", ["L", "RGB"])
@pytest.mark.parametrize("size", [None, (4, 9)])
def test_lazy_values_equal_eager_image_folder(tree, mode, size):
    eager = ImageFolder(tree, size=size, mode=mode)
    x, y, classes = open_image_folder(tree, size=size, mode=mode, lazy=True)
    assert isinstance(x, LazyImages) and classes == eager.classes == ["bird", "cat", "dog"]
    assert x.shape == eager.x.shape and x.dtype == np.float32 and x.ndim == 4 and len(x) == 7
    assert x.nbytes == eager.x.nbytes
    assert [str(p) for p, _ in eager.samples] == x.paths
    np.testing.assert_array_equal(y, eager.y)
    decoded = x[:]
    assert decoded.dtype == np.float32
    np.testing.assert_array_equal(decoded, eager.x)
    np.testing.assert_array_equal(decoded, reference(eager, mode, size))
    assert 0.0 <= decoded.min() and decoded.max() <= 1.0 and decoded.max() > 0.9
    ex, ey, _ = open_image_folder(tree, size=size, mode=mode)  # small: eager by default
    assert type(ex) is np.ndarray
    np.testing.assert_array_equal(ex, eager.x)
    np.testing.assert_array_equal(ey, eager.y)


def test_indexing_forms(tree):
    x, _, _ = open_image_folder(tree, lazy=True)
    full = x[:]
    n = len(x)
    np.testing.assert_array_equal(x[2], full[2])
    np.testing.assert_array_equal(x[np.int64(-1)], full[-1])
    np.testing.assert_array_equal(x[5:1:-2], full[5:1:-2])
    np.testing.assert_array_equal(x[[3, 0, 3]], full[[3, 0, 3]])
    np.testing.assert_array_equal(x[np.array([-2, 1])], full[[-2, 1]])
    mask = np.arange(n) % 3 == 0
    np.testing.assert_array_equal(x[mask], full[mask])
    np.testing.assert_array_equal(x[2, 0], full[2, 0])
    np.testing.assert_array_equal(x[[1, 4], :, 1:3], full[[1, 4], :, 1:3])
    assert x[[]].shape == (0, 3, 6, 7) and x[n:].shape == (0, 3, 6, 7)
    with pytest.raises(IndexError, match="index 7 is out of range for 7 images"):
        x[7]
    with pytest.raises(IndexError, match=r"indices must lie in \[-7, 7\), received min 0, max 9"):
        x[[0, 9]]
    with pytest.raises(IndexError, match=r"boolean mask must have shape \(7,\), received \(3,\)"):
        x[np.ones(3, bool)]
    with pytest.raises(TypeError, match="index must be an int, a slice"):
        x[np.array([0.5])]


def test_subset_decodes_nothing_until_indexed(tree, monkeypatch):
    x, _, _ = open_image_folder(tree, mode="L", size=5, lazy=True)
    full = x[:]
    calls = []
    real = decode_mod.decode_chunk
    monkeypatch.setattr(decode_mod, "decode_chunk", lambda p, *a: calls.append(len(p)) or real(p, *a))
    sub = x.subset([4, 0, 6])
    sub2 = sub.subset(np.array([False, True, True]))
    sub3 = x.subset(slice(1, None, 3))
    assert calls == [] and sub.shape == (3, 1, 5, 5) and sub2.shape == (2, 1, 5, 5)
    assert sub2.paths == [x.paths[0], x.paths[6]] and len(sub3) == 2
    np.testing.assert_array_equal(sub[:], full[[4, 0, 6]])
    np.testing.assert_array_equal(sub2[-1], full[6])
    np.testing.assert_array_equal(sub3[:], full[1::3])
    assert calls == [3, 1, 2]


@pytest.mark.parametrize("mode", ["L", "RGB"])
def test_channel_stats_equal_numpy_on_the_decoded_array(tree, mode):
    from convolve.data.arrays import channel_stats

    x, _, _ = open_image_folder(tree, mode=mode, size=(5, 4), lazy=True)
    full = x[:].astype(np.float64)
    mean, std = channel_stats(x, batch=3)  # 7 images: batches of 3, 3 and 1
    np.testing.assert_allclose(mean, full.mean(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(std, full.std(axis=(0, 2, 3)), rtol=1e-12)
    assert mean.shape == std.shape == (x.shape[1],)


def test_size_mismatch_names_the_file_and_both_sizes(tree):
    from PIL import Image

    Image.fromarray(np.zeros((9, 4), np.uint8), "L").save(tree / "dog" / "odd.png")
    x, _, _ = open_image_folder(tree, lazy=True)  # only the first header is read up front
    odd = x.paths.index(str(tree / "dog" / "odd.png"))
    x[:odd]  # the images before it decode
    with pytest.raises(DataError) as err:
        x[[0, odd]]
    text = str(err.value)
    assert "\n" not in text and f"{tree / 'dog' / 'odd.png'} is 9x4 (HxW)" in text
    assert f"but {tree / 'bird' / 'y.png'} is 6x7" in text and "pass size=(H, W)" in text
    resized, _, _ = open_image_folder(tree, size=(6, 7), lazy=True)
    np.testing.assert_array_equal(resized[odd], np.zeros((3, 6, 7), np.float32))


@pytest.mark.parametrize("workers", [0, 2])
def test_corrupt_and_missing_files_one_line(tree, workers, monkeypatch):
    (tree / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with open_image_folder(tree, lazy=True, workers=workers)[0] as x:
        k = x.paths.index(str(tree / "cat" / "broken.png"))
        with pytest.raises(DataError, match=r"^cannot read image .*broken\.png: [^\n]*$"):
            x[[0, 1, 2, k]]
        np.testing.assert_array_equal(x[k - 1], read_image(x.paths[k - 1]).transpose(2, 0, 1))
        (tree / "bird" / "y.png").unlink()
        with pytest.raises(FileNotFoundError, match=r"no such image: .*y\.png"):
            x[:2]
    with limits.override(image_pixels=10), pytest.raises(
            LimitError, match=r"z\.JPG: 7x6 image: 42 pixels exceeds the limit of 10"):
        LazyImages([tree / "bird" / "z.JPG"])
    x = LazyImages([tree / "bird" / "z.JPG", tree / "dog" / "0.png"], size=3, workers=workers)
    x[:]  # starts the workers: a limit set afterwards still reaches them
    if workers == 0:
        from PIL import Image

        for cap in (20, 30):  # 42 pixels: over 2x the cap (an error) or over 1x (a warning)
            with monkeypatch.context() as m, pytest.raises(LimitError, match="decompression bomb"):
                m.setattr(Image, "MAX_IMAGE_PIXELS", cap)
                x[1:]
    with limits.override(image_pixels=41), pytest.raises(LimitError, match=r"0\.png: 7x6 image"):
        x[1:]  # checked from each header as the batch is decoded
    x.close()


def test_workers_equal_in_process_through_the_loader(tree):
    x0, y, _ = open_image_folder(tree, size=(5, 5), lazy=True)
    x2, _, _ = open_image_folder(tree, size=(5, 5), lazy=True, workers=2)
    flip = RandomHorizontalFlip(0.5)  # seeded per batch: the same flips on both sides
    with x2:
        for loader_x in (x2, x2.subset(slice(None))):
            got = list(DataLoader(ArrayDataset(loader_x, y), batch_size=3, shuffle=True, seed=4,
                                  transform=flip))
            want = list(DataLoader(ArrayDataset(x0[:], y), batch_size=3, shuffle=True, seed=4,
                                   transform=flip))
            assert len(got) == len(want) == 3
            for (a, ay), (b, by) in zip(got, want):
                np.testing.assert_array_equal(a, b)
                np.testing.assert_array_equal(ay, by)
        x2.close()  # the pool restarts when needed again
        np.testing.assert_array_equal(x2[[6, 1]], x0[[6, 1]])
    eager = open_image_folder(tree, size=(5, 5), lazy=False, workers=2)[0]
    np.testing.assert_array_equal(eager, x0[:])
    with pytest.raises(ValueError, match="workers must be an int >= 0, received workers=-1"):
        open_image_folder(tree, workers=-1)


def test_training_never_materialises_the_folder(tree, monkeypatch):
    """fit over a lazy folder (with a held-out split) decodes batch by batch: __array__ and
    decode_all are never called and no decode call sees more than one batch."""
    x, y, _ = open_image_folder(tree, size=8, mode="L", lazy=True)
    touched, sizes = [], []
    monkeypatch.setattr(LazyImages, "__array__", lambda self, *a, **k: touched.append("array"))
    monkeypatch.setattr(LazyImages, "decode_all", lambda self: touched.append("all"))
    real = decode_mod.decode_chunk
    monkeypatch.setattr(decode_mod, "decode_chunk", lambda p, *a: sizes.append(len(p)) or real(p, *a))
    ds = ArrayDataset(x, y)
    assert ds.x is x and ds[3][0].shape == (1, 8, 8) and ds[3][1] == y[3]
    cv.manual_seed(0)
    model = cv.nn.Sequential(cv.nn.Conv2d(1, 2, 3), cv.nn.ReLU(), cv.nn.Flatten(),
                             cv.nn.Linear(72, 3))
    history = fit(model, ds, val_split=0.3, epochs=2, batch_size=2, seed=0, verbose=0)
    assert touched == [] and history.sizes["train"] + history.sizes["val"] == 7
    assert len(sizes) > 4 and max(sizes) == 2 and sum(sizes[:-1]) >= 2 * 7
    loader = DataLoader(Subset(ds, [0, 2, 4]), batch_size=2)
    assert [b[0].shape[0] for b in loader] == [2, 1] and touched == []


def test_eager_threshold_and_array_limit(tree, monkeypatch):
    nbytes = 7 * 3 * 6 * 7 * 4
    with limits.override(eager_image_bytes=nbytes):
        assert type(open_image_folder(tree)[0]) is np.ndarray
    with limits.override(eager_image_bytes=nbytes - 1):
        x = open_image_folder(tree)[0]
        assert isinstance(x, LazyImages)
        assert type(open_image_folder(tree, lazy=False)[0]) is np.ndarray
        with pytest.raises(LimitError, match=f"decoding all 7 images .* {nbytes:,} bytes exceeds "
                                             "the limit .*CONVOLVE_MAX_EAGER_IMAGE_BYTES"):
            np.asarray(x)
    monkeypatch.setenv("CONVOLVE_MAX_EAGER_IMAGE_BYTES", "1K")
    x = open_image_folder(tree)[0]
    assert isinstance(x, LazyImages) and repr(x).startswith("LazyImages(shape=(7, 3, 6, 7)")
    monkeypatch.setenv("CONVOLVE_MAX_EAGER_IMAGE_BYTES", "0")  # no limit: always eager
    assert type(open_image_folder(tree)[0]) is np.ndarray
    assert isinstance(open_image_folder(tree, lazy=True)[0], LazyImages)
    full = np.asarray(x)
    np.testing.assert_array_equal(full, ImageFolder(tree).x)
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    with pytest.raises(ValueError, match=r"asarray\(x, copy=False\) is impossible"):
        x.__array__(copy=False)
    with pytest.raises(TypeError, match="lazy must be None, True or False, received 'yes'"):
        open_image_folder(tree, lazy="yes")
    with pytest.raises(ValueError, match="mode must be 'L' or 'RGB', received mode='CMYK'"):
        open_image_folder(tree, mode="CMYK")
    with pytest.raises(FileNotFoundError, match="open_image_folder: root .* is not a directory"):
        open_image_folder(tree / "nope")


def test_bench_decode_smoke(torch, tmp_path, monkeypatch):
    """benchmarks/bench_decode.py end to end on 60 images: both frameworks see every image
    of every pass, and the report's medians and ratios are computed from the passes."""
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import bench_decode

    report = bench_decode.main(["--n", "60", "--size", "8", "--reps", "2", "--cases", "0", "2",
                                "--root", str(tmp_path / "pngs"), "--out", str(tmp_path)])
    assert sorted(p.name for p in (tmp_path / "pngs").iterdir()) == [".complete"] + [
        f"c{c}" for c in range(10)]
    for case in report["cases"].values():
        assert len(case["convolve_images_per_s"]) == len(case["torch_images_per_s"]) == 2
        assert case["ratio_median"] == case["convolve_median"] / case["torch_median"]
    assert "| 2 | workers=2 | num_workers=2 |" in (tmp_path / "bench_decode.md").read_text()
