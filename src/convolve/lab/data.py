"""Which data the lab trains on: whatever ``convolve train --data`` accepts.

``load(NAME_OR_PATH)`` goes through :func:`convolve.data.resolve` (bundled names, IDX
folders, CIFAR-10/100 binaries or tarballs, image folders, .npz): the format's own test
split where it has one, else a stratified 80/20 split seeded with ``seed``. ``subset``
keeps at most that many train and test samples (stratified, seeded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import data as cdata

NAMED = ("digits", "mnist5k", "mnist1d")
# Training-set sizes of the sample-efficiency curve (the full training set is always added).
# Trimmed from 250..4000 in five steps to three so that three seeds fit in 5 minutes.
SIZES = (250, 1000, 2000)


def _keep(y: np.ndarray, n: int | None, seed: int) -> np.ndarray:
    """Indices of a stratified sample of at most n of the labels y (all of them if n is None)."""
    if n is None or n >= len(y):
        return np.arange(len(y))
    _, keep = cdata.stratified_split(y, n / len(y), seed)
    return np.sort(keep)


def load(source: str, seed: int = 0, subset: int | None = None, image_size=None,
         channels=None) -> tuple[cdata.Split, dict]:
    """The split and a description dict (name, source, sizes, sample shape, classes);
    ``image_size`` (H, W) and ``channels`` read images as ``convolve train`` does."""
    name = str(source)
    if subset is not None and int(subset) < 20:
        raise ValueError(f"compare: --subset must be at least 20, received {subset}")
    res = cdata.resolve(name, seed=seed, image_size=image_size, channels=channels)
    split = res.split
    registry = {i.name: i.source for i in cdata.available_datasets()}
    origin = registry.get(name, f"files in {name}")
    if subset is not None:
        tr, te = _keep(split.y_train, int(subset), seed), _keep(split.y_test, int(subset), seed)
        split = cdata.Split(cdata.take(split.x_train, tr), split.y_train[tr],
                            cdata.take(split.x_test, te), split.y_test[te])
    info = {"name": Path(name).name if name not in NAMED else name, "source": origin,
            "train_size": len(split.y_train), "test_size": len(split.y_test),
            "sample_shape": list(split.x_train.shape[1:]), "num_classes": res.num_classes,
            "subset": subset,
            "classes": [str(c) for c in res.classes] if res.classes else None}
    return split, info


def normalized(split: cdata.Split, val):
    """(split, val) with every x as (x - mean) / std, the per-channel statistics of the
    training part (std 0 counts as 1); the test part and val never feed the statistics."""
    from ..data.arrays import InputView, channel_stats

    mean, std = channel_stats(split.x_train)

    def norm(x):
        return InputView(x, mean, std)[np.arange(len(x))]

    val = None if val is None else (norm(val[0]), val[1])
    return cdata.Split(norm(split.x_train), split.y_train, norm(split.x_test),
                       split.y_test), val


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
