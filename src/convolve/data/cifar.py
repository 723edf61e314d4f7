"""CIFAR-10 and CIFAR-100, binary versions only (never the pickled "python version").

Each CIFAR-10 ``*.bin`` file is a run of 3073-byte records: one label byte (0-9), then 1024
red, 1024 green and 1024 blue pixel bytes, each plane row-major 32x32. CIFAR-100's
``train.bin`` / ``test.bin`` records have two label bytes, coarse (0-19) then fine (0-99),
before the same 3072 pixel bytes; the fine labels are used (100 classes, named by
``fine_label_names.txt`` when present). Files are read from ``root/cifar-10-batches-bin/``
(``root/cifar-100-binary/``), from ``root`` itself, or straight out of the tarball
(members read in memory: nothing is extracted, and an archive holding absolute, ``..`` or
link members is rejected).
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import DataError
from . import catalog
from .dataset import ArrayDataset
from .download import download_file

__all__ = ["CIFAR10", "CIFAR100", "read_cifar100_bin", "read_cifar_archive", "read_cifar_bin",
           "read_tar_members"]

RECORD = 1 + 3 * 32 * 32


def _records(data: bytes, name: str, labels: int) -> np.ndarray:
    size = labels + 3072
    if len(data) == 0 or len(data) % size:
        raise DataError(
            f"{name}: expected a whole number of {size}-byte records ({labels} label "
            f"byte{'s' if labels > 1 else ''} + 3072 pixel bytes), found {len(data)} bytes "
            f"({len(data) // size} records and {len(data) % size} bytes left over)")
    return np.frombuffer(data, dtype=np.uint8).reshape(-1, size)


def _checked(labels: np.ndarray, top: int, name: str) -> np.ndarray:
    if labels.max() > top:
        bad = int(np.argmax(labels > top))
        raise DataError(f"{name}: expected labels in [0, {top}], found {labels[bad]} in "
                        f"record {bad}")
    return labels.copy()


def read_cifar_bin(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records: images (n, 3, 32, 32) uint8, labels (n,) uint8."""
    records = _records(data, name, 1)
    return records[:, 1:].reshape(-1, 3, 32, 32), _checked(records[:, 0], 9, name)


