"""PyTorch's samplers for convolve: which dataset indices a DataLoader visits, in what order
and in what batches (``torch.utils.data.sampler`` names and semantics).

Index samplers can hand their whole epoch to ``BatchSampler`` as one NumPy array, so batching
slices an array instead of looping over samples in Python.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random

__all__ = ["BatchSampler", "RandomSampler", "Sampler", "SequentialSampler",
           "SubsetRandomSampler", "WeightedRandomSampler"]


def _check_int(owner: str, arg: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{owner}: {arg} must be an int >= {minimum}, received {arg}={value!r}")
    return int(value)


def _epoch_rng(generator, owner: str) -> np.random.Generator:
    """A generator for one pass: ``generator``'s own stream, or (None) a fresh one seeded by
    one draw from convolve's global generator, as PyTorch seeds from its default one."""
    if generator is None:
        return np.random.default_rng(int(_random.get_rng().integers(2**63)))
    return _random.rng_of(generator, owner)


class Sampler:
    """Base class: an iterable of dataset indices (subclasses define ``__iter__``)."""

    def __init__(self, data_source=None):
        pass

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must define __iter__")

    def _indices(self) -> np.ndarray:
        """One epoch's indices as an int64 array (vectorised batching)."""
        return np.fromiter(iter(self), dtype=np.int64)


class SequentialSampler(Sampler):
    """Indices 0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def _indices(self) -> np.ndarray:
        return np.arange(len(self.data_source), dtype=np.int64)

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A random permutation of the indices each pass (or ``num_samples`` draws with
    ``replacement``). Without ``generator`` each pass is seeded from ``convolve.manual_seed``."""

    def __init__(self, data_source, replacement: bool = False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"RandomSampler: replacement must be a bool, received "
                            f"replacement={replacement!r}")
        self.data_source, self.replacement, self.generator = data_source, replacement, generator
        self._num_samples = None if num_samples is None else \
            _check_int("RandomSampler", "num_samples", num_samples, 1)
        _random.rng_of(generator, "RandomSampler")  # type check now, not at the first pass

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def _indices(self) -> np.ndarray:
        n, rng = len(self.data_source), _epoch_rng(self.generator, "RandomSampler")
        if self.replacement:
            return rng.integers(0, n, size=self.num_samples, dtype=np.int64)
        reps = math.ceil(self.num_samples / n) if n else 0
        order = np.concatenate([rng.permutation(n) for _ in range(reps)] or [np.arange(0)])
        return order[:self.num_samples].astype(np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class SubsetRandomSampler(Sampler):
    """The given ``indices`` in a random order each pass."""

    def __init__(self, indices, generator=None):
        self.indices, self.generator = indices, generator
        _random.rng_of(generator, "SubsetRandomSampler")

    def _indices(self) -> np.ndarray:
        rng = _epoch_rng(self.generator, "SubsetRandomSampler")
        return np.asarray(self.indices, dtype=np.int64)[rng.permutation(len(self.indices))]

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return len(self.indices)


class WeightedRandomSampler(Sampler):
    """``num_samples`` indices drawn with probabilities proportional to ``weights``."""

    def __init__(self, weights, num_samples: int, replacement: bool = True, generator=None):
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 1 or not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
            raise ValueError(f"WeightedRandomSampler: weights must be a 1-D sequence of finite "
                             f"non-negative numbers with a positive sum, received {weights!r}")
        self.weights, self.replacement, self.generator = w, bool(replacement), generator
        self.num_samples = _check_int("WeightedRandomSampler", "num_samples", num_samples, 1)
        if not replacement and self.num_samples > np.count_nonzero(w):
            raise ValueError(f"WeightedRandomSampler: num_samples={num_samples} exceeds the "
                             f"{np.count_nonzero(w)} non-zero weights without replacement")

    def _indices(self) -> np.ndarray:
        rng = _epoch_rng(self.generator, "WeightedRandomSampler")
        return rng.choice(len(self.weights), size=self.num_samples, replace=self.replacement,
                          p=self.weights / self.weights.sum()).astype(np.int64)

    def __iter__(self):
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``; the last one shorter unless
    ``drop_last``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        self.batch_size = _check_int("BatchSampler", "batch_size", batch_size, 1)
        if not isinstance(drop_last, bool):
            raise TypeError(f"BatchSampler: drop_last must be a bool, received "
                             f"drop_last={drop_last!r}")
        self.sampler, self.drop_last = sampler, drop_last

    def __iter__(self):
        if isinstance(self.sampler, Sampler):
            order = self.sampler._indices()
            stop = len(order) - len(order) % self.batch_size if self.drop_last else len(order)
            for start in range(0, stop, self.batch_size):
                yield order[start:start + self.batch_size].tolist()
            return
        batch = []
        for index in self.sampler:
            batch.append(index)
            if len(batch) == self.batch_size:
                yield batch
                batch = []
        if batch and not self.drop_last:
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
