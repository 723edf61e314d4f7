"""Data: in-memory datasets, a seeded resumable DataLoader, batch transforms, bundled
offline datasets (digits, mnist5k, mnist1d), readers for IDX, CIFAR-10/100 binary, image
folders (eager, or lazy for folders larger than memory) and .npz, and :func:`resolve`, the
one resolver of every command's ``--data``. Pure NumPy; independent of the autograd engine."""

from . import datasets, transforms
from .arrays import take
from .cifar import CIFAR10, CIFAR100
from .dataset import ArrayDataset, Dataset, Split, Subset, stratified_split
from .datasets import (
    DatasetInfo,
    available_datasets,
    load_cifar10,
    load_digits,
    load_fashion_mnist,
    load_mnist,
    load_mnist1d,
    load_mnist5k,
)
from .datasets import get as load_dataset
from .download import DownloadError, cache_dir, download_file, sha256_file
from .idx import MNIST, FashionMNIST, load_idx
from .imagefolder import ImageFolder
from .lazy import LazyImages, open_image_folder
from .loader import DataLoader
from .resolve import Resolved, resolve

__all__ = [
    "CIFAR10", "CIFAR100", "MNIST", "ArrayDataset", "DataLoader", "Dataset", "DatasetInfo",
    "DownloadError", "FashionMNIST", "ImageFolder", "LazyImages", "Resolved", "Split",
    "Subset", "available_datasets",
    "cache_dir", "datasets", "download_file", "load_cifar10", "load_dataset", "load_digits",
    "load_fashion_mnist", "load_idx", "load_mnist", "load_mnist1d", "load_mnist5k",
    "open_image_folder", "resolve", "sha256_file", "stratified_split", "take", "transforms",
]
