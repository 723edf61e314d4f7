"""Map-style and iterable datasets with PyTorch's names: Dataset, IterableDataset,
TensorDataset, Subset, ConcatDataset and random_split (``torch.utils.data.dataset``)."""

from __future__ import annotations

import bisect
import math
import numbers
import warnings

import numpy as np

from .. import random as _random
from ..data.dataset import ArrayDataset as _ArrayDataset
from ..tensor import Tensor
from ._collate import as_tensor

__all__ = ["ConcatDataset", "Dataset", "IterableDataset", "Subset", "TensorDataset",
           "fetch_batch", "random_split"]


class Dataset:
    """Base class of map-style datasets: subclasses define ``__getitem__`` (and usually
    ``__len__``). ``a + b`` concatenates."""

    def __getitem__(self, index):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of Dataset should "
                                  f"implement __getitem__")

    def __add__(self, other):
        return ConcatDataset([self, other])


class IterableDataset(Dataset):
    """Base class of datasets that are streams: subclasses define ``__iter__``. The
    DataLoader batches what the stream yields; samplers and ``shuffle`` do not apply."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__}: subclasses of IterableDataset "
                                  f"should implement __iter__")

    def __add__(self, other):
        raise TypeError("IterableDataset: + (ConcatDataset) needs map-style datasets")


def fetch_batch(dataset, indices: np.ndarray):
    """``default_collate([dataset[i] for i in indices])`` in one gather, for datasets whose
    samples are rows of arrays; None when the dataset cannot do that. Exact types only: a
    subclass may override ``__getitem__``, which must then be called sample by sample."""
    if type(dataset) in (TensorDataset, Subset):
        return dataset._fetch_batch(indices)
    if type(dataset) is _ArrayDataset and dataset.transform is None:
        x, y = dataset.get_batch(indices)
        return [as_tensor(x), as_tensor(y)]
    return None


class TensorDataset(Dataset):
    """Sample i is ``tuple(t[i] for t in tensors)``; all tensors share their first size."""

    def __init__(self, *tensors):
        if not tensors:
            raise ValueError("TensorDataset: expected at least one tensor, received none")
        tensors = tuple(t if isinstance(t, Tensor) else as_tensor(t) for t in tensors)
        sizes = [t.shape[0] if t.ndim else None for t in tensors]
        if None in sizes or len(set(sizes)) != 1:
            raise ValueError(f"TensorDataset: size mismatch between tensors, received first "
                             f"sizes {sizes} (shapes {[tuple(t.shape) for t in tensors]})")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(as_tensor(t.data[index]) for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def _fetch_batch(self, indices: np.ndarray) -> list:
        return [as_tensor(t.data[indices]) for t in self.tensors]


class Subset(Dataset):
    """The samples ``dataset[indices[k]]``; ``indices`` is kept as given."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)

    def _fetch_batch(self, indices: np.ndarray):
        # the index list as an array, converted once (again if it is replaced or resized)
        cache = self.__dict__.get("_index_array")
        if cache is None or cache[0] is not self.indices or len(cache[1]) != len(self.indices):
            cache = self._index_array = (self.indices, np.asarray(self.indices, dtype=np.int64))
        return fetch_batch(self.dataset, cache[1][indices])


class ConcatDataset(Dataset):
    """Datasets one after the other; ``cumulative_sizes[k]`` = total length of the first k+1."""

    def __init__(self, datasets):
        self.datasets = list(datasets)
        if not self.datasets:
            raise ValueError("ConcatDataset: datasets should not be an empty iterable")
        for d in self.datasets:
            if isinstance(d, IterableDataset):
                raise TypeError("ConcatDataset does not support IterableDataset")
        self.cumulative_sizes = np.cumsum([len(d) for d in self.datasets]).tolist()

    def __len__(self) -> int:
        return self.cumulative_sizes[-1]

    def __getitem__(self, idx):
        if idx < 0:
            if -idx > len(self):
                raise ValueError(f"ConcatDataset: absolute value of index {idx} should not "
                                 f"exceed dataset length {len(self)}")
            idx = len(self) + idx
        k = bisect.bisect_right(self.cumulative_sizes, idx)
        return self.datasets[k][idx - (self.cumulative_sizes[k - 1] if k else 0)]


def _split_lengths(n: int, lengths) -> list:
    """Integer lengths from ``lengths`` (ints, or fractions summing to 1) for ``n`` samples."""
    lengths = list(lengths)
    if any(isinstance(v, bool) or not isinstance(v, numbers.Real) for v in lengths):
        raise TypeError(f"random_split: lengths must be ints or fractions, received {lengths!r}")
    total = sum(lengths)
    if math.isclose(total, 1) and total <= 1 and not all(isinstance(v, numbers.Integral)
                                                         for v in lengths):
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"random_split: fraction at index {i} is not between 0 and 1, "
                                 f"received {frac!r}")
        out = [math.floor(n * frac) for frac in lengths]
        for i in range(n - sum(out)):
            out[i % len(out)] += 1
        for i, length in enumerate(out):
            if length == 0:
                warnings.warn(f"random_split: length of split at index {i} is 0; this "
                              f"might result in an empty dataset.", stacklevel=3)
        return out
    if any(not isinstance(v, numbers.Integral) or v < 0 for v in lengths):
        raise ValueError(f"random_split: lengths must be non-negative ints or fractions "
                         f"summing to 1, received {lengths!r}")
    return [int(v) for v in lengths]


def random_split(dataset, lengths, generator=None) -> list:
    """Split ``dataset`` into non-overlapping random ``Subset``s of the given lengths (ints
    summing to ``len(dataset)``, or fractions summing to 1, remainders handed out round-robin).
    ``generator`` (a ``convolve.Generator``) fixes the split; default: the global generator."""
    rng = _random.rng_of(generator, "random_split")
    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    if sum(sizes) != n:
        raise ValueError(f"random_split: sum of input lengths {sum(sizes)} does not equal the "
                         f"length of the input dataset ({n}); received lengths={list(lengths)!r}")
    order = rng.permutation(n).tolist()
    ends = np.cumsum(sizes).tolist()
    return [Subset(dataset, order[end - size:end]) for end, size in zip(ends, sizes)]
