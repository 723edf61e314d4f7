"""Data-parallel training: sharding the data over ranks, a DistributedDataParallel wrapper
and metrics reduced over ranks.

``DistributedDataParallel(model)`` broadcasts rank 0's parameters and buffers at start, so
every rank begins identical. After ``loss.backward()``, :meth:`sync_gradients` replaces each
rank's gradients by the sample-weighted mean over ranks: every rank scales its gradient by
``n_rank / n_total`` (``n_rank`` = the batch size of its last forward) and the scaled
gradients are summed with ``MPI_Allreduce`` in flat buckets of ``bucket_mb`` MB. With a
mean-reduced loss that is exactly the gradient of the mean over the global batch, also for
uneven shards. :meth:`attach` makes ``optimizer.step()`` call it first, so an unmodified
training loop (:func:`convolve.train.fit`) trains data-parallel.

Communication is not overlapped with backward: the autograd engine has no per-parameter
hooks, and for the models here the allreduce is a few per cent of a step (see the README).

Sharding (:class:`DistributedSampler`, :class:`DistributedLoader`), one global sample order
whatever the world size. Epoch e's global order is the single-process DataLoader's: the permutation drawn from
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

from ..callbacks import NaNGuard
from ..data import DataLoader
from ..nn.module import Module
from . import comm as _comm

__all__ = ["DistributedDataParallel", "DistributedLoader", "DistributedMetrics",
           "DistributedSampler", "check_world"]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the MPI world (see module docstring).

    ``state_dict``/``load_state_dict``/``spec`` are the wrapped module's, so checkpoints are
    the same as from a single process. ``broadcast_buffers`` re-sends rank 0's buffers
    (e.g. BatchNorm running statistics) before every training forward, as PyTorch does.
    BatchNorm normalises with each rank's own batch statistics (there is no SyncBatchNorm),
    so models with BatchNorm are not step-for-step equal to one process with the global batch.
    """

    def __init__(self, module, bucket_mb: float = 4.0, broadcast_buffers: bool = True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: module must be a Module, received "
                            f"{type(module).__name__}")
        if not bucket_mb > 0:
            raise ValueError(f"DistributedDataParallel: bucket_mb must be > 0, received "
                             f"{bucket_mb!r}")
        _comm.init()
        self.module = module
        self.bucket_bytes = int(bucket_mb * 2**20)
        self.broadcast_buffers = bool(broadcast_buffers)
        self._count = 0
        for p in module.parameters():
            _comm.broadcast_(p.data)
        self._broadcast_buffers()

    @property
    def spec(self):
        return getattr(self.module, "spec", None)

    def _broadcast_buffers(self) -> None:
        for b in self.module.buffers():
            _comm.broadcast_(b.data if hasattr(b, "data") and not isinstance(b, np.ndarray)
                             else b)

    def forward(self, x, *args, **kwargs):
        self._count = len(x)
        if self.training and self.broadcast_buffers and _comm.world_size() > 1:
            self._broadcast_buffers()
        return self.module(x, *args, **kwargs)

    def state_dict(self):
        return self.module.state_dict()

    def load_state_dict(self, state_dict, strict: bool = True):
        return self.module.load_state_dict(state_dict, strict=strict)

    def _buckets(self, params: list):
        """Consecutive runs of same-dtype parameters of at most bucket_bytes each."""
        bucket, size = [], 0
        for p in params:
            nbytes = p.data.nbytes
            if bucket and (size + nbytes > self.bucket_bytes or p.data.dtype != bucket[0].data.dtype):
                yield bucket
                bucket, size = [], 0
            bucket.append(p)
            size += nbytes
        if bucket:
            yield bucket

    def sync_gradients(self) -> None:
        """Set every parameter's grad to the sample-weighted mean of the ranks' grads."""
        if _comm.world_size() == 1:
            return
        total = float(_comm.allreduce_sum([self._count])[0])
        if total <= 0:
            raise RuntimeError("DistributedDataParallel: no rank ran a forward pass before "
                               "sync_gradients()")
        scale = self._count / total
        params = [p for p in self.module.parameters() if p.requires_grad]
        for bucket in self._buckets(params):
            flat = np.concatenate([(p.grad if p.grad is not None
                                    else np.zeros_like(p.data)).reshape(-1) for p in bucket])
            flat *= flat.dtype.type(scale)
            _comm.allreduce_(flat)
            offset = 0
            for p in bucket:
                n = p.data.size
                p.grad = flat[offset:offset + n].reshape(p.data.shape)
                offset += n

    def attach(self, optimizer):
        """Make ``optimizer.step()`` sync the gradients first; returns the optimizer."""
        if getattr(optimizer, "_convolve_ddp", None) is self:
            return optimizer
        step = optimizer.step

        def synced_step(*args, **kwargs):
            self.sync_gradients()
            return step(*args, **kwargs)

        optimizer.step = synced_step
        optimizer._convolve_ddp = self
        return optimizer


class DistributedMetrics(NaNGuard):
    """Make the training metrics global, and the NaN/Inf guard agree on every rank.

    After each batch the logged ``loss`` becomes the global batch's mean loss (one small
    allreduce), so a non-finite loss on any rank stops every rank at the same batch (it is
    a :class:`~convolve.callbacks.NaNGuard`; fit adds no other). At the last batch of each
    epoch the sample count, loss sum and correct count are summed over ranks. Put it first
    in ``callbacks``, before anything that logs.
    """

    def on_batch_end(self, state, logs):
        loss_sum, size = _comm.allreduce_sum([logs["loss"] * logs["size"], logs["size"]])
        logs["loss"] = float(loss_sum / size)
        if state.num_batches is not None and logs["batch"] + 1 == state.num_batches:
            seen, loss_sum, correct = _comm.allreduce_sum([state.seen, state.loss_sum,
                                                           state.correct])
            state.seen, state.loss_sum, state.correct = int(seen), float(loss_sum), int(correct)
        super().on_batch_end(state, logs)


# ----------------------------------------------------------------------------- sharding
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
