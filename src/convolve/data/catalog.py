"""The datasets convolve can download, and :func:`locate`, which finds (or fetches) them.

Each :class:`Entry` lists the dataset's original files with their exact sizes and SHA-256,
and mirrors tried in order (the official site first). :func:`locate` returns the folder
``<root>/<name>`` (``root`` defaults to :func:`convolve.data.download.cache_dir`) holding
those files as published: archives are not unpacked, the readers read ``.gz`` and
``.tar.gz`` directly. A file counts as present once its size and SHA-256 match; the hash of
a file is computed once and remembered (with its size and modification time) in
``<root>/<name>/.verified.json``, so later calls only stat the files.

Sources of the hashes and sizes: TensorFlow Datasets' ``url_checksums/<name>.txt`` (URL,
size, SHA-256), cross-checked against a second public source noted beside each entry.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .._fileio import atomic_write
from ..errors import DataError
from .download import cache_dir, download_file, ensure_cache_dir, sha256_file

__all__ = ["CATALOG", "Entry", "FileSpec", "dataset_folder", "file_status", "get", "hashes",
           "locate", "names"]

_MARKER = ".verified.json"


@dataclass(frozen=True)
class FileSpec:
    """One original file: its name, exact size in bytes and hex SHA-256."""

    filename: str
    size: int
    sha256: str


@dataclass(frozen=True)
class Entry:
    """A downloadable dataset: its files, mirrors (base URLs) and what it is."""

    name: str
    files: tuple
    mirrors: tuple
    description: str
    license: str
    homepage: str
    sample_shape: tuple
    num_classes: int
    train_size: int
    test_size: int

    @property
    def total_bytes(self) -> int:
        return sum(f.size for f in self.files)


def _idx(sizes_hashes) -> tuple:
    """The four MNIST-layout files from (size, sha256) pairs in the order train images,
    train labels, test images, test labels."""
    names = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
    return tuple(FileSpec(n, s, h) for n, (s, h) in zip(names, sizes_hashes))


_ENTRIES = (
    # TFDS url_checksums/mnist.txt; the same four SHA-256 in data/idx.py and in
    # ankane/torchvision-ruby lib/torchvision/datasets/mnist.rb; 9,912,422 bytes also in
    # torchvision's download logs.
    Entry("mnist", _idx((
        (9912422, "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"),
        (28881, "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"),
        (1648877, "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"),
        (4542, "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"))),
        ("https://yann.lecun.com/exdb/mnist/",
         "https://ossci-datasets.s3.amazonaws.com/mnist/",
         "https://storage.googleapis.com/cvdf-datasets/mnist/"),
        "handwritten digits 0-9, 28x28 grey (LeCun, Cortes, Burges)",
        "CC BY-SA 3.0", "https://yann.lecun.com/exdb/mnist/", (1, 28, 28), 10, 60000, 10000),
    # TFDS url_checksums/fashion_mnist.txt; the same SHA-256 in
    # ankane/torchvision-ruby lib/torchvision/datasets/fashion_mnist.rb, and sizes with the
    # official MD5s of zalandoresearch/fashion-mnist's README quoted by several projects.
    # data/idx.py's FashionMNIST hashes (08dc20ab..., b0197879..., 78dcbbfb..., 42bd1813...)
    # DISAGREE: they are those of an earlier upload of the files, no longer served.
    Entry("fashion-mnist", _idx((
        (26421880, "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"),
        (29515, "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"),
        (4422102, "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"),
        (5148, "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"))),
        ("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
         "https://github.com/zalandoresearch/fashion-mnist/raw/master/data/fashion/"),
        "Zalando clothing images in 10 classes, 28x28 grey (Xiao, Rasul, Vollgraf 2017)",
        "MIT", "https://github.com/zalandoresearch/fashion-mnist", (1, 28, 28), 10, 60000,
        10000),
    # TFDS url_checksums/kmnist.txt; the same SHA-256 in
    # ankane/torchvision-ruby lib/torchvision/datasets/kmnist.rb.
    Entry("kmnist", _idx((
        (18165135, "51467d22d8cc72929e2a028a0428f2086b092bb31cfb79c69cc0a90ce135fde4"),
        (29497, "e38f9ebcd0f3ebcdec7fc8eabdcdaef93bb0df8ea12bee65224341c8183d8e17"),
        (3041136, "edd7a857845ad6bb1d0ba43fe7e794d164fe2dce499a1694695a792adfac43c5"),
        (5120, "20bb9a0ef54c7db3efc55a92eef5582c109615df22683c380526788f98e42a1c"))),
        ("https://codh.rois.ac.jp/kmnist/dataset/kmnist/",),
        "Kuzushiji-MNIST: 10 classes of cursive Japanese characters, 28x28 grey (ROIS-DS "
        "CODH)", "CC BY-SA 4.0", "https://github.com/rois-codh/kmnist", (1, 28, 28), 10,
        60000, 10000),
    # TFDS url_checksums/cifar10.txt; the same SHA-256 in data/cifar.py and in
    # ankane/torchvision-ruby lib/torchvision/datasets/cifar10.rb.
    Entry("cifar10", (FileSpec(
        "cifar-10-binary.tar.gz", 170052171,
        "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"),),
        ("https://www.cs.toronto.edu/~kriz/",),
        "CIFAR-10: 32x32 colour images in 10 classes (Krizhevsky 2009), binary version",
        "no licence stated; see the homepage", "https://www.cs.toronto.edu/~kriz/cifar.html",
        (3, 32, 32), 10, 50000, 10000),
    # TFDS url_checksums/cifar100.txt; the same SHA-256 in
    # ankane/torchvision-ruby lib/torchvision/datasets/cifar100.rb and a Julia (BinDeps)
    # dataset package; 168,513,733 bytes also in a Rust crate beside the official MD5.
    Entry("cifar100", (FileSpec(
        "cifar-100-binary.tar.gz", 168513733,
        "58a81ae192c23a4be8b1804d68e518ed807d710a4eb253b1f2a199162a40d8ec"),),
        ("https://www.cs.toronto.edu/~kriz/",),
        "CIFAR-100: 32x32 colour images in 100 fine classes (20 coarse), binary version",
        "no licence stated; see the homepage", "https://www.cs.toronto.edu/~kriz/cifar.html",
        (3, 32, 32), 100, 50000, 10000),
)
CATALOG = {e.name: e for e in _ENTRIES}


def names() -> list:
    """The downloadable dataset names, in catalog order."""
    return list(CATALOG)


def get(name: str) -> Entry:
    """The catalog entry ``name`` (case and ``_``/``-`` insensitive); DataError if unknown."""
    key = str(name).strip().lower().replace("_", "-")
    if key not in CATALOG:
        raise DataError(f"unknown downloadable dataset {name!r}; known: {', '.join(CATALOG)}")
    return CATALOG[key]


def hashes(name: str) -> dict:
    """{filename: SHA-256} of dataset ``name``: what the readers' ``download=True`` checks."""
    return {f.filename: f.sha256 for f in get(name).files}


