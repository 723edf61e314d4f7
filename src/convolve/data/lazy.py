"""Image folders larger than memory: a read-only array view that decodes files on demand.

:class:`LazyImages` looks like the (N, C, H, W) float32 array an eager
:class:`~convolve.data.ImageFolder` would hold (``shape``, ``dtype``, ``ndim``, ``nbytes``,
``len``, indexing by int, slice, integer array or boolean mask), but keeps only the file
names: indexing decodes just the selected files (same values as ImageFolder), optionally
in ``workers`` processes. Nothing decoded is cached, so memory is bounded by the batch
being read (and the one being prefetched). ``np.asarray(x)`` decodes everything only up
to the limit ``eager_image_bytes`` (1 GiB; ``CONVOLVE_MAX_EAGER_IMAGE_BYTES``) and
raises LimitError above it; ``x[:]`` always decodes everything, as asked.

:func:`open_image_folder` scans ``root/<class>/<image>`` (the scan ImageFolder uses) and
returns an eager array below that same limit, else a LazyImages. ArrayDataset keeps a
LazyImages as it is, so DataLoader batches (``get_batch``) decode only their own images
and, with workers, the next batch is decoded while the current one is used.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import DataError, LimitError
from .decode import DecodePool, Layout
from .imagefolder import IMG_EXTENSIONS, check_image_size, check_mode, scan_image_folder
from .images import _open

__all__ = ["LazyImages", "open_image_folder"]

_CHUNK = 256  # images decoded per step when everything is decoded


def _header_hw(path: str) -> tuple[int, int]:
    """(H, W) of an image from its header (nothing decoded); errors name the file."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"no such image: {path}")
    try:
        with _open(path) as img:
            return img.size[1], img.size[0]
    except (LimitError, DataError):
        raise
    except Exception as err:  # noqa: BLE001 - Pillow raises many types on bad files
        text = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read image {path}: {text}") from None


def _check_workers(workers) -> int:
    if not isinstance(workers, numbers.Integral) or isinstance(workers, bool) or workers < 0:
        raise ValueError(f"LazyImages: workers must be an int >= 0, received workers={workers!r}")
    return int(workers)


