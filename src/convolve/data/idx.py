"""The IDX format (MNIST, Fashion-MNIST) and the MNIST / FashionMNIST datasets.

IDX layout: two zero bytes, a type code (0x08 ubyte, 0x09 byte, 0x0B int16, 0x0C int32,
0x0D float32, 0x0E float64), the number of dims, then one big-endian uint32 per dim and
the data, row-major and big-endian. Files may be gzip-compressed (detected by content).
"""

from __future__ import annotations

import gzip
import math
import struct
import zlib
from pathlib import Path
from typing import ClassVar

import numpy as np

from .. import limits
from ..errors import DataError
from . import catalog
from .dataset import ArrayDataset
from .download import download_file

__all__ = ["MNIST", "FashionMNIST", "load_idx"]

_IDX_DTYPES = {0x08: "u1", 0x09: "i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


_GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)
_SLACK = 1 << 20  # bytes read past the promised size of a gzip stream to report trailing data


def _open(path: Path):
    """The file's byte stream, decompressed on the fly when it is gzip."""
    fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, closed there
    if fh.read(2) == b"\x1f\x8b":
        fh.seek(0)
        return gzip.GzipFile(fileobj=fh, mode="rb"), fh
    fh.seek(0)
    return fh, fh


def _header(stream, name: str) -> tuple:
    """(dtype, dims) from the magic number and the dims; the stream is left at the data."""
    magic = stream.read(4)
    if len(magic) < 4 or magic[:2] != b"\0\0" or magic[2] not in _IDX_DTYPES or magic[3] == 0:
        raise DataError(
            f"{name}: not an IDX file: expected a magic number 00 00 <type code in "
            f"{', '.join(f'{c:#04x}' for c in _IDX_DTYPES)}> <ndim >= 1>, "
            f"found {magic.hex(' ') or 'an empty file'}")
    ndim, dtype = magic[3], np.dtype(_IDX_DTYPES[magic[2]])
    raw_dims = stream.read(4 * ndim)
    if len(raw_dims) < 4 * ndim:
        raise DataError(f"{name}: expected {4 + 4 * ndim} header bytes for {ndim} dims, "
                        f"found {4 + len(raw_dims)}")
    return dtype, struct.unpack(f">{ndim}I", raw_dims)


def _data(stream, path: Path, gz: bool, header: int, expected: int) -> tuple[bytes, str]:
    """The data section (at most ``expected`` bytes kept) and how many bytes were found."""
    data = stream.read(expected)
    if len(data) < expected:
        return data, str(len(data))
    if not gz:
        return data, str(path.stat().st_size - header)
    extra = len(stream.read(_SLACK))
    return data, str(expected + extra) if extra < _SLACK else f"more than {expected + extra}"


