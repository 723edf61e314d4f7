"""File formats: IDX / MNIST (+ verified download), CIFAR-10 binary (folder and tarball),
ImageFolder. Every fixture file is written into tmp_path; downloads use file:// mirrors."""

import gzip
import hashlib
import io
import struct
import tarfile
from typing import ClassVar

import numpy as np
import pytest

from convolve.data import (
    CIFAR10,
    MNIST,
    DownloadError,
    FashionMNIST,
    ImageFolder,
    download_file,
    load_cifar10,
    load_idx,
    load_mnist,
    sha256_file,
)

# The IDX spec's type codes, written out independently of the reader's table.
IDX_CODES = {np.dtype("u1"): 0x08, np.dtype("i1"): 0x09, np.dtype(">i2"): 0x0B,
             np.dtype(">i4"): 0x0C, np.dtype(">f4"): 0x0D, np.dtype(">f8"): 0x0E}


def idx_bytes(arr):
    arr = np.asarray(arr)
    big = arr.astype(arr.dtype.newbyteorder(">")) if arr.dtype.itemsize > 1 else arr
    head = bytes([0, 0, IDX_CODES[big.dtype], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return head + big.tobytes()


def write(path, data, gz=False):
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def mnist_folder(root, n_train=12, n_test=5, gz=True, seed=0):
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        ext = ".gz" if gz else ""
        write(root / f"{prefix}-images-idx3-ubyte{ext}", idx_bytes(images), gz)
        write(root / f"{prefix}-labels-idx1-ubyte{ext}", idx_bytes(labels), gz)
        arrays[prefix] = (images, labels)
    return arrays


# ---------------------------------------------------------------- IDX
@pytest.mark.parametrize("dtype", ["u1", "i1", ">i2", ">i4", ">f4", ">f8"])
@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_round_trip(tmp_path, dtype, gz):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    out = load_idx(write(tmp_path / "a.idx", idx_bytes(arr), gz))
    assert out.shape == (3, 4, 5) and out.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(out, arr)


def test_load_idx_one_dim(tmp_path):
    labels = np.arange(7, dtype=np.uint8)
    np.testing.assert_array_equal(load_idx(write(tmp_path / "l", idx_bytes(labels))), labels)


def test_load_idx_bad_magic(tmp_path):
    p = write(tmp_path / "bad.idx", b"\x00\x01\x08\x01" + b"\0" * 8)
    with pytest.raises(ValueError, match=r"bad.idx: not an IDX file: expected a magic number .*"
                                         r"found 00 01 08 01"):
        load_idx(p)
    with pytest.raises(ValueError, match="found an empty file"):
        load_idx(write(tmp_path / "empty", b""))


@pytest.mark.parametrize("gz", [False, True])
def test_load_idx_truncated_data(tmp_path, gz):
    images = np.zeros((6, 28, 28), dtype=np.uint8)
    data = idx_bytes(images)[:-100]
    p = write(tmp_path / "train-images-idx3-ubyte", data, gz)
    expected, found = 6 * 28 * 28, 6 * 28 * 28 - 100
    with pytest.raises(ValueError, match=f"train-images-idx3-ubyte: expected {expected} bytes of "
                                         f"data for 6x28x28 uint8, found {found}"):
        load_idx(p)
    with pytest.raises(ValueError, match="expected 16 header bytes for 3 dims, found 10"):
        load_idx(write(tmp_path / "short", idx_bytes(images)[:10]))
    with pytest.raises(ValueError, match="found 4704"):  # trailing junk is an error too
        load_idx(write(tmp_path / "long", idx_bytes(images[:5]) + b"\0" * 784))


def test_load_idx_truncated_gzip_and_missing(tmp_path):
    blob = gzip.compress(idx_bytes(np.arange(5000, dtype=np.uint8).reshape(50, 100)))
    p = write(tmp_path / "x.gz", blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="x.gz: corrupted or truncated gzip"):
        load_idx(p)
    with pytest.raises(FileNotFoundError, match="nope"):
        load_idx(tmp_path / "nope")


# ---------------------------------------------------------------- MNIST
@pytest.mark.parametrize("gz", [True, False])
def test_mnist_from_folder(tmp_path, gz):
    arrays = mnist_folder(tmp_path, gz=gz)
    for train, prefix in ((True, "train"), (False, "t10k")):
        ds = MNIST(tmp_path, train=train)
        images, labels = arrays[prefix]
        assert ds.x.shape == (len(images), 1, 28, 28) and ds.x.dtype == np.float32
        np.testing.assert_allclose(ds.x[:, 0], images / 255.0, rtol=1e-6)
        np.testing.assert_array_equal(ds.y, labels)
        assert ds.y.dtype == np.int64
    split = load_mnist(tmp_path)
    assert split.x_train.shape == (12, 1, 28, 28) and split.x_test.shape == (5, 1, 28, 28)


def test_mnist_missing_and_inconsistent_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"found neither train-images-idx3-ubyte.gz nor "
                                                r"train-images-idx3-ubyte in .*download=True"):
        MNIST(tmp_path)
    mnist_folder(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros(11, np.uint8)), gz=True)
    with pytest.raises(ValueError, match="holds 12 images but train-labels-idx1-ubyte.gz holds 11"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.full(12, 10, np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"expected labels in \[0, 9\], found 10"):
        MNIST(tmp_path)
    write(tmp_path / "train-labels-idx1-ubyte.gz", idx_bytes(np.zeros((12, 2), np.uint8)), gz=True)
    with pytest.raises(ValueError, match=r"expected uint8 labels of shape \(N,\)"):
        MNIST(tmp_path)


def hashes_of(folder):
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.iterdir()}