def read_cifar100_bin(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-100 binary records: images (n, 3, 32, 32) uint8, fine labels (n,) uint8
    (the coarse label byte is checked and skipped)."""
    records = _records(data, name, 2)
    _checked(records[:, 0], 19, name)
    return records[:, 2:].reshape(-1, 3, 32, 32), _checked(records[:, 1], 99, name)


def _check_member(archive: str, member: tarfile.TarInfo) -> None:
    parts = member.name.replace("\\", "/").split("/")
    unsafe = member.name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]
    if member.issym() or member.islnk():
        unsafe = True
    if unsafe:
        raise DataError(f"{archive}: refusing archive with unsafe member {member.name!r} "
                         f"(absolute path, '..' component or link)")


def _check_size(where: str, size: int) -> None:
    """A CIFAR batch file may hold at most limit ``data_bytes`` bytes (its records are
    checked by :func:`read_cifar_bin` once read)."""
    limits.check("data_bytes", size, where)


def read_tar_members(path: Path, names) -> dict[str, bytes]:
    """Read the regular-file members ``names`` of a tar(.gz) archive into memory, checking
    each member's size (from its header) before reading it."""
    try:
        with tarfile.open(path, "r:*") as tar:
            members = tar.getmembers()
            for m in members:
                _check_member(path.name, m)
            by_name = {posixpath.normpath(m.name): m for m in members}
            out = {}
            for name in names:
                member = by_name.get(name)
                if member is None or not member.isfile():
                    raise FileNotFoundError(
                        f"{path.name}: no regular file {name} in the archive; expected "
                        f"{', '.join(names)}")
                _check_size(f"{path.name}: member {name}", member.size)
                out[name] = tar.extractfile(member).read(member.size)
            return out
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise DataError(f"{path.name}: corrupted or truncated tar archive ({exc})") from None


def archive_files(path: Path) -> set:
    """The normalised names of the regular files in a tar(.gz) archive."""
    try:
        with tarfile.open(path, "r:*") as tar:
            return {posixpath.normpath(m.name) for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, EOFError, zlib.error, OSError) as exc:
        raise DataError(f"{path.name}: corrupted or truncated tar archive ({exc})") from None


class CIFAR10(ArrayDataset):
    """CIFAR-10: x (N, 3, 32, 32) float32 in [0, 1] (pixel / 255), y (N,) int64 in [0, 9];
    N = 50000 (train: data_batch_1..5.bin) or 10000 (test: test_batch.bin)."""

    folder = "cifar-10-batches-bin"
    archive = "cifar-10-binary.tar.gz"
    mirrors = catalog.get("cifar10").mirrors  # the download catalog's (one list for all)
    sha256 = catalog.hashes("cifar10")[archive]
    train_files = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
    test_files = ("test_batch.bin",)
    parse = staticmethod(read_cifar_bin)
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")

    def __init__(self, root, train: bool = True, download: bool = False, mirrors=None,
                 transform=None):
        self.root, self.train = Path(root), bool(train)
        names = list(self.train_files if self.train else self.test_files)
        blobs = self._read(names, download, mirrors)
        x, y = _stack(self.parse, blobs, names)
        super().__init__(x, y, transform)

    def _read(self, names, download: bool, mirrors) -> dict[str, bytes]:
        for folder in (self.root / self.folder, self.root):
            if all((folder / n).is_file() for n in names):
                for n in names:
                    _check_size(str(folder / n), (folder / n).stat().st_size)
                return {n: (folder / n).read_bytes() for n in names}
        tarball = self.root / self.archive
        if not tarball.is_file() and download and self.sha256:
            download_file(self.archive, list(self.mirrors if mirrors is None else mirrors),
                          self.root, self.sha256)
        if tarball.is_file():
            blobs = read_tar_members(tarball, [f"{self.folder}/{n}" for n in names])
            return {n: blobs[f"{self.folder}/{n}"] for n in names}
        raise FileNotFoundError(
            f"{type(self).__name__}: found neither {', '.join(names)} in "
            f"{self.root / self.folder} (or {self.root}) nor the archive {tarball}")


class CIFAR100(CIFAR10):
    """CIFAR-100 (binary version): x (N, 3, 32, 32) float32 in [0, 1], y (N,) int64 fine
    labels in [0, 99]; N = 50000 (train.bin) or 10000 (test.bin). ``classes`` come from
    ``fine_label_names.txt`` next to the files when it is there, else "0".."99"."""

    folder = "cifar-100-binary"
    archive = "cifar-100-binary.tar.gz"
    mirrors = catalog.get("cifar100").mirrors
    sha256 = catalog.hashes("cifar100")[archive]
    train_files, test_files = ("train.bin",), ("test.bin",)
    parse = staticmethod(read_cifar100_bin)

    def __init__(self, root, train: bool = True, download: bool = False, mirrors=None,
                 transform=None):
        super().__init__(root, train, download, mirrors, transform)
        names = [f / "fine_label_names.txt" for f in (self.root / self.folder, self.root)]
        found = next((n for n in names if n.is_file()), None)
        self.classes = label_names(found.read_bytes(), 100) if found else \
            tuple(str(k) for k in range(100))


def _stack(parse, blobs: dict, names) -> tuple[np.ndarray, np.ndarray]:
    parts = [parse(blobs[n], n) for n in names]
    images = np.concatenate([p[0] for p in parts])
    labels = np.concatenate([p[1] for p in parts]).astype(np.int64)
    return images.astype(np.float32) / np.float32(255), labels


def label_names(text: bytes, n: int) -> tuple | None:
    """The class names of a CIFAR ``*label_names.txt`` (one per line, blank lines dropped),
    or None unless there are exactly ``n``."""
    names = [s.strip() for s in text.decode("utf-8", "replace").splitlines() if s.strip()]
    return tuple(names) if len(names) == n else None


_KINDS = {10: (CIFAR10, "batches.meta.txt"), 100: (CIFAR100, "fine_label_names.txt")}


def read_cifar_archive(path, kind: int) -> tuple:
    """(x_train, y_train, x_test, y_test, classes) from a CIFAR-``kind`` (10 or 100)
    binary tarball of any name, its files under any one folder inside it."""
    path, (cls, names_file) = Path(path), _KINDS[kind]
    members = archive_files(path)
    wanted = (*cls.train_files, *cls.test_files)
    folders = {posixpath.dirname(m) for m in members if posixpath.basename(m) == wanted[-1]}
    if len(folders) != 1:
        raise DataError(f"{path.name}: expected one folder holding {', '.join(wanted)} in the "
                        f"archive, found {len(folders)}")
    folder = folders.pop()
    full = [posixpath.join(folder, n) for n in wanted]
    meta = posixpath.join(folder, names_file)
    blobs = read_tar_members(path, full + ([meta] if meta in members else []))
    x_tr, y_tr = _stack(cls.parse, {n: blobs[f] for n, f in zip(wanted, full)}, cls.train_files)
    x_te, y_te = _stack(cls.parse, {n: blobs[f] for n, f in zip(wanted, full)}, cls.test_files)
    classes = label_names(blobs[meta], kind) if meta in blobs else None
    return x_tr, y_tr, x_te, y_te, classes or (cls.classes if kind == 10 else None)
