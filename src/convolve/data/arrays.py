"""Sample arrays that may be lazy: selecting, laying out, resizing and normalising them.

Everything here works on an ndarray or on a read-only *array-like* (such as a lazy image
folder): something with ``len()``, ``.shape``, ``.dtype`` and ``x[int | slice | 1-D int
array]`` returning a decoded ndarray, optionally ``x.subset(indices)`` returning a smaller
array-like without decoding. Nothing here asks for the whole array at once: statistics
are accumulated batch by batch and :class:`InputView` normalises each fetched batch.
"""

from __future__ import annotations

import numpy as np

from ..errors import DataError

__all__ = ["InputView", "as_channels", "channel_stats", "is_array_like", "resize_images",
           "take", "to_channels_first"]

STATS_BYTES = 16 << 20  # float64 bytes per step when accumulating statistics (a batch of
# at most 1,024 samples: bounded memory whatever the sample size)


def is_array_like(x) -> bool:
    """True for a non-ndarray object that behaves as a read-only array of samples."""
    return (not isinstance(x, (np.ndarray, list, tuple)) and hasattr(x, "shape")
            and hasattr(x, "dtype") and hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def take(x, idx):
    """``x.subset(idx)`` when ``x`` has it (a lazy array stays lazy), else ``x[idx]``."""
    idx = np.asarray(idx, dtype=np.int64)
    subset = getattr(x, "subset", None)
    return subset(idx) if callable(subset) else x[idx]


def channel_stats(x, batch: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (population) std of samples x (N, C, ...), in float64,
    accumulated ``batch`` samples at a time (Chan et al.'s pairwise update); by default as
    many as fit in ``STATS_BYTES`` of float64 (at least 1, at most 1,024)."""
    n_total = len(x)
    if n_total == 0:
        raise DataError("normalisation statistics: the training part holds no samples")
    if batch is None:
        per_sample = 8 * max(1, int(np.prod(x.shape[1:])))
        batch = int(min(1024, max(1, STATS_BYTES // per_sample)))
    count, mean, m2 = 0, None, None
    for start in range(0, n_total, batch):
        a = np.asarray(x[start:start + batch], dtype=np.float64)
        a = np.moveaxis(a, 1, 0).reshape(a.shape[1], -1)  # (C, samples * positions)
        n_b, mean_b = a.shape[1], a.mean(axis=1)
        m2_b = ((a - mean_b[:, None]) ** 2).sum(axis=1)
        if mean is None:
            count, mean, m2 = n_b, mean_b, m2_b
            continue
        delta, total = mean_b - mean, count + n_b
        mean = mean + delta * (n_b / total)
        m2 = m2 + m2_b + delta ** 2 * (count * n_b / total)
        count = total
    return mean, np.sqrt(m2 / count)


class InputView:
    """The model's view of samples ``x``: optionally normalised per channel,
    ``(x - mean) / std`` (a std of 0 counts as 1), then reshaped to ``sample_shape``;
    computed batch by batch as samples are fetched. A read-only array-like itself."""

    def __init__(self, x, mean=None, std=None, sample_shape=None):
        self.x = x
        shape = tuple(x.shape[1:])
        self.sample_shape = shape if sample_shape is None else tuple(sample_shape)
        self._scale = None
        if mean is not None:
            std = np.asarray(std, dtype=np.float64)
            bshape = (-1,) + (1,) * (len(shape) - 1)
            self._scale = (np.asarray(mean, np.float32).reshape(bshape),
                           np.where(std > 0, std, 1.0).astype(np.float32).reshape(bshape))

    @property
    def shape(self) -> tuple:
        return (len(self.x),) + self.sample_shape

    dtype = np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index):
        single = isinstance(index, (int, np.integer))
        a = np.asarray(self.x[index], dtype=np.float32)
        if self._scale is not None:
            mean, std = self._scale
            a = (a - (mean if single else mean[None])) / (std if single else std[None])
        return a.reshape(self.sample_shape if single else (len(a),) + self.sample_shape)

    def subset(self, idx) -> InputView:
        view = InputView.__new__(InputView)
        view.x, view.sample_shape, view._scale = take(self.x, idx), self.sample_shape, \
            self._scale
        return view


def to_channels_first(x: np.ndarray, where: str) -> np.ndarray:
    """Samples as (N, C, H, W) images or (N, C, L) signals, from (N, H, W), (N, C, H, W),
    (N, H, W, C) with C in 1 or 3, (N, L) or (N, C, L) (a 3-D array is (N, C, L) when its
    second axis is 1 or 3 long, else (N, H, W))."""
    if x.ndim == 2:
        return x[:, None]
    if x.ndim == 3:
        return x if x.shape[1] in (1, 3) else x[:, None]
    if x.ndim == 4:
        if x.shape[1] in (1, 3):
            return x
        if x.shape[3] in (1, 3):
            return x.transpose(0, 3, 1, 2)
    raise DataError(f"{where}: x of shape {x.shape}: expected (N, H, W), (N, C, H, W), "
                    f"(N, H, W, C) with C 1 or 3, (N, L) or (N, C, L)")


def as_channels(x: np.ndarray, channels: int | None, where: str) -> np.ndarray:
    """Images (N, C, H, W) with ``channels`` channels: grey repeated to RGB, RGB to grey by
    ITU-R 601-2 luma (Pillow's "L" conversion)."""
    if channels is None or x.shape[1] == channels:
        return x
    if x.ndim != 4:
        raise DataError(f"{where}: --channels applies to images; the data are 1-D signals "
                        f"of shape {tuple(x.shape[1:])}")
    if x.shape[1] == 1:
        return np.repeat(x, 3, axis=1)
    w = np.array([0.299, 0.587, 0.114], dtype=np.float32).reshape(1, 3, 1, 1)
    return (x * w).sum(axis=1, keepdims=True, dtype=np.float32)


def resize_images(x: np.ndarray, size, where: str) -> np.ndarray:
    """Images (N, C, H, W) float32 resized to ``size`` = (H, W), bilinear as Pillow does it
    (as :func:`convolve.data.images.read_image` resizes files); a one-off conversion."""
    if size is None or tuple(x.shape[2:]) == tuple(size):
        return x
    if x.ndim != 4:
        raise DataError(f"{where}: --image-size applies to images; the data are 1-D signals "
                        f"of shape {tuple(x.shape[1:])}")
    from PIL import Image

    h, w = size
    out = np.empty(x.shape[:2] + (h, w), dtype=np.float32)
    for i in range(x.shape[0]):  # once per sample when the data are loaded, not per batch
        for c in range(x.shape[1]):
            img = Image.fromarray(np.ascontiguousarray(x[i, c], dtype=np.float32), mode="F")
            out[i, c] = np.asarray(img.resize((w, h), Image.Resampling.BILINEAR))
    return out