def dataset_folder(name: str, root=None) -> Path:
    """``<root>/<name>``, ``root`` defaulting to the cache folder (nothing is created)."""
    entry = name if isinstance(name, Entry) else get(name)
    return (Path(root).expanduser() if root is not None else cache_dir()) / entry.name


def _read_marker(folder: Path) -> dict:
    try:
        with open(folder / _MARKER, encoding="utf-8") as f:
            data = json.loads(f.read(1 << 16))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _remember(folder: Path, spec: FileSpec, st: os.stat_result) -> None:
    marker = _read_marker(folder)
    marker[spec.filename] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                             "sha256": spec.sha256}
    try:
        atomic_write(folder / _MARKER, json.dumps(marker, indent=1, sort_keys=True))
    except OSError:  # a read-only folder: the hash is computed again next time
        pass


def file_status(folder: Path, spec: FileSpec, verify: bool = False) -> str:
    """'missing', 'partial' (a ``.part`` to resume), 'wrong size', 'wrong hash' or 'ok'.
    The hash is computed when ``verify`` or when not remembered for this size and mtime."""
    path = folder / spec.filename
    try:
        st = path.stat()
    except OSError:
        return "partial" if (folder / (spec.filename + ".part")).is_file() else "missing"
    if not path.is_file() or st.st_size != spec.size:
        return "wrong size"
    seen = _read_marker(folder).get(spec.filename) or {}
    if not verify and seen == {"size": st.st_size, "mtime_ns": st.st_mtime_ns,
                               "sha256": spec.sha256}:
        return "ok"
    if sha256_file(path) != spec.sha256:
        return "wrong hash"
    _remember(folder, spec, st)
    return "ok"


def _offline_error(entry: Entry, folder: Path, problems: list, root) -> DataError:
    files = ", ".join(f"{spec.filename} ({spec.size:,} bytes"
                      + ("" if s == "missing" else f"; the one there: {s}") + ")"
                      for spec, s in problems)
    cache = f" --cache {root}" if root is not None else ""
    return DataError(
        f"dataset {entry.name} is not available offline: place {files} in {folder} "
        f"(SHA-256 in `convolve datasets --json`), or run `convolve datasets --download "
        f"{entry.name}{cache}` to fetch and verify them")


def locate(name: str, *, download: bool = False, root=None, progress=None, mirrors=None,
           timeout: float = 60.0) -> Path:
    """The folder ``<root>/<name>`` holding the verified original files of dataset
    ``name``. Missing files are fetched when ``download`` (from ``mirrors`` if given, else
    the entry's; ``progress`` as in :func:`convolve.data.progress.progress_reporter`);
    otherwise DataError names the files to place, the folder and the command to run."""
    entry = get(name)
    folder = dataset_folder(entry, root)
    problems = [(spec, s) for spec in entry.files
                if (s := file_status(folder, spec)) != "ok"]
    if not problems:
        return folder
    if not download:
        raise _offline_error(entry, folder, problems, root)
    ensure_cache_dir(folder.parent)
    ensure_cache_dir(folder)
    for spec, _ in problems:
        path = download_file(spec.filename, list(mirrors or entry.mirrors), folder,
                             spec.sha256, timeout, size=spec.size, progress=progress)
        _remember(folder, spec, path.stat())
    return folder
