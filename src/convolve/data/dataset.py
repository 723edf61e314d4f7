"""Datasets held in memory: the Dataset protocol, ArrayDataset, Subset, Split and a
stratified train/test split.

A dataset is anything with ``len(ds)`` and ``ds[i] -> (x, y)``. Datasets that can also
answer ``ds.get_batch(indices) -> (x_batch, y_batch)`` in one vectorised step (ArrayDataset
without a per-sample transform, and Subsets of it) let the DataLoader skip the Python loop.
"""

from __future__ import annotations

import numbers
from typing import NamedTuple, Protocol, runtime_checkable

import numpy as np

__all__ = ["ArrayDataset", "Dataset", "Split", "Subset", "check_labels", "stratified_split"]


@runtime_checkable
class Dataset(Protocol):
    """Anything with ``__len__`` and ``__getitem__(i) -> (x, y)`` for 0 <= i < len."""

    def __len__(self) -> int: ...

    def __getitem__(self, index: int) -> tuple: ...


def check_labels(where: str, y, n: int | None = None) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array; raise naming ``where`` if it is not integral
    or does not have ``n`` entries."""
    y = np.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"{where}: y must be 1-D class labels, received shape {y.shape}")
    integral = y.dtype.kind in "iub" or (
        y.dtype.kind == "f" and np.all(np.isfinite(y)) and np.all(y == np.round(y)))
    if not integral:
        raise TypeError(f"{where}: y must hold integer class labels, received dtype {y.dtype}")
    if n is not None and len(y) != n:
        raise ValueError(f"{where}: x has {n} samples but y has {len(y)} labels")
    return y.astype(np.int64, copy=False)


def _normalise_index(where: str, index, n: int) -> int:
    if not isinstance(index, numbers.Integral) or isinstance(index, bool):
        raise TypeError(f"{where}: index must be an int, received {type(index).__name__}")
    i = int(index) + n if index < 0 else int(index)
    if not 0 <= i < n:
        raise IndexError(f"{where}: index {index} is out of range for {n} samples")
    return i


class ArrayDataset:
    """Samples ``x[i]`` with labels ``y[i]``; x is (N, ...) (e.g. (N, C, H, W)), y is (N,).
    x may be an ndarray or a read-only array-like (``len``, ``.shape``, ``.dtype``, ``x[i]``,
    ``x[indices]``: see :mod:`convolve.data.arrays`), which is never copied whole.

    ``transform`` is applied per sample in ``__getitem__`` (a Python loop in the loader);
    prefer the DataLoader's ``transform=``, which sees whole batches.
    """

    def __init__(self, x, y, transform=None):
        from .arrays import is_array_like

        x = x if is_array_like(x) else np.asarray(x)  # an array-like stays as it is (lazy)
        if len(x.shape) < 1:
            raise ValueError(f"ArrayDataset: x must have a leading sample axis, received shape {x.shape}")
        if x.dtype.kind not in "iufb":
            raise TypeError(f"ArrayDataset: x must be numeric, received dtype {x.dtype}")
        if transform is not None and not callable(transform):
            raise TypeError(f"ArrayDataset: transform must be callable, received {transform!r}")
        self.x, self.y = x, check_labels("ArrayDataset", y, len(x))
        self.transform = transform

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        i = _normalise_index(type(self).__name__, index, len(self))
        x = self.x[i]
        return (x if self.transform is None else self.transform(x)), self.y[i]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(x[indices], y[indices]) in one gather; loops only with a per-sample transform."""
        if self.transform is None:
            return self.x[indices], self.y[indices]
        xs = [self.transform(self.x[i]) for i in indices]
        return np.stack(xs), self.y[indices]

    def prefetch(self, indices: np.ndarray):
        """A function giving get_batch(indices); a lazy x starts decoding right away (in its
        worker processes), so the batch can be prepared while the previous one is used."""
        if self.transform is None and hasattr(self.x, "prefetch"):
            pending, y = self.x.prefetch(indices), self.y[indices]
            return lambda: (pending(), y)
        return lambda: self.get_batch(indices)

    @property
    def num_classes(self) -> int:
        return int(self.y.max()) + 1 if len(self.y) else 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(x={self.x.shape} {self.x.dtype}, y={self.y.shape})"


class Subset:
    """The samples ``dataset[indices[k]]`` for k < len(indices)."""

    def __init__(self, dataset, indices):
        idx = np.asarray(indices)
        if idx.ndim != 1 or (idx.size and idx.dtype.kind not in "iu"):
            raise TypeError(f"Subset: indices must be a 1-D integer array, received {idx.dtype} "
                            f"of shape {idx.shape}")
        n = len(dataset)
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise IndexError(f"Subset: indices must lie in [{-n}, {n}), received "
                             f"min {idx.min()}, max {idx.max()}")
        self.dataset, self.indices = dataset, np.where(idx < 0, idx + n, idx).astype(np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index):
        return self.dataset[int(self.indices[_normalise_index("Subset", index, len(self))])]

    def get_batch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        sub = self.indices[indices]
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(sub)
        xs, ys = zip(*(self.dataset[int(i)] for i in sub))
        return np.stack(xs), np.asarray(ys)

    def prefetch(self, indices: np.ndarray):
        """A function giving get_batch(indices), started early when the dataset can."""
        if hasattr(self.dataset, "prefetch"):
            return self.dataset.prefetch(self.indices[indices])
        return lambda: self.get_batch(indices)


class Split(NamedTuple):
    """Train and test arrays: x (N, C, H, W) or (N, C, L) float32, y (N,) int64."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def train(self) -> ArrayDataset:
        return ArrayDataset(self.x_train, self.y_train)

    @property
    def test(self) -> ArrayDataset:
        return ArrayDataset(self.x_test, self.y_test)

    @property
    def num_classes(self) -> int:
        return int(max(self.y_train.max(initial=-1), self.y_test.max(initial=-1))) + 1


def _test_counts(counts: np.ndarray, test_size: float) -> np.ndarray:
    """Per-class test counts summing to round(N * test_size): floor each class's share,
    then hand the remainder to the classes with the largest fractional parts."""
    share = counts * test_size
    take = np.floor(share).astype(np.int64)
    missing = round(float(counts.sum()) * test_size) - int(take.sum())
    order = np.argsort(-(share - take), kind="stable")
    take[order[:missing]] += 1
    return np.minimum(take, counts)


def stratified_split(y, test_size: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices (train, test) with every class split in proportion ``test_size``.

    Each class contributes floor or ceil of ``n_class * test_size`` to the test side (total
    round(N * test_size)); both index arrays come back in a seeded random order.
    """
    y = check_labels("stratified_split", y)
    if isinstance(test_size, bool) or not isinstance(test_size, numbers.Real) \
            or not 0.0 < test_size < 1.0:
        raise ValueError(f"stratified_split: test_size must be a float in (0, 1), "
                         f"received test_size={test_size!r}")
    rng = np.random.default_rng(seed)
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    take = _test_counts(counts, float(test_size))
    # Random rank of each sample within its class: sort by (class, random key).
    order = np.lexsort((rng.random(len(y)), inverse))
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(y), dtype=np.int64)
    rank[order] = np.arange(len(y)) - np.repeat(starts, counts)
    is_test = rank < take[inverse]
    train, test = np.flatnonzero(~is_test), np.flatnonzero(is_test)
    return rng.permutation(train), rng.permutation(test)
