"""``convolve.utils.data``: PyTorch's ``torch.utils.data`` names and semantics over convolve.

``Dataset``, ``IterableDataset``, ``TensorDataset``, ``Subset``, ``ConcatDataset``,
``random_split``, the samplers, ``default_collate`` and a ``DataLoader`` whose batches are
convolve Tensors (labels int64), so ``import convolve.utils.data`` replaces
``import torch.utils.data`` in a training script. convolve's own datasets
(``convolve.data.ArrayDataset`` and the bundled ones) work with this DataLoader too.
"""

from ._collate import default_collate, default_convert
from ._dataloader import DataLoader, get_worker_info
from ._dataset import ConcatDataset, Dataset, IterableDataset, Subset, TensorDataset, random_split
from ._sampler import (
    BatchSampler,
    RandomSampler,
    Sampler,
    SequentialSampler,
    SubsetRandomSampler,
    WeightedRandomSampler,
)

__all__ = ["BatchSampler", "ConcatDataset", "DataLoader", "Dataset", "IterableDataset",
           "RandomSampler", "Sampler", "SequentialSampler", "Subset", "SubsetRandomSampler",
           "TensorDataset", "WeightedRandomSampler", "default_collate", "default_convert",
           "get_worker_info", "random_split"]
