"""CIFAR-10, binary version only (never the pickled "python version").

Each ``*.bin`` file is a run of 3073-byte records: one label byte (0-9), then 1024 red,
1024 green and 1024 blue pixel bytes, each plane row-major 32x32. Files are read from
``root/cifar-10-batches-bin/``, from ``root`` itself, or straight out of
``root/cifar-10-binary.tar.gz`` (members read in memory: nothing is extracted, and an
archive holding absolute, ``..`` or link members is rejected).
"""

from __future__ import annotations

import posixpath
import tarfile
import zlib
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import DataError
from .dataset import ArrayDataset
from .download import download_file

__all__ = ["CIFAR10", "read_cifar_bin", "read_tar_members"]

RECORD = 1 + 3 * 32 * 32


def read_cifar_bin(data: bytes, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Parse CIFAR-10 binary records: images (n, 3, 32, 32) uint8, labels (n,) uint8."""
    if len(data) == 0 or len(data) % RECORD:
        raise DataError(
            f"{name}: expected a whole number of {RECORD}-byte records (1 label byte + 3072 "
            f"pixel bytes), found {len(data)} bytes ({len(data) // RECORD} records and "
            f"{len(data) % RECORD} bytes left over)")
    records = np.frombuffer(data, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        bad = int(np.argmax(labels > 9))
        raise DataError(f"{name}: expected labels in [0, 9], found {labels[bad]} in record {bad}")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels.copy()


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


class CIFAR10(ArrayDataset):
    """CIFAR-10: x (N, 3, 32, 32) float32 in [0, 1] (pixel / 255), y (N,) int64 in [0, 9];
    N = 50000 (train: data_batch_1..5.bin) or 10000 (test: test_batch.bin)."""

    folder = "cifar-10-batches-bin"
    archive = "cifar-10-binary.tar.gz"
    mirrors = ("https://www.cs.toronto.edu/~kriz/",)
    sha256 = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
    classes = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
               "ship", "truck")

    def __init__(self, root, train: bool = True, download: bool = False, mirrors=None,
                 transform=None):
        self.root, self.train = Path(root), bool(train)
        names = [f"data_batch_{i}.bin" for i in range(1, 6)] if self.train else ["test_batch.bin"]
        blobs = self._read(names, download, mirrors)
        parts = [read_cifar_bin(blobs[n], n) for n in names]
        images = np.concatenate([p[0] for p in parts])
        labels = np.concatenate([p[1] for p in parts])
        super().__init__(images.astype(np.float32) / np.float32(255), labels, transform)

    def _read(self, names, download: bool, mirrors) -> dict[str, bytes]:
        for folder in (self.root / self.folder, self.root):
            if all((folder / n).is_file() for n in names):
                for n in names:
                    _check_size(str(folder / n), (folder / n).stat().st_size)
                return {n: (folder / n).read_bytes() for n in names}
        tarball = self.root / self.archive
        if not tarball.is_file() and download:
            download_file(self.archive, list(self.mirrors if mirrors is None else mirrors),
                          self.root, self.sha256)
        if tarball.is_file():
            blobs = read_tar_members(tarball, [f"{self.folder}/{n}" for n in names])
            return {n: blobs[f"{self.folder}/{n}"] for n in names}
        raise FileNotFoundError(
            f"CIFAR10: found neither {', '.join(names)} in {self.root / self.folder} (or "
            f"{self.root}) nor the archive {tarball}; pass download=True to fetch it")
