"""Data: in-memory datasets, a seeded resumable DataLoader, batch transforms, bundled
offline datasets (digits, mnist5k, mnist1d) and readers for IDX, CIFAR-10 binary and
image folders (eager, or lazy for folders larger than memory). Pure NumPy; independent of the autograd engine."""

from . import datasets, transforms
from .cifar import CIFAR10
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

__all__ = [
    "CIFAR10", "MNIST", "ArrayDataset", "DataLoader", "Dataset", "DatasetInfo",
    "DownloadError", "FashionMNIST", "ImageFolder", "LazyImages", "Split", "Subset", "available_datasets",
    "cache_dir", "datasets", "download_file", "load_cifar10", "load_dataset", "load_digits",
    "load_fashion_mnist", "load_idx", "load_mnist", "load_mnist1d", "load_mnist5k",
    "open_image_folder", "sha256_file", "stratified_split", "transforms",
]