class LazyImages:
    """Images ``paths`` as a read-only (N, C, H, W) float32 array in [0, 1], decoded on demand.

    ``mode`` "L" (C=1) or "RGB" (C=3); ``size`` (H, W) or an int resizes every image
    (bilinear), else all images must have the size of the first (read from its header),
    and an image of another size raises DataError naming it and both sizes when it is
    decoded. ``workers`` > 0 decodes each batch in that many processes (started on first
    use, shared with :meth:`subset` views, stopped by :meth:`close`).
    """

    def __init__(self, paths, mode: str = "RGB", size=None, *, workers: int = 0):
        mode, size = check_mode(mode, "LazyImages"), check_image_size(size, "LazyImages")
        files = np.array([str(p) for p in paths], dtype=object)
        if files.size == 0:
            raise ValueError("LazyImages: paths must name at least one image, received none")
        hw = size if size is not None else _header_hw(files[0])
        self._files, self._layout = files, Layout(mode, hw, size is not None, files[0])
        self._pool = DecodePool(_check_workers(workers))

    @classmethod
    def _view(cls, files: np.ndarray, layout: Layout, pool: DecodePool) -> LazyImages:
        new = cls.__new__(cls)
        new._files, new._layout, new._pool = files, layout, pool
        return new

    # ------------------------------------------------------------- array-like attributes
    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self._files), self._layout.channels, *self._layout.hw)

    dtype = np.dtype(np.float32)
    ndim = 4

    @property
    def nbytes(self) -> int:
        """Bytes the decoded images would take (N * C * H * W * 4)."""
        return int(np.prod(self.shape, dtype=np.int64)) * 4

    @property
    def paths(self) -> list[str]:
        return list(self._files)

    @property
    def mode(self) -> str:
        return self._layout.mode

    @property
    def workers(self) -> int:
        return self._pool.workers

    def __len__(self) -> int:
        return len(self._files)

    def __repr__(self) -> str:
        return (f"LazyImages(shape={self.shape}, dtype=float32, mode={self.mode!r}, "
                f"workers={self.workers}, first={self._layout.first!r})")

    # ------------------------------------------------------------------------ indexing
    def _indices(self, key) -> np.ndarray:
        """A slice, a 1-D integer array (negatives wrap) or a boolean mask -> int64 indices."""
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n)[key]
        idx = np.asarray(key)
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise IndexError(f"LazyImages: a boolean mask must have shape ({n},), "
                                 f"received {idx.shape}")
            return np.flatnonzero(idx)
        if idx.size == 0 and idx.ndim == 1:
            return np.zeros(0, dtype=np.int64)
        if idx.ndim != 1 or idx.dtype.kind not in "iu":
            raise TypeError(f"LazyImages: index must be an int, a slice, a 1-D integer array "
                            f"or a boolean mask, received {idx.dtype} of shape {idx.shape}")
        if idx.min() < -n or idx.max() >= n:
            raise IndexError(f"LazyImages: indices must lie in [{-n}, {n}), received "
                             f"min {idx.min()}, max {idx.max()}")
        return np.where(idx < 0, idx + n, idx).astype(np.int64)

    def __getitem__(self, key) -> np.ndarray:
        """Decode the selected images: x[i] -> (C, H, W); x[slice | ints | mask] -> (B, C, H, W);
        x[sel, rest...] decodes ``sel`` and applies ``rest`` to the decoded array."""
        if isinstance(key, tuple):
            return self[key[0]][(slice(None), *key[1:]) if not _is_int(key[0]) else key[1:]]
        if _is_int(key):
            i = int(key)
            if not -len(self) <= i < len(self):
                raise IndexError(f"LazyImages: index {i} is out of range for {len(self)} images")
            return self.prefetch(np.array([i % len(self)]))()[0]
        return self.prefetch(self._indices(key))()

    def prefetch(self, indices):
        """Start decoding images ``indices`` (in worker processes when there are workers);
        returns a function that waits and gives the float32 (B, C, H, W) batch."""
        return self._pool.submit(list(self._files[self._indices(indices)]), self._layout)

    def subset(self, indices) -> LazyImages:
        """The images ``indices`` (int array, slice or mask) as a LazyImages; nothing decoded."""
        return LazyImages._view(self._files[self._indices(indices)], self._layout, self._pool)

    # ------------------------------------------------------------------ whole-array reads
    def _chunks(self, chunk: int = _CHUNK):
        """(start, decoded images start..start+chunk) in order, the next chunk decoding ahead."""
        pending = self.prefetch(slice(0, chunk))
        for s in range(0, len(self), chunk):
            batch = pending()
            if s + chunk < len(self):
                pending = self.prefetch(slice(s + chunk, s + 2 * chunk))
            yield s, batch

    def decode_all(self) -> np.ndarray:
        """Every image, decoded in chunks straight into one (N, C, H, W) float32 array."""
        out = np.empty(self.shape, dtype=np.float32)
        for s, batch in self._chunks():
            out[s:s + len(batch)] = batch
        return out

    def __array__(self, dtype=None, copy=None):
        if copy is False:
            raise ValueError("LazyImages: np.asarray(x, copy=False) is impossible: the "
                             "images are decoded into a new array")
        limits.check("eager_image_bytes", self.nbytes,
                     f"LazyImages: decoding all {len(self):,} images {self.shape} at once "
                     f"(index batches instead, e.g. x[i:j])")
        out = self.decode_all()
        return out if dtype is None else out.astype(dtype, copy=False)

    def close(self) -> None:
        """Stop the worker processes (shared with subsets; they restart when next needed)."""
        self._pool.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_int(key) -> bool:
    return isinstance(key, numbers.Integral) and not isinstance(key, bool)


def open_image_folder(root, *, size=None, mode: str = "RGB", lazy: bool | None = None,
                      workers: int = 0, extensions=IMG_EXTENSIONS):
    """(x, y, classes) of the image folder ``root/<class>/<image>`` (ImageFolder's scan and
    values: x (N, C, H, W) float32 in [0, 1], y (N,) int64, classes sorted folder names).

    x is an eager ndarray when ``lazy`` is False, or when ``lazy`` is None and the decoded
    size is within the limit ``eager_image_bytes`` (1 GiB, ``CONVOLVE_MAX_EAGER_IMAGE_BYTES``;
    0 = no limit, always eager); otherwise a :class:`LazyImages` that decodes batches on
    demand (``lazy=True`` forces it). ``workers`` processes decode (0 = this process).
    """
    if lazy is not None and not isinstance(lazy, bool):
        raise TypeError(f"open_image_folder: lazy must be None, True or False, received {lazy!r}")
    samples, classes = scan_image_folder(root, extensions, "open_image_folder")
    x = LazyImages([p for p, _ in samples], mode, size, workers=workers)
    y = np.array([c for _, c in samples], dtype=np.int64)
    if lazy is None:
        limit = limits.get("eager_image_bytes")
        lazy = 0 < limit < x.nbytes
    if lazy:
        return x, y, classes
    with x:
        return x.decode_all(), y, classes
