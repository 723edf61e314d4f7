"""Which data the lab trains on: a named offline dataset or a folder of files.

``load("mnist5k")``, ``load("digits")``, ``load("mnist1d")`` use ``convolve.data``'s offline
datasets; ``load(PATH)`` reads CIFAR-10 binaries (the user's copy: ``data_batch_1..5.bin``
and ``test_batch.bin``, or the ``cifar-10-binary.tar.gz`` archive), an IDX folder (MNIST's
four files) or an image folder
(one sub-folder per class; ``train/`` and ``test/`` sub-folders when present, else a
stratified 80/20 split). ``subset`` keeps at most that many train and test samples
(stratified, seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data as cdata

NAMED = ("digits", "mnist5k", "mnist1d")
# Training-set sizes of the sample-efficiency curve (the full training set is always added).
# Trimmed from 250..4000 in five steps to three so that three seeds fit in 5 minutes.
SIZES = (250, 1000, 2000)


def _is_idx_folder(path: Path) -> bool:
    names = [p.name for p in path.iterdir() if p.is_file()]
    return any("idx3-ubyte" in n for n in names) and any("idx1-ubyte" in n for n in names)


def _image_folder(path: Path, seed: int):
    if (path / "train").is_dir() and (path / "test").is_dir():
        tr, te = cdata.ImageFolder(path / "train", mode="L"), cdata.ImageFolder(path / "test",
                                                                                 mode="L")
        return cdata.Split(tr.x, tr.y, te.x, te.y)
    ds = cdata.ImageFolder(path, mode="L")
    train, test = cdata.stratified_split(ds.y, 0.2, seed)
    return cdata.Split(ds.x[train], ds.y[train], ds.x[test], ds.y[test])


def _is_cifar_folder(path: Path) -> bool:
    """CIFAR-10 binaries: test_batch.bin in the folder or its cifar-10-batches-bin/, or the
    cifar-10-binary.tar.gz archive (read by :class:`convolve.data.CIFAR10`)."""
    return ((path / "test_batch.bin").is_file()
            or (path / "cifar-10-batches-bin" / "test_batch.bin").is_file()
            or (path / "cifar-10-binary.tar.gz").is_file())


def _from_path(path: Path, seed: int):
    if not path.is_dir():
        raise ValueError(f"compare: --data must be one of {', '.join(NAMED)} or an existing "
                         f"folder (IDX files or an image folder), received {str(path)!r}")
    if _is_cifar_folder(path):  # 3x32x32 colour images, the seed's own example
        tr, te = cdata.CIFAR10(path, train=True), cdata.CIFAR10(path, train=False)
        return cdata.Split(tr.x, tr.y, te.x, te.y)
    if _is_idx_folder(path):
        tr, te = cdata.MNIST(path, train=True), cdata.MNIST(path, train=False)
        return cdata.Split(tr.x, tr.y, te.x, te.y)
    return _image_folder(path, seed)


def _keep(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified sample of at most n of the labels y (all of them if n is None)."""
    if n is None or n >= len(y):
        return np.arange(len(y))
    _, keep = cdata.stratified_split(y, n / len(y), seed)
    return np.sort(keep)


def load(source: str, seed: int = 0, subset: int | None = None) -> tuple[cdata.Split, dict]:
    """The split and a description dict (name, source, sizes, sample shape, classes)."""
    name = str(source)
    if name in NAMED:
        split = cdata.load_dataset(name)
        origin = next(i.source for i in cdata.available_datasets() if i.name == name)
    else:
        split = _from_path(Path(name), seed)
        origin = f"files in {name}"
    if subset is not None:
        if int(subset) < 20:
            raise ValueError(f"compare: --subset must be at least 20, received {subset}")
        tr, te = _keep(split.y_train, int(subset), seed), _keep(split.y_test, int(subset), seed)
        split = cdata.Split(split.x_train[tr], split.y_train[tr], split.x_test[te],
                            split.y_test[te])
    info = {"name": Path(name).name if name not in NAMED else name, "source": origin,
            "train_size": len(split.y_train), "test_size": len(split.y_test),
            "sample_shape": list(split.x_train.shape[1:]), "num_classes": split.num_classes,
            "subset": subset}
    return split, info


def training_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """A stratified, seeded subset of n training indices (for the sample-efficiency curve)."""
    return _keep(y, n, seed)


def holdout(split: cdata.Split, fraction: float, seed: int) -> tuple[cdata.Split, tuple | None]:
    """(the split without a validation part, (x_val, y_val)): a stratified, seeded
    ``fraction`` of the *training* data; the test data is never touched. (split, None)
    when fraction is 0."""
    if not fraction:
        return split, None
    if not 0.0 < float(fraction) < 1.0:
        raise ValueError(f"compare: the validation fraction must be in [0, 1), received "
                         f"{fraction!r}")
    keep, held = (np.sort(i) for i in cdata.stratified_split(split.y_train, float(fraction),
                                                             seed))
    return (cdata.Split(split.x_train[keep], split.y_train[keep], split.x_test, split.y_test),
            (split.x_train[held], split.y_train[held]))