def load_idx(path) -> np.ndarray:
    """Read one IDX file (optionally gzipped) into an array of its dims, native byte order.

    The header is read first and the data size it promises is checked against the limit
    ``data_bytes`` (:mod:`convolve.limits`) before any data is read or decompressed.
    Raises FileNotFoundError for a missing file, DataError (a ValueError) naming the file for
    a bad magic number, corrupt gzip data or a data section whose size differs from
    prod(dims) * itemsize, and LimitError for a file promising more than the limit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_idx: no such file {path}")
    name = path.name
    stream, fh = _open(path)
    try:
        with fh:
            dtype, dims = _header(stream, name)
            expected = math.prod(dims) * dtype.itemsize
            limits.check("data_bytes", expected, f"{name}: the header's data size")
            data, found = _data(stream, path, stream is not fh, 4 + 4 * len(dims), expected)
    except _GZIP_ERRORS as exc:
        raise DataError(f"{name}: corrupted or truncated gzip data ({exc})") from None
    if found != str(expected):
        shape = "x".join(map(str, dims))
        raise DataError(f"{name}: expected {expected} bytes of data for {shape} "
                        f"{dtype.newbyteorder('=').name}, found {found}")
    try:
        array = np.frombuffer(data, dtype=dtype).reshape(dims)
    except ValueError as exc:  # e.g. 0 x 2**32 x 2**32 x 2**32: empty, yet too big a shape
        raise DataError(f"{name}: cannot make an array of shape {'x'.join(map(str, dims))}: "
                        f"{exc}") from None
    return array.astype(dtype.newbyteorder("="))


class MNIST(ArrayDataset):
    """MNIST from the four IDX files (``.gz`` or not) in ``root``.

    x: (N, 1, 28, 28) float32 in [0, 1] (pixel / 255), y: (N,) int64 in [0, 9]; N = 60000
    (train) or 10000 (test). ``download=True`` fetches missing files from ``mirrors``
    (default: :attr:`mirrors`), checking each against the SHA-256 in :attr:`resources`.
    """

    # the download catalog's mirrors and hashes (convolve.data.catalog: one list for all)
    mirrors = catalog.get("mnist").mirrors
    resources: ClassVar[dict[str, str]] = catalog.hashes("mnist")
    classes = tuple(str(d) for d in range(10))

    def __init__(self, root, train: bool = True, download: bool = False, mirrors=None,
                 transform=None):
        self.root, self.train = Path(root), bool(train)
        prefix = "train" if self.train else "t10k"
        names = (f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte")
        if download:
            self.download(names, mirrors)
        images_path, labels_path = (self._find(n) for n in names)
        images, labels = load_idx(images_path), load_idx(labels_path)
        self._check(images, labels, images_path, labels_path)
        x = images[:, None].astype(np.float32) / np.float32(255)
        super().__init__(x, labels, transform)

    def _find(self, name: str) -> Path:
        for candidate in (self.root / (name + ".gz"), self.root / name):
            if candidate.is_file():
                return candidate
        expected = ", ".join(self.resources)
        raise FileNotFoundError(
            f"{type(self).__name__}: found neither {name}.gz nor {name} in {self.root}; the "
            f"folder should hold the IDX files {expected} (or their uncompressed versions); "
            f"pass download=True to fetch them")

    def _check(self, images, labels, images_path: Path, labels_path: Path) -> None:
        if images.dtype != np.uint8 or images.ndim != 3:
            raise DataError(f"{images_path.name}: expected uint8 images of shape (N, H, W), "
                             f"found {images.dtype} of shape {images.shape}")
        if labels.dtype != np.uint8 or labels.ndim != 1:
            raise DataError(f"{labels_path.name}: expected uint8 labels of shape (N,), "
                             f"found {labels.dtype} of shape {labels.shape}")
        if len(labels) != len(images):
            raise DataError(f"{type(self).__name__}: {images_path.name} holds {len(images)} "
                             f"images but {labels_path.name} holds {len(labels)} labels")
        if len(labels) and labels.max() >= len(self.classes):
            raise DataError(f"{labels_path.name}: expected labels in [0, "
                             f"{len(self.classes) - 1}], found {labels.max()}")

    def download(self, names, mirrors=None) -> None:
        """Fetch each ``name.gz`` that is missing (in either form) from the mirrors."""
        mirrors = list(self.mirrors if mirrors is None else mirrors)
        for name in names:
            if (self.root / name).is_file() or (self.root / (name + ".gz")).is_file():
                continue
            gz = name + ".gz"
            if gz not in self.resources:
                raise DataError(f"{type(self).__name__}: no known SHA-256 for {gz}")
            download_file(gz, mirrors, self.root, self.resources[gz])


class FashionMNIST(MNIST):
    """Fashion-MNIST: same IDX layout and shapes as :class:`MNIST`, 10 clothing classes."""

    mirrors = catalog.get("fashion-mnist").mirrors
    resources: ClassVar[dict[str, str]] = catalog.hashes("fashion-mnist")
    classes = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
               "Sneaker", "Bag", "Ankle boot")
