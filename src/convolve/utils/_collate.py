"""``default_collate`` and ``default_convert`` with PyTorch's rules: samples (tensors, NumPy
arrays, numbers, strings, and dicts/tuples/lists of them) become one batch whose arrays are
convolve Tensors with a leading batch axis, keeping their dtypes (Python ints -> int64,
Python floats -> float64, NumPy arrays and scalars keep theirs).
"""

from __future__ import annotations

import collections.abc
import copy

import numpy as np

from ..tensor import Tensor

__all__ = ["as_tensor", "default_collate", "default_convert"]

_ERR = ("default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; "
        "found {}")


def as_tensor(array) -> Tensor:
    """A convolve Tensor holding ``array`` with its dtype (integers stay integers)."""
    array = np.asarray(array)
    return Tensor(array, dtype=array.dtype)


def _check_shapes(batch: list) -> None:
    first = tuple(batch[0].shape)
    for i, b in enumerate(batch):
        if tuple(np.shape(b)) != first:
            raise ValueError(f"default_collate: stack expects each tensor to be equal size, "
                             f"but got {list(first)} at entry 0 and {list(np.shape(b))} at "
                             f"entry {i}")


def _stack_tensors(batch: list) -> Tensor:
    _check_shapes(batch)
    if any(t.requires_grad for t in batch):
        from ..functional.shape import stack
        return stack(batch, 0)
    return as_tensor(np.stack([t.data for t in batch]))


def _stack_arrays(batch: list) -> Tensor:
    if batch[0].dtype.kind in "SUaO":
        raise TypeError(_ERR.format(batch[0].dtype))
    _check_shapes(batch)
    return as_tensor(np.stack(batch))


def _collate_ints(batch: list) -> Tensor:
    arr = np.asarray(batch)
    if arr.dtype.kind == "f":  # an int first, floats later: torch.tensor gives float32
        arr = arr.astype(np.float32)
    if arr.dtype.kind not in "iubf":
        raise TypeError(_ERR.format(f"ints beyond int64 ({arr.dtype})"))
    return as_tensor(arr)


def _collate_mapping(elem, batch: list):
    merged = {key: default_collate([d[key] for d in batch]) for key in elem}
    try:
        if isinstance(elem, collections.abc.MutableMapping):
            clone = copy.copy(elem)
            clone.update(merged)
            return clone
        return type(elem)(merged)
    except TypeError:
        return merged


def _collate_sequence(elem, batch: list):
    size = len(elem)
    if any(len(e) != size for e in batch):
        raise RuntimeError("each element in list of batch should be of equal size")
    columns = [default_collate(list(samples)) for samples in zip(*batch)]
    if isinstance(elem, tuple):
        return columns  # a list, as PyTorch returns for tuples (backwards compatibility)
    try:
        if isinstance(elem, collections.abc.MutableSequence):
            clone = copy.copy(elem)
            clone[:] = columns
            return clone
        return type(elem)(columns)
    except TypeError:
        return columns


def default_collate(batch):
    """Merge a list of samples into a batch, as ``torch.utils.data.default_collate``."""
    if not isinstance(batch, collections.abc.Sequence) or len(batch) == 0:
        raise ValueError(f"default_collate: batch must be a non-empty list of samples, "
                         f"received {type(batch).__name__} of length "
                         f"{len(batch) if hasattr(batch, '__len__') else '?'}")
    elem = batch[0]
    if isinstance(elem, Tensor):
        return _stack_tensors(list(batch))
    if isinstance(elem, np.ndarray):
        return _stack_arrays(list(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return as_tensor(np.asarray(batch))
    if isinstance(elem, float):
        return as_tensor(np.asarray(batch, dtype=np.float64))
    if isinstance(elem, int):
        return _collate_ints(list(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        return _collate_mapping(elem, batch)
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # a namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch)))
    if isinstance(elem, collections.abc.Sequence):
        return _collate_sequence(elem, batch)
    raise TypeError(_ERR.format(type(elem)))


def default_convert(data):
    """NumPy arrays and scalars (inside dicts, tuples, lists) to Tensors; the rest unchanged.
    Used when automatic batching is off (``batch_size=None``)."""
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "SUaO" else as_tensor(data)
    if isinstance(data, (np.bool_, np.number)):
        return as_tensor(data)
    if isinstance(data, (str, bytes, Tensor)):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {k: default_convert(v) for k, v in data.items()}
        try:
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        try:
            return type(data)([default_convert(d) for d in data])
        except TypeError:
            return [default_convert(d) for d in data]
    return data