def test_mnist_download_from_file_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    arrays = mnist_folder(mirror, gz=True, seed=3)

    class TinyMNIST(MNIST):
        resources: ClassVar[dict] = hashes_of(mirror)

    dest = tmp_path / "data"
    missing = (tmp_path / "offline").as_uri() + "/"  # first mirror fails, second serves
    ds = TinyMNIST(dest, train=True, download=True, mirrors=[missing, mirror.as_uri()])
    np.testing.assert_array_equal(ds.y, arrays["train"][1])
    assert sorted(p.name for p in dest.iterdir()) == ["train-images-idx3-ubyte.gz",
                                                      "train-labels-idx1-ubyte.gz"]
    for p in dest.iterdir():
        assert sha256_file(p) == TinyMNIST.resources[p.name]
    test = TinyMNIST(dest, train=False, download=True, mirrors=[mirror.as_uri()])
    assert len(test) == 5


def test_download_hash_mismatch_deletes_file(tmp_path):
    mirror = tmp_path / "mirror"
    mnist_folder(mirror, seed=1)

    class WrongHash(FashionMNIST):
        resources: ClassVar[dict] = {k: "0" * 64 for k in hashes_of(mirror)}

    dest = tmp_path / "data"
    with pytest.raises(DownloadError, match="SHA-256 mismatch, expected 0000"):
        WrongHash(dest, download=True, mirrors=[mirror.as_uri()])
    assert list(dest.iterdir()) == []  # neither the file nor a temp file is left


def test_download_file_arguments(tmp_path):
    with pytest.raises(ValueError, match="mirrors must be a non-empty list"):
        download_file("a", "file:///x/", tmp_path, "0" * 64)
    src = write(tmp_path / "blob", b"hello")
    out = download_file("blob", [tmp_path.as_uri()], tmp_path / "d", sha256_file(src))
    assert out.read_bytes() == b"hello"


def test_download_never_touches_network(tmp_path, monkeypatch):
    import urllib.request

    served = []
    mirror = tmp_path / "m"
    mirror.mkdir()
    payload = write(mirror / "train-images-idx3-ubyte.gz", b"x")
    real = urllib.request.urlopen

    def fake(url, timeout=None):
        served.append(url)
        assert url.startswith("file://")
        return real(url, timeout=timeout)

    monkeypatch.setattr(urllib.request, "urlopen", fake)
    download_file(payload.name, [mirror.as_uri()], tmp_path / "d", sha256_file(payload))
    assert served == [mirror.as_uri() + "/train-images-idx3-ubyte.gz"]


# ---------------------------------------------------------------- CIFAR-10 binary
def cifar_records(n, seed):
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, n).astype(np.uint8)
    blob = b"".join(bytes([labels[i]]) + images[i].tobytes() for i in range(n))
    return blob, images, labels


CIFAR_NAMES = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]


def cifar_files(seed=0):
    return {name: cifar_records(3 + k, seed + k) for k, name in enumerate(CIFAR_NAMES)}


