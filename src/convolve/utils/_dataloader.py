"""PyTorch's ``DataLoader`` for convolve: batches of convolve Tensors from a dataset, a
sampler and a collate function, with ``torch.utils.data.DataLoader``'s arguments and checks.

Everything runs in the calling process: ``num_workers > 0``, ``pin_memory``,
``prefetch_factor``, ``persistent_workers``, ``timeout`` and ``multiprocessing_context``
are accepted and checked as PyTorch checks them, but no worker processes start
(``worker_init_fn``, if given, is called once with worker id 0 at the start of every pass).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from ._collate import default_collate, default_convert
from ._dataset import IterableDataset, fetch_batch
from ._sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader", "get_worker_info"]


def get_worker_info():
    """None: convolve's DataLoader loads in the calling process, never in a worker."""


def _check_worker_options(num_workers, prefetch_factor, persistent_workers, timeout) -> None:
    if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) \
            or num_workers < 0:
        raise ValueError(f"DataLoader: num_workers option should be a non-negative int; use "
                         f"num_workers=0 to disable multiprocessing, received {num_workers!r}")
    if num_workers == 0 and prefetch_factor is not None:
        raise ValueError("DataLoader: prefetch_factor option could only be specified with "
                         "num_workers > 0, received prefetch_factor="
                         f"{prefetch_factor!r} with num_workers=0")
    if prefetch_factor is not None and (not isinstance(prefetch_factor, numbers.Integral)
                                        or prefetch_factor < 0):
        raise ValueError(f"DataLoader: prefetch_factor option should be a non-negative int, "
                         f"received {prefetch_factor!r}")
    if persistent_workers and num_workers == 0:
        raise ValueError("DataLoader: persistent_workers option needs num_workers > 0")
    if not isinstance(timeout, numbers.Real) or timeout < 0:
        raise ValueError(f"DataLoader: timeout option should be non-negative, received "
                         f"{timeout!r}")


def _check_batching(batch_size, shuffle, sampler, batch_sampler, drop_last) -> None:
    if sampler is not None and shuffle:
        raise ValueError("DataLoader: sampler option is mutually exclusive with shuffle")
    if batch_sampler is not None and (batch_size != 1 or shuffle or sampler is not None
                                      or drop_last):
        raise ValueError("DataLoader: batch_sampler option is mutually exclusive with "
                         "batch_size, shuffle, sampler, and drop_last")
    if batch_size is None and drop_last:
        raise ValueError("DataLoader: batch_size=None option disables auto-batching and is "
                         "mutually exclusive with drop_last")
    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(
            batch_size, numbers.Integral) or batch_size < 1):
        raise ValueError(f"DataLoader: batch_size should be a positive int or None, received "
                         f"batch_size={batch_size!r}")


class _LoaderIter:
    """One pass over a DataLoader: ``next()`` gives the next batch; ``len()`` the count."""

    def __init__(self, loader, batches):
        self._loader, self._batches = loader, batches

    def __iter__(self):
        return self

    def __next__(self):
        return next(self._batches)

    def __len__(self) -> int:
        return len(self._loader)


