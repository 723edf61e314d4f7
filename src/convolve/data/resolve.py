"""One resolver for every command's ``--data``: a dataset name or a path, its format
detected, split into train and test parts as stated (never guessed silently).

Accepted: a bundled name (digits, mnist5k, mnist1d), a downloadable name (mnist,
fashion-mnist, kmnist, cifar10, cifar100), or a path to

- a folder of class sub-folders of images (``train/`` and ``test/`` sub-folders when
  present, each holding the class sub-folders);
- a folder of IDX files in the MNIST layout (``train-images-idx3-ubyte``,
  ``train-labels-idx1-ubyte``, ``t10k-...`` for the test part; ``.gz`` or not);
- CIFAR-10 or CIFAR-100 binaries: a folder (the ``.bin`` files, their
  ``cifar-10-batches-bin/`` / ``cifar-100-binary/`` folder, or the tarball) or the
  ``.tar.gz`` itself;
- an ``.npz`` with ``x_train``, ``y_train`` (and ``x_test``, ``y_test``; an optional
  ``classes`` string array), read with ``allow_pickle=False``.

The test part is the format's own where it has one; otherwise a stratified split of
``test_split`` seeded with ``seed`` (:attr:`Resolved.test_from` says which). Images are
(N, C, H, W) float32 in [0, 1] (uint8 / 255; float arrays kept), signals (N, C, L).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataError
from . import formats
from .arrays import take
from .dataset import Split, stratified_split

__all__ = ["BUNDLED", "DOWNLOADABLE", "Resolved", "resolve"]

BUNDLED = ("digits", "mnist5k", "mnist1d")
DOWNLOADABLE = ("mnist", "fashion-mnist", "kmnist", "cifar10", "cifar100")
_DIGITS = [str(d) for d in range(10)]
_NAMES = {"fashion-mnist": ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal",
                            "Shirt", "Sneaker", "Bag", "Ankle boot"),
          "kmnist": ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo")}


@dataclass
class Resolved:
    """A dataset ready to train on: train and test parts, class names, provenance.
    ``test_from`` is "own" (the format's test split) or "stratified" (``test_split`` of
    the data, seeded with ``seed``)."""

    name: str
    format: str
    x_train: object
    y_train: np.ndarray
    x_test: object
    y_test: np.ndarray
    classes: list | None
    test_from: str = "own"
    test_split: float | None = None

    @property
    def num_classes(self) -> int:
        top = int(max(self.y_train.max(initial=-1), self.y_test.max(initial=-1))) + 1
        return max(top, len(self.classes or ()))

    @property
    def split(self) -> Split:
        return Split(self.x_train, self.y_train, self.x_test, self.y_test)

    def describe(self) -> str:
        """One line: shape, classes, sizes and where the test part came from."""
        shape = "x".join(map(str, self.x_train.shape[1:]))
        test = ("the data's own test split" if self.test_from == "own" else
                f"a stratified {self.test_split:.0%} of the data")
        return (f"{self.name} ({self.format}, {shape}, {self.num_classes} classes): "
                f"{len(self.y_train)} train / {len(self.y_test)} test; test part: {test}")


def _key(name: str) -> str:
    return name.lower().replace("_", "-")


def resolve(data, *, image_size=None, channels=None, test_split: float = 0.2, seed: int = 0,
            download: bool = False, limit: int | None = None) -> Resolved:
    """The dataset ``data`` (a name or a path; see the module docstring). ``image_size``
    (H, W) resizes images (bilinear), ``channels`` (1 or 3) converts them; ``limit`` keeps
    the first ``limit`` samples of each part."""
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    if channels not in (None, 1, 3):
        raise ValueError(f"--channels must be 1 or 3, received {channels!r}")
    if image_size is not None and (len(image_size) != 2 or min(image_size) < 1):
        raise ValueError(f"--image-size must be a positive size, received {image_size!r}")
    name = str(data)
    size = None if image_size is None else tuple(int(v) for v in image_size)
    if _key(name) in BUNDLED:
        raw = _bundled(_key(name))
    elif _key(name) in DOWNLOADABLE and not Path(name).exists():
        raw = _downloadable(_key(name), download)
    elif not Path(name).exists() and not any(c in name for c in "/\\."):
        raise FileNotFoundError(f"unknown dataset {name!r}: not a name ({', '.join(BUNDLED)}, "
                                f"{', '.join(DOWNLOADABLE)}) nor an existing path; "
                                f"{formats.EXPECTED}")
    else:
        raw = formats.load_path(Path(name), size, channels)
    raw = formats.shaped(raw, size, channels, name)
    found = np.unique(raw.y_train)
    if len(found) < 2:
        raise DataError(f"{name}: the training data holds {len(found)} class"
                        f"{'' if len(found) == 1 else 'es'} ({', '.join(map(str, found))}); a "
                        f"classifier needs at least 2 (e.g. one sub-folder of images per class)")
    res = _split(name, raw, test_split, seed)
    if limit is not None:
        res.x_train, res.y_train = _first(res.x_train, res.y_train, limit)
        res.x_test, res.y_test = _first(res.x_test, res.y_test, limit)
    return res


def _first(x, y, n: int):
    keep = np.arange(min(int(n), len(y)))
    return take(x, keep), y[keep]


def _split(name: str, raw: formats.Raw, test_split: float, seed: int) -> Resolved:
    if raw.x_test is not None:
        return Resolved(name, raw.format, raw.x_train, raw.y_train, raw.x_test, raw.y_test,
                        raw.classes)
    if isinstance(test_split, bool) or not 0.0 < float(test_split) < 1.0:
        raise ValueError(f"--test-split must be in (0, 1), received {test_split!r}")
    train, test = (np.sort(i) for i in stratified_split(raw.y_train, float(test_split), seed))
    if len(train) == 0 or len(test) == 0:
        raise DataError(f"{name}: --test-split {test_split} of {len(raw.y_train)} samples "
                        f"leaves {len(train)} to train on and {len(test)} to test on")
    return Resolved(name, raw.format, take(raw.x_train, train), raw.y_train[train],
                    take(raw.x_train, test), raw.y_train[test], raw.classes, "stratified",
                    float(test_split))


def _bundled(key: str) -> formats.Raw:
    from .. import data  # its load_dataset, looked up at call time

    try:
        split = data.load_dataset(key)
    except (ImportError, FileNotFoundError, OSError) as err:
        raise DataError(f"dataset {key!r} is not available here: {err}") from None
    return formats.Raw("bundled", *split, _DIGITS)


def _downloadable(key: str, download: bool) -> formats.Raw:
    """A downloadable dataset's files, from the download catalog (which fetches them with
    ``download``, else says which files to place where)."""
    from .catalog import locate

    raw = formats.load_path(Path(locate(key, download=download)), None, None)
    if raw.classes is None and key in _NAMES:
        raw.classes = list(_NAMES[key])
    return raw