def write_cifar_folder(folder, files):
    folder.mkdir(parents=True, exist_ok=True)
    for name, (blob, _, _) in files.items():
        (folder / name).write_bytes(blob)


def write_tar(path, members, mode="w:gz"):
    with tarfile.open(path, mode) as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def check_cifar(ds, files, names):
    images = np.concatenate([files[n][1] for n in names])
    labels = np.concatenate([files[n][2] for n in names])
    assert ds.x.shape == (len(labels), 3, 32, 32) and ds.x.dtype == np.float32
    np.testing.assert_allclose(ds.x, images / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(ds.y, labels)


@pytest.mark.parametrize("layout", ["batches-folder", "root", "tarball"])
def test_cifar10_layouts(tmp_path, layout):
    files = cifar_files()
    if layout == "batches-folder":
        write_cifar_folder(tmp_path / "cifar-10-batches-bin", files)
    elif layout == "root":
        write_cifar_folder(tmp_path, files)
    else:
        write_tar(tmp_path / "cifar-10-binary.tar.gz",
                  {f"cifar-10-batches-bin/{n}": b for n, (b, _, _) in files.items()})
    check_cifar(CIFAR10(tmp_path, train=True), files, CIFAR_NAMES[:5])
    check_cifar(CIFAR10(tmp_path, train=False), files, CIFAR_NAMES[5:])


def test_cifar10_truncated_and_bad_records(tmp_path):
    files = cifar_files()
    write_cifar_folder(tmp_path, files)
    blob = files["test_batch.bin"][0]
    (tmp_path / "test_batch.bin").write_bytes(blob[:-10])
    n = len(blob) - 10
    with pytest.raises(ValueError, match=f"test_batch.bin: expected a whole number of 3073-byte "
                                         f"records .* found {n} bytes \\({n // 3073} records "
                                         f"and {n % 3073} bytes left over\\)"):
        CIFAR10(tmp_path, train=False)
    bad = bytearray(blob)
    bad[3073] = 12  # label of record 1
    (tmp_path / "test_batch.bin").write_bytes(bytes(bad))
    with pytest.raises(ValueError, match=r"expected labels in \[0, 9\], found 12 in record 1"):
        CIFAR10(tmp_path, train=False)


def test_cifar10_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"CIFAR10: found neither data_batch_1.bin.*"
                                                r"cifar-10-binary.tar.gz"):
        CIFAR10(tmp_path)


def test_cifar10_tarball_safety(tmp_path):
    files = cifar_files()
    good = {f"cifar-10-batches-bin/{n}": b for n, (b, _, _) in files.items()}
    for evil in ("../evil.bin", "/abs/evil.bin", "cifar-10-batches-bin/../../evil.bin"):
        root = tmp_path / f"r{abs(hash(evil))}"
        root.mkdir()
        write_tar(root / "cifar-10-binary.tar.gz", {**good, evil: b"x"})
        with pytest.raises(ValueError, match="refusing archive with unsafe member"):
            CIFAR10(root)
        assert not (tmp_path / "evil.bin").exists()
    root = tmp_path / "link"
    root.mkdir()
    with tarfile.open(root / "cifar-10-binary.tar.gz", "w:gz") as tar:
        link = tarfile.TarInfo("cifar-10-batches-bin/test_batch.bin")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        tar.addfile(link)
    with pytest.raises(ValueError, match="unsafe member"):
        CIFAR10(root, train=False)


