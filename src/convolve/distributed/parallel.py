"""Data-parallel training: a DistributedDataParallel wrapper and metrics reduced over ranks.

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
"""

from __future__ import annotations

import numpy as np

from ..callbacks import Callback
from ..nn.module import Module
from . import comm as _comm

__all__ = ["DistributedDataParallel", "DistributedMetrics"]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training over the MPI world (see module docstring).

    ``state_dict``/``load_state_dict``/``spec`` are the wrapped module's, so checkpoints are
    the same as from a single process. ``broadcast_buffers`` re-sends rank 0's buffers
    (e.g. BatchNorm running statistics) before every training forward, as PyTorch does.
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


class DistributedMetrics(Callback):
    """Turn the epoch's training loss/accuracy into global ones: at the last batch of each
    epoch the sample count, loss sum and correct count are summed over ranks (put it first
    in ``callbacks``, before anything that logs)."""

    def on_batch_end(self, state, logs):
        if state.num_batches is None or logs["batch"] + 1 != state.num_batches:
            return
        seen, loss_sum, correct = _comm.allreduce_sum([state.seen, state.loss_sum,
                                                       state.correct])
        state.seen, state.loss_sum, state.correct = int(seen), float(loss_sum), int(correct)
