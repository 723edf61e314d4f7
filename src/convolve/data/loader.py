"""DataLoader: seeded, resumable mini-batches as NumPy arrays.

Randomness is a pure function of (seed, epoch, batch): epoch e's order is drawn from
``SeedSequence(seed, spawn_key=(e, 0))`` and batch b's augmentation generator from
``SeedSequence(seed, spawn_key=(e, 1, b))``. So the same seed gives the same batches,
every epoch has a fresh order, and ``state_dict()`` = (seed, epoch, batch) restores a run
bit-identically mid-epoch without replaying anything.
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .. import random as _random
from .transforms import apply_transform

__all__ = ["DataLoader"]


def _check_int(arg: str, value, minimum: int) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"DataLoader: {arg} must be an int >= {minimum}, received {arg}={value!r}")
    return int(value)


class DataLoader:
    """Iterate over ``dataset`` in batches ``(x, y)``: x (B, ...) as ``dtype`` (float32),
    y (B,) int64. ``len(loader)`` = N // B with ``drop_last``, else ceil(N / B).

    Datasets with ``get_batch`` (ArrayDataset, Subset) are gathered with one fancy index
    per batch; others are stacked sample by sample. Over a lazy image folder
    (:func:`convolve.data.open_image_folder`) each batch decodes only its own images, and
    with decoding workers the next batch is decoded while this one is used.
    ``transform`` sees whole batches and gets a per-batch seeded ``rng``. ``seed`` (or one draw from ``generator``, else from
    ``convolve.random``) fixes all shuffling and augmentation. Each ``iter()`` starts the
    next epoch; ``set_epoch(n)`` picks one explicitly.
    """

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, generator=None,
                 transform=None, dtype=np.float32):
        if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, "
                            f"received {type(dataset).__name__}")
        if transform is not None and not callable(transform):
            raise TypeError(f"DataLoader: transform must be callable, received {transform!r}")
        if seed is not None and generator is not None:
            raise ValueError("DataLoader: pass seed or generator, not both")
        self.dataset, self.transform = dataset, transform
        self.batch_size = _check_int("batch_size", batch_size, 1)
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.dtype = None if dtype is None else np.dtype(dtype)
        self.seed = self._base_seed(seed, generator)
        self.epoch, self._start_batch = 0, 0
        self._position = None  # (epoch, next batch) of the iteration in progress

    @staticmethod
    def _base_seed(seed, generator) -> int:
        if seed is not None:
            return _check_int("seed", seed, 0)
        if generator is not None:  # a NumPy Generator or a convolve.Generator
            return int(_random.rng_of(generator, "DataLoader").integers(2**63))
        return int(_random.get_rng().integers(2**63))

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def order(self, epoch: int) -> np.ndarray:
        """The sample order of ``epoch``: a seeded permutation, or arange(N) without shuffle."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        ss = np.random.SeedSequence(self.seed, spawn_key=(int(epoch), 0))
        return np.random.default_rng(ss).permutation(n)

    def batch_rng(self, epoch: int, batch: int) -> np.random.Generator:
        """The generator handed to ``transform`` for batch ``batch`` of ``epoch``."""
        ss = np.random.SeedSequence(self.seed, spawn_key=(int(epoch), 1, int(batch)))
        return np.random.default_rng(ss)

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter()`` run ``epoch`` from its first batch."""
        self.epoch, self._start_batch = _check_int("epoch", epoch, 0), 0
        self._position = None

    def _fetch(self, indices: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        if hasattr(self.dataset, "get_batch"):
            return self.dataset.get_batch(indices)
        samples = [self.dataset[int(i)] for i in indices]
        return np.stack([s[0] for s in samples]), np.asarray([s[1] for s in samples])

    def _start(self, order: np.ndarray, b: int):
        """A function giving the raw (x, y) of batch ``b``. Datasets with ``prefetch`` (a
        lazy image folder with worker processes) start decoding now; others fetch when it
        is called. Either way the values depend only on (seed, epoch, b)."""
        indices = order[b * self.batch_size:(b + 1) * self.batch_size]
        if hasattr(self.dataset, "prefetch"):
            return self.dataset.prefetch(indices)
        return lambda: self._fetch(indices)

    def _batch(self, fetched, epoch: int, b: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = fetched()
        if self.transform is not None:
            x = apply_transform(self.transform, x, self.batch_rng(epoch, b))
        x = np.asarray(x)
        if self.dtype is not None:
            x = x.astype(self.dtype, copy=False)
        return x, np.asarray(y).astype(np.int64, copy=False)

    def __iter__(self):
        epoch, start = self.epoch, self._start_batch
        self.epoch, self._start_batch = epoch + 1, 0
        self._position = (epoch, start)
        return self._iterate(epoch, start)

    def _iterate(self, epoch: int, start: int):
        order, n = self.order(epoch), len(self)
        pending = self._start(order, start) if start < n else None
        for b in range(start, n):
            fetched, pending = pending, (self._start(order, b + 1) if b + 1 < n else None)
            batch = self._batch(fetched, epoch, b)
            self._position = (epoch, b + 1)
            yield batch

    def state_dict(self) -> dict:
        """{'seed', 'epoch', 'batch'}: where the next batch comes from. Taken mid-epoch it
        points at the batch after the last one yielded; a finished epoch points at the next."""
        epoch, batch = (self.epoch, self._start_batch) if self._position is None \
            else self._position
        if batch >= len(self) > 0:
            epoch, batch = epoch + 1, 0
        return {"seed": self.seed, "epoch": epoch, "batch": batch}

    def load_state_dict(self, state: dict) -> None:
        """Resume from :meth:`state_dict`: the next ``iter()`` continues at that batch."""
        if not isinstance(state, dict) or set(state) != {"seed", "epoch", "batch"}:
            raise ValueError(f"DataLoader: state must be a dict with keys seed, epoch, batch, "
                             f"received {state!r}")
        seed = _check_int("state['seed']", state["seed"], 0)
        epoch = _check_int("state['epoch']", state["epoch"], 0)
        batch = _check_int("state['batch']", state["batch"], 0)
        if batch > len(self):
            raise ValueError(f"DataLoader: state['batch']={batch} exceeds the {len(self)} "
                             f"batches per epoch")
        self.seed, self.epoch, self._start_batch, self._position = seed, epoch, batch, None

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={self.dataset!r}, batch_size={self.batch_size}, "
                f"shuffle={self.shuffle}, drop_last={self.drop_last}, seed={self.seed})")
