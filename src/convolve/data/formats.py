"""Detecting and reading the dataset formats a ``--data PATH`` may point at.

:func:`detect` names the one format a path holds (image folder, IDX, CIFAR-10, CIFAR-100,
npz) or raises a one-line error saying what was found and what was expected (two matching
formats: ambiguous, and both are named). :func:`load_path` reads it into a :class:`Raw`:
arrays in (N, C, ...) layout, labels, class names, and no test part when the format has
none (the resolver then splits). See :mod:`convolve.data.resolve`.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import DataError
from .arrays import as_channels, resize_images, to_channels_first
from .dataset import check_labels
from .imagefolder import IMG_EXTENSIONS

__all__ = ["EXPECTED", "Raw", "detect", "load_path", "shaped"]

EXPECTED = "expected class sub-folders of images, IDX files, CIFAR binaries or an .npz"
_IDX = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte")
_CIFAR = {"cifar10": ("cifar-10-batches-bin", "test_batch.bin", "cifar-10-binary.tar.gz"),
          "cifar100": ("cifar-100-binary", "test.bin", "cifar-100-binary.tar.gz")}
_NAMES = {"images": "class sub-folders of images", "idx": "IDX files",
          "cifar10": "CIFAR-10 binaries", "cifar100": "CIFAR-100 binaries"}


@dataclass
class Raw:
    """What a format holds: x (N, C, ...) arrays or array-likes, int64 labels, class names;
    ``x_test`` is None when the format has no test part. ``sized``: images already read
    at the asked size and channels."""

    format: str
    x_train: object
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray | None
    classes: list | None
    sized: bool = False


# ------------------------------------------------------------------------------- detection
def _has_images(folder: Path) -> bool:
    return any(p.suffix.lower() in IMG_EXTENSIONS for p in folder.iterdir() if p.is_file())


def _class_dirs(folder: Path) -> list:
    return [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")]


def _is_image_folder(path: Path) -> bool:
    return any(_has_images(d) for d in _class_dirs(path)) or (
        (path / "train").is_dir() and any(_has_images(d) for d in _class_dirs(path / "train")))


def _is_idx(path: Path) -> bool:
    return any((path / n).is_file() or (path / (n + ".gz")).is_file() for n in _IDX[:2])


def _is_cifar(kind: str):
    sub, probe, archive = _CIFAR[kind]
    return lambda path: ((path / probe).is_file() or (path / sub / probe).is_file()
                         or (path / archive).is_file())


_TESTS = {"images": _is_image_folder, "idx": _is_idx, "cifar10": _is_cifar("cifar10"),
          "cifar100": _is_cifar("cifar100")}


def describe(path: Path) -> str:
    """What a folder holds, in a few words: 'a folder with 3 .csv files and 1 sub-folder'."""
    entries = list(path.iterdir())
    if not entries:
        return "an empty folder"
    counts: dict = {}
    for e in entries:
        kind = "sub-folder" if e.is_dir() else f"{e.suffix.lower() or 'extension-less'} file"
        counts[kind] = counts.get(kind, 0) + 1
    parts = [f"{n} {k}{'s' if n > 1 else ''}" for k, n in sorted(counts.items())]
    return "a folder with " + ", ".join(parts)


def _archive_kind(path: Path) -> str:
    from .cifar import archive_files

    names = {Path(m).name for m in archive_files(path)}
    kinds = [k for k, (_, probe, _) in _CIFAR.items() if probe in names]
    if len(kinds) != 1:
        raise DataError(f"{path}: a tar archive without CIFAR-10 test_batch.bin or CIFAR-100 "
                        f"test.bin; {EXPECTED}")
    return kinds[0] + "-archive"


def detect(path: Path) -> str:
    """The format at ``path``: images, idx, cifar10, cifar100, cifar10-archive,
    cifar100-archive or npz; a one-line error otherwise."""
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such file or folder (and not a dataset name: "
                                f"see `convolve datasets`); {EXPECTED}")
    if path.is_file():
        name = path.name.lower()
        if name.endswith(".npz"):
            return "npz"
        if name.endswith((".tar.gz", ".tgz", ".tar")):
            return _archive_kind(path)
        raise DataError(f"{path}: a {path.suffix or 'extension-less'} file; {EXPECTED}")
    found = [k for k, test in _TESTS.items() if test(path)]
    if len(found) > 1:
        raise DataError(f"{path}: ambiguous, it holds both {_NAMES[found[0]]} and "
                        f"{_NAMES[found[1]]}; point --data at a folder holding one format")
    if not found:
        raise DataError(f"{path}: {describe(path)}; {EXPECTED}")
    return found[0]


# --------------------------------------------------------------------------------- reading
def load_path(path: Path, size, channels) -> Raw:
    """Read the dataset at ``path`` (its format detected)."""
    kind = detect(path)
    if kind == "images":
        return _images(path, size, channels)
    if kind == "npz":
        return _npz(path)
    if kind == "idx":
        from .idx import MNIST

        tr, te = MNIST(path, train=True), MNIST(path, train=False)
        return Raw("idx", tr.x, tr.y, te.x, te.y, None)
    from .cifar import CIFAR10, CIFAR100, read_cifar_archive

    if kind in _CIFAR and not any((f / _CIFAR[kind][1]).is_file()
                                  for f in (path, path / _CIFAR[kind][0])):
        path, kind = path / _CIFAR[kind][2], kind + "-archive"  # only the tarball is there
    if kind.endswith("-archive"):
        n = 100 if kind.startswith("cifar100") else 10
        x_tr, y_tr, x_te, y_te, classes = read_cifar_archive(path, n)
        if classes is None:  # no names file in the archive: the format's own classes
            classes = CIFAR10.classes if n == 10 else [str(k) for k in range(100)]
        return Raw(kind[:-8], x_tr, y_tr, x_te, y_te, list(classes))
    cls = CIFAR100 if kind == "cifar100" else CIFAR10
    tr, te = cls(path, train=True), cls(path, train=False)
    return Raw(kind, tr.x, tr.y, te.x, te.y, list(te.classes))


def _image_folder(root: Path, size, channels):
    """(x, y, classes) of one folder of class sub-folders: an array, or a lazy
    :class:`~convolve.data.LazyImages` above the ``eager_image_bytes`` limit (see
    :func:`convolve.data.open_image_folder`)."""
    from .lazy import open_image_folder

    mode = "L" if (channels or _first_channels(root)) == 1 else "RGB"
    x, y, classes = open_image_folder(root, size=size, mode=mode)
    return x, y, list(classes)


def _first_channels(root: Path) -> int:
    """1 when the first image (sorted) is greyscale (modes 1, L, LA, I, F...), else 3."""
    from PIL import Image

    for d in sorted(_class_dirs(root)):
        for f in sorted(d.iterdir()):
            if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS:
                try:
                    with Image.open(f) as img:
                        grey = img.mode in ("1", "L", "LA", "La", "F") or img.mode.startswith("I")
                except Exception:  # noqa: BLE001 - reported when the image itself is read
                    return 3
                return 1 if grey else 3
    return 3


def _images(path: Path, size, channels) -> Raw:
    if (path / "train").is_dir() and (path / "test").is_dir():
        x_tr, y_tr, classes = _image_folder(path / "train", size, channels)
        x_te, y_te, test_classes = _image_folder(path / "test", size,
                                                 channels or x_tr.shape[1])
        if test_classes != classes:
            raise DataError(f"{path}: train/ has the classes {classes} but test/ has "
                            f"{test_classes}; both need the same class sub-folders")
        return Raw("image folder", x_tr, y_tr, x_te, y_te, classes, sized=True)
    x, y, classes = _image_folder(path, size, channels)
    return Raw("image folder", x, y, None, None, classes, sized=True)


def _npz_arrays(path: Path) -> dict:
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as err:
        raise DataError(f"{path}: cannot read it as an .npz archive ({err})") from None
    with archive as z:
        keys = set(z.files)
        missing = [k for k in ("x_train", "y_train") if k not in keys]
        missing += [k for k in ("x_test", "y_test") if k not in keys and
                    ({"x_test", "y_test"} & keys)]
        if missing:
            raise DataError(f"{path}: missing {', '.join(missing)}; expected arrays x_train, "
                            f"y_train (and x_test, y_test; optionally classes), found "
                            f"{', '.join(sorted(keys)) or 'none'}")
        wanted = [k for k in ("x_train", "y_train", "x_test", "y_test", "classes") if k in keys]
        headers = {k: _npy_header(z, k, path) for k in wanted}
        _check_lengths(headers, path)
        out = {}
        for k in wanted:
            try:
                out[k] = z[k]
            except (ValueError, OSError, EOFError, zipfile.BadZipFile) as err:
                raise DataError(f"{path}: {k}: corrupted or truncated array data ({err})") \
                    from None
    return out


def _npy_header(z, key: str, path: Path) -> tuple:
    """(shape, dtype) from the .npy header of member ``key``, read before its data: object
    arrays are refused and the declared size is checked against limit ``data_bytes``."""
    try:
        with z.zip.open(key + ".npy") as f:
            version = np.lib.format.read_magic(f)
            read = (np.lib.format.read_array_header_1_0 if version == (1, 0) else
                    np.lib.format.read_array_header_2_0)
            shape, _, dtype = read(f)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, KeyError) as err:
        raise DataError(f"{path}: {key}: cannot read its .npy header ({err})") from None
    if dtype.hasobject:
        raise DataError(f"{path}: {key} is an object array, which would need unpickling "
                        f"(refused); store numeric arrays")
    limits.check("data_bytes", math.prod(shape) * dtype.itemsize,
                 f"{path}: {key} of shape {shape} {dtype}")
    return shape, dtype


def _check_lengths(headers: dict, path: Path) -> None:
    """Samples and labels of each part agree, and no part is empty (from the headers)."""
    for part in ("train", "test"):
        if f"x_{part}" not in headers:
            continue
        (xs, _), (ys, _) = headers[f"x_{part}"], headers[f"y_{part}"]
        n = xs[0] if xs else None
        if n == 0:
            raise DataError(f"{path}: x_{part} holds no samples (shape {xs})")
        if n is not None and len(ys) == 1 and ys[0] != n:
            raise DataError(f"{path}: y_{part}: x_{part} has {n} samples but y_{part} has "
                            f"{ys[0]} labels")


def _npz_x(x: np.ndarray, where: str) -> np.ndarray:
    if x.dtype == np.uint8:
        x = x.astype(np.float32) / np.float32(255)
    elif x.dtype.kind == "f":
        x = x.astype(np.float32, copy=False)
    else:
        raise DataError(f"{where}: expected uint8 (scaled by 1/255) or float values, found "
                        f"{x.dtype}")
    if x.dtype.kind == "f" and not np.isfinite(x).all():
        bad = np.argwhere(~np.isfinite(x))[0]
        raise DataError(f"{where}: expected finite values, found {x[tuple(bad)]} at index "
                        f"{tuple(int(i) for i in bad)}")
    return to_channels_first(x, where)


def _npz_y(y, n: int, where: str) -> np.ndarray:
    try:
        y = check_labels(where, y, n)
    except (TypeError, ValueError) as err:
        raise DataError(str(err)) from None
    if len(y) and y.min() < 0:
        raise DataError(f"{where}: expected labels >= 0, found {y.min()}")
    return y


def _npz(path: Path) -> Raw:
    a = _npz_arrays(path)
    x_tr = _npz_x(a["x_train"], f"{path}: x_train")
    y_tr = _npz_y(a["y_train"], len(x_tr), f"{path}: y_train")
    x_te = y_te = None
    if "x_test" in a:
        x_te = _npz_x(a["x_test"], f"{path}: x_test")
        y_te = _npz_y(a["y_test"], len(x_te), f"{path}: y_test")
        if x_te.shape[1:] != x_tr.shape[1:]:
            raise DataError(f"{path}: x_test samples are {x_te.shape[1:]}, x_train samples "
                            f"{x_tr.shape[1:]}")
    classes = a.get("classes")
    if classes is not None and classes.dtype.kind not in "US":
        raise DataError(f"{path}: classes must be an array of strings, found {classes.dtype}")
    names = None if classes is None else [str(c) for c in classes.ravel()]
    top = max(y_tr.max(initial=-1), -1 if y_te is None else y_te.max(initial=-1))
    if names is not None and top >= len(names):
        raise DataError(f"{path}: classes names {len(names)} classes but the labels go up "
                        f"to {top}")
    return Raw("npz", x_tr, y_tr, x_te, y_te, names)


def shaped(raw: Raw, size, channels, where: str) -> Raw:
    """In-memory images converted to ``channels`` and resized to ``size`` (image folders
    were read that way already); 1-D signals refuse both."""
    if raw.sized or (size is None and channels is None):
        return raw
    out = {}
    for key in ("x_train", "x_test"):
        x = getattr(raw, key)
        if x is not None:
            out[key] = resize_images(as_channels(np.asarray(x), channels, where), size, where)
    return replace(raw, **out)
