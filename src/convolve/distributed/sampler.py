"""Sharding the data over ranks with one global sample order, whatever the world size.

Epoch e's global order is the single-process DataLoader's: the permutation drawn from
``SeedSequence(seed, spawn_key=(e, 0))`` (or arange without shuffle). That order is cut into
global batches of ``batch_size`` samples, and rank r of N takes the r-th of the N nearly
equal contiguous slices of every global batch (``np.array_split``). So N ranks with a global
batch B see, step for step, exactly the samples 1 rank sees with batch B, and the order
(hence the position stored in a checkpoint: seed, epoch, global batch) does not depend on N:
a run checkpointed with N ranks resumes with M.

Uneven slices are exact: :class:`~convolve.distributed.DistributedDataParallel` weights each
rank's gradient by its sample count. A last global batch with fewer samples than ranks would
leave a rank empty and is dropped (so is any partial last batch with ``drop_last``).
"""

from __future__ import annotations

import math

import numpy as np

from ..data import DataLoader
from . import comm as _comm

__all__ = ["DistributedLoader", "DistributedSampler"]


def _positive_int(owner: str, arg: str, value, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{owner}: {arg} must be an int >= {minimum}, received {value!r}")
    return int(value)


def check_world(owner: str, n_samples: int, batch_size: int, world: int) -> None:
    """One-line errors for launch settings that cannot shard: too many ranks."""
    if world > n_samples:
        raise ValueError(f"{owner}: more ranks ({world}) than samples ({n_samples}); "
                         f"use at most {n_samples} workers")
    if world > batch_size:
        raise ValueError(f"{owner}: the global batch_size ({batch_size}) must be >= the number "
                         f"of ranks ({world}), else some ranks get no samples")


class DistributedSampler:
    """Per-rank index shards of each global batch of a seeded global order.

    ``batches()`` yields this rank's index array for every global batch of the current epoch;
    ``set_epoch(e)`` selects the epoch (reshuffled from ``seed``).
    """

    def __init__(self, n_samples: int, batch_size: int, num_replicas: int | None = None,
                 rank: int | None = None, shuffle: bool = True, seed: int = 0,
                 drop_last: bool = False):
        self.n = _positive_int("DistributedSampler", "n_samples", n_samples, 1)
        self.batch_size = _positive_int("DistributedSampler", "batch_size", batch_size, 1)
        world = _comm.world_size() if num_replicas is None else num_replicas
        self.num_replicas = _positive_int("DistributedSampler", "num_replicas", world, 1)
        r = _comm.rank() if rank is None else rank
        if not isinstance(r, (int, np.integer)) or not 0 <= r < self.num_replicas:
            raise ValueError(f"DistributedSampler: rank must be in [0, {self.num_replicas}), "
                             f"received {r!r}")
        check_world("DistributedSampler", self.n, self.batch_size, self.num_replicas)
        self.rank, self.shuffle, self.drop_last = int(r), bool(shuffle), bool(drop_last)
        self.seed = _positive_int("DistributedSampler", "seed", seed, 0)
        self.epoch = 0

    def __len__(self) -> int:
        """Global batches per epoch (the same on every rank)."""
        full, rest = divmod(self.n, self.batch_size)
        return full + (1 if rest and not self.drop_last and rest >= self.num_replicas else 0)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = _positive_int("DistributedSampler", "epoch", epoch, 0)

    def global_order(self, epoch: int | None = None) -> np.ndarray:
        """The order every rank agrees on (the single-process DataLoader's order)."""
        e = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(self.n)
        ss = np.random.SeedSequence(self.seed, spawn_key=(int(e), 0))
        return np.random.default_rng(ss).permutation(self.n)

    def shard(self, global_batch: np.ndarray) -> np.ndarray:
        """This rank's contiguous slice of one global batch."""
        return np.array_split(global_batch, self.num_replicas)[self.rank]

    def batches(self, epoch: int | None = None):
        order = self.global_order(epoch)
        for b in range(len(self)):
            yield self.shard(order[b * self.batch_size:(b + 1) * self.batch_size])


class DistributedLoader(DataLoader):
    """A DataLoader whose ``batch_size`` is the GLOBAL batch: each rank yields its shard of
    every global batch (see the module docstring). Its ``state_dict`` (seed, epoch, global
    batch) is the same on every rank and resumes under any world size. Augmentation is
    seeded per (seed, epoch, batch, rank); with one rank it equals the DataLoader's."""

    def __init__(self, dataset, batch_size: int = 1, shuffle: bool = False,
                 drop_last: bool = False, seed: int | None = None, transform=None,
                 dtype=np.float32, num_replicas: int | None = None, rank: int | None = None):
        super().__init__(dataset, batch_size=batch_size, shuffle=shuffle, drop_last=drop_last,
                         seed=seed, transform=transform, dtype=dtype)
        self.sampler = DistributedSampler(len(dataset), self.batch_size, num_replicas, rank,
                                          shuffle=self.shuffle, seed=self.seed,
                                          drop_last=self.drop_last)

    def __len__(self) -> int:
        return len(self.sampler) if hasattr(self, "sampler") else \
            math.ceil(len(self.dataset) / self.batch_size)

    def _fetch(self, indices: np.ndarray):
        return super()._fetch(self.sampler.shard(indices))

    def batch_rng(self, epoch: int, batch: int) -> np.random.Generator:
        if self.sampler.num_replicas == 1:
            return super().batch_rng(epoch, batch)
        key = (int(epoch), 1, int(batch), self.sampler.rank)
        return np.random.default_rng(np.random.SeedSequence(self.seed, spawn_key=key))

    def load_state_dict(self, state: dict) -> None:
        super().load_state_dict(state)
        self.sampler.seed = self.seed