class DataLoader:
    """Iterate over ``dataset`` in batches, as ``torch.utils.data.DataLoader``.

    Batches are what ``collate_fn`` (default: :func:`default_collate`) makes of the samples:
    ``(x, y)`` samples give ``[x_batch, y_batch]`` Tensors, int labels an int64 Tensor.
    ``shuffle=True`` draws a new order each pass from ``generator`` (a ``convolve.Generator``)
    or, without one, from a seed drawn from ``convolve.manual_seed``'s global generator.
    ``len(loader)`` is the number of batches. Worker processes are never started: see the
    module docstring; batches from ``TensorDataset`` and ``convolve.data.ArrayDataset`` (and
    Subsets of them) are gathered in one vectorised step.
    """

    def __init__(self, dataset, batch_size=1, shuffle=None, sampler=None, batch_sampler=None,
                 num_workers=0, collate_fn=None, pin_memory=False, drop_last=False, timeout=0,
                 worker_init_fn=None, multiprocessing_context=None, generator=None, *,
                 prefetch_factor=None, persistent_workers=False, pin_memory_device="",
                 in_order=True):
        if not hasattr(dataset, "__getitem__") and not hasattr(dataset, "__iter__"):
            raise TypeError(f"DataLoader: dataset must be a Dataset (with __getitem__ or "
                            f"__iter__), received {type(dataset).__name__}")
        _check_worker_options(num_workers, prefetch_factor, persistent_workers, timeout)
        for name, fn in (("collate_fn", collate_fn), ("worker_init_fn", worker_init_fn)):
            if fn is not None and not callable(fn):
                raise TypeError(f"DataLoader: {name} must be callable, received {fn!r}")
        self.dataset, self.num_workers, self.pin_memory = dataset, int(num_workers), pin_memory
        self.timeout, self.worker_init_fn, self.generator = timeout, worker_init_fn, generator
        self.prefetch_factor, self.persistent_workers = prefetch_factor, persistent_workers
        self.multiprocessing_context, self.in_order = multiprocessing_context, in_order
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable:
            self._init_iterable(shuffle, sampler, batch_sampler)
        _check_batching(batch_size, shuffle, sampler, batch_sampler, drop_last)
        if batch_sampler is not None:  # PyTorch reports no batch_size/drop_last of its own
            batch_size, drop_last, sampler = None, False, SequentialSampler(dataset)
        elif not self._iterable:
            sampler, batch_sampler = self._samplers(sampler, shuffle, batch_size, drop_last)
        self.sampler, self.batch_sampler = sampler, batch_sampler
        self.batch_size, self.drop_last = batch_size, bool(drop_last)
        self._auto_collation = batch_sampler is not None or (self._iterable and
                                                             batch_size is not None)
        self.collate_fn = collate_fn if collate_fn is not None else (
            default_collate if self._auto_collation else default_convert)

    def _samplers(self, sampler, shuffle, batch_size, drop_last):
        """(sampler, batch_sampler) for a map-style dataset without a given batch_sampler."""
        if sampler is None:
            sampler = RandomSampler(self.dataset, generator=self.generator) if shuffle \
                else SequentialSampler(self.dataset)
        if batch_size is None:
            return sampler, None
        return sampler, BatchSampler(sampler, batch_size, bool(drop_last))

    @staticmethod
    def _init_iterable(shuffle, sampler, batch_sampler) -> None:
        for name, value in (("shuffle", shuffle), ("sampler", sampler),
                            ("batch_sampler", batch_sampler)):
            if value is not None and value is not False:
                raise ValueError(f"DataLoader with IterableDataset: expected unspecified "
                                 f"{name} option, but got {name}={value!r}")

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError for streams without __len__, as in PyTorch
            if self.batch_size is None:
                return n
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        return len(self.batch_sampler if self.batch_sampler is not None else self.sampler)

    def __iter__(self):
        if self.worker_init_fn is not None and self.num_workers > 0:
            self.worker_init_fn(0)
        if self._iterable:
            return _LoaderIter(self, self._stream())
        return _LoaderIter(self, self._mapped())

    def _mapped(self):
        if self.batch_sampler is None:
            for index in self.sampler:
                yield self.collate_fn(self.dataset[index])
            return
        for indices in self.batch_sampler:
            yield self._fetch(indices)

    def _fetch(self, indices):
        if self.collate_fn is default_collate:
            batch = fetch_batch(self.dataset, np.asarray(indices, dtype=np.int64))
            if batch is not None:
                return batch
        getitems = getattr(self.dataset, "__getitems__", None)
        samples = getitems(list(indices)) if getitems else [self.dataset[i] for i in indices]
        return self.collate_fn(samples)

    def _stream(self):
        if not self._auto_collation:
            for sample in self.dataset:
                yield self.collate_fn(sample)
            return
        batch = []
        for sample in self.dataset:
            batch.append(sample)
            if len(batch) == self.batch_size:
                yield self.collate_fn(batch)
                batch = []
        if batch and not self.drop_last:
            yield self.collate_fn(batch)

    def __repr__(self) -> str:
        return (f"DataLoader(dataset={type(self.dataset).__name__}, batch_size="
                f"{self.batch_size}, drop_last={self.drop_last}, num_workers="
                f"{self.num_workers} (in-process))")