def test_cifar10_tarball_missing_member_and_truncated(tmp_path):
    files = cifar_files()
    partial = {f"cifar-10-batches-bin/{n}": files[n][0] for n in CIFAR_NAMES[:2]}
    write_tar(tmp_path / "cifar-10-binary.tar.gz", partial)
    with pytest.raises(FileNotFoundError, match="no regular file cifar-10-batches-bin/"
                                                "data_batch_3.bin in the archive"):
        CIFAR10(tmp_path)
    blob = write_tar(tmp_path / "full.tar.gz", {f"cifar-10-batches-bin/{n}": b
                                                for n, (b, _, _) in files.items()}).read_bytes()
    (tmp_path / "cifar-10-binary.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match="cifar-10-binary.tar.gz: corrupted or truncated"):
        CIFAR10(tmp_path)


def test_cifar10_download_from_file_mirror(tmp_path):
    files = cifar_files(seed=5)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    tarball = write_tar(mirror / "cifar-10-binary.tar.gz",
                        {f"cifar-10-batches-bin/{n}": b for n, (b, _, _) in files.items()})

    class TinyCIFAR(CIFAR10):
        sha256 = sha256_file(tarball)

    ds = TinyCIFAR(tmp_path / "data", train=False, download=True, mirrors=[mirror.as_uri()])
    check_cifar(ds, files, CIFAR_NAMES[5:])
    with pytest.raises(DownloadError, match="SHA-256 mismatch"):
        CIFAR10(tmp_path / "other", download=True, mirrors=[mirror.as_uri()])
    assert list((tmp_path / "other").iterdir()) == []
    split = load_cifar10(tmp_path / "data")
    assert split.x_train.shape == (sum(3 + k for k in range(5)), 3, 32, 32)


# ---------------------------------------------------------------- ImageFolder
def image_tree(root, size=(5, 6), seed=0):
    """Classes written unsorted; RGB PNGs of (H, W) = size, plus a grey JPEG and a README."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    pixels = {}
    for cls, n in (("dog", 2), ("cat", 3), ("bird", 1)):
        (root / cls).mkdir(parents=True)
        for i in range(n):
            arr = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
            Image.fromarray(arr, "RGB").save(root / cls / f"{i}.png")
            pixels[(cls, f"{i}.png")] = arr
    (root / "cat" / "README.txt").write_text("not an image")
    return pixels


def test_image_folder_rgb_and_gray(tmp_path):
    from PIL import Image

    pixels = image_tree(tmp_path)
    ds = ImageFolder(tmp_path, mode="RGB")
    assert ds.classes == ["bird", "cat", "dog"] and ds.class_to_idx["dog"] == 2
    assert ds.x.shape == (6, 3, 5, 6) and ds.x.dtype == np.float32
    np.testing.assert_array_equal(ds.y, [0, 1, 1, 1, 2, 2])
    for k, (path, label) in enumerate(ds.samples):
        arr = pixels[(path.parent.name, path.name)]
        np.testing.assert_allclose(ds.x[k], arr.transpose(2, 0, 1) / 255.0, rtol=1e-6)
        assert ds.classes[label] == path.parent.name
    gray = ImageFolder(tmp_path, mode="L")
    assert gray.x.shape == (6, 1, 5, 6)
    first = np.asarray(Image.fromarray(pixels[("bird", "0.png")]).convert("L"))
    np.testing.assert_allclose(gray.x[0, 0], first / 255.0, rtol=1e-6)


def test_image_folder_resize_and_jpeg(tmp_path):
    from PIL import Image

    image_tree(tmp_path)
    Image.fromarray(np.full((9, 4), 200, np.uint8), "L").save(tmp_path / "dog" / "big.JPG")
    with pytest.raises(ValueError, match=r"big.JPG is 9x4 \(HxW\) but .* is 5x6; pass size"):
        ImageFolder(tmp_path)
    ds = ImageFolder(tmp_path, size=(7, 3), mode="RGB")
    assert ds.x.shape == (7, 3, 7, 3) and 0.0 <= ds.x.min() and ds.x.max() <= 1.0
    k = [p.name for p, _ in ds.samples].index("big.JPG")
    np.testing.assert_allclose(ds.x[k], 200 / 255.0, atol=3 / 255)  # flat grey survives JPEG
    assert ImageFolder(tmp_path, size=4, mode="L").x.shape == (7, 1, 4, 4)


def test_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        ImageFolder(tmp_path / "missing")
    (tmp_path / "a").mkdir()
    with pytest.raises(FileNotFoundError, match="no images found under .*one subfolder per class"):
        ImageFolder(tmp_path)
    image_tree(tmp_path / "t")
    (tmp_path / "t" / "cat" / "broken.png").write_bytes(b"\x89PNG garbage")
    with pytest.raises(ValueError, match=r"cannot read image .*broken.png"):
        ImageFolder(tmp_path / "t")
    with pytest.raises(ValueError, match="mode must be 'L' or 'RGB', received mode='CMYK'"):
        ImageFolder(tmp_path / "t", mode="CMYK")
    with pytest.raises(ValueError, match="size must be None, a positive int"):
        ImageFolder(tmp_path / "t", size=(0, 3))


def test_image_folder_truncated_png(tmp_path):
    image_tree(tmp_path, size=(32, 32))
    p = tmp_path / "cat" / "1.png"
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError, match=r"cannot read image .*1.png"):
        ImageFolder(tmp_path)
