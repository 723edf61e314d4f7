"""Decoding a batch of image files into one array, in this process or in a worker pool.

The values are those of :func:`convolve.data.images.read_image` (and so of ImageFolder):
8-bit images are converted by Pillow to "L"/"RGB", resized (bilinear) when a size is given
and divided by 255; high-bit images go through read_image's own scaling. For speed the
8-bit pixels of a batch are written straight into one preallocated uint8 buffer (B, H, W, C)
and turned into float32 once per batch; a worker returns that uint8 chunk (4x smaller than
floats) to the parent. Each image is refused from its header when it is over the pixel
limit, and, when no size is given, when its size differs from the expected one.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import sys
import warnings
import weakref
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from .. import limits
from ..errors import DataError, LimitError
from .images import _HIGH_BIT, _pixels

__all__ = ["DecodePool", "decode_chunk", "to_float"]

_SMALL_FILE = 1 << 20  # files up to this size are read whole, then decoded from memory


class Layout:
    """What every image of a batch decodes to: ``mode``, (H, W) ``hw``; ``resize`` True when
    images are resized to hw, else an image of another size is an error naming ``first``."""

    def __init__(self, mode: str, hw: tuple[int, int], resize: bool, first: str):
        self.mode, self.hw, self.resize, self.first = mode, hw, resize, first
        self.channels = 1 if mode == "L" else 3


def _decode_one(img, path, layout: Layout):
    """One opened image -> uint8 (H, W[, 3]) or, for high-bit modes, float32 as read_image."""
    from PIL import Image

    h, w = layout.hw
    if not layout.resize and (img.size[1], img.size[0]) != (h, w):
        raise DataError(f"{path} is {img.size[1]}x{img.size[0]} (HxW) but {layout.first} is "
                        f"{h}x{w}; pass size=(H, W), or --image-size HxW on the "
                        f"command line, to resize them all")
    size = (h, w) if layout.resize else None
    if img.mode in _HIGH_BIT:
        return _pixels(img, layout.mode, size)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    if img.mode != layout.mode:
        img = img.convert(layout.mode)
    if size is not None and img.size != (w, h):
        img = img.resize((w, h), Image.Resampling.BILINEAR)
    return np.asarray(img)


def _checked(img, path: str, pixel_limit: int):
    """images._open's header checks: an empty image, or one over the pixel limit."""
    w, h = img.size
    if w < 1 or h < 1:
        raise DataError(f"{path}: the image is empty ({w}x{h})")
    if 0 < pixel_limit < w * h:
        limits.check("image_pixels", w * h, f"{path}: {w}x{h} image")
    return img


def _read_into(path: str, layout: Layout, out: tuple, k: int, pixel_limit: int) -> None:
    """Decode file ``path`` into position k of ``out`` = (uint8 buffer, floats dict). A file
    up to _SMALL_FILE bytes is read in one call and decoded from memory (fewer reads)."""
    from PIL import Image

    try:
        with open(path, "rb") as f:
            source = io.BytesIO(f.read()) if os.fstat(f.fileno()).st_size <= _SMALL_FILE else f
            with _checked(Image.open(source), path, pixel_limit) as img:
                a = _decode_one(img, path, layout)
    except FileNotFoundError:
        raise FileNotFoundError(f"no such image: {path}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
        raise LimitError(f"{path}: refused as a decompression bomb: {err}") from None
    except (LimitError, DataError):
        raise
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types on bad files
        text = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read image {path}: {text}") from None
    if a.dtype == np.uint8:
        out[0][k] = a.reshape(out[0].shape[1:])
    else:
        out[1][k] = a


def decode_chunk(paths, layout: Layout, pixel_limit: int) -> tuple[np.ndarray, dict]:
    """Decode ``paths`` -> (uint8 (B, H, W, C), {position: float32 image} for high-bit ones).
    Runs in this process or in a worker (``pixel_limit``: the parent's ``image_pixels``
    limit at submission). The loop is over files: it is the decode itself. Pillow's
    decompression-bomb warning is an error, as in read_image (one filter for the chunk)."""
    from PIL import Image

    out = (np.empty((len(paths), *layout.hw, layout.channels), dtype=np.uint8), {})
    with limits.override(image_pixels=pixel_limit), warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        for k, path in enumerate(paths):
            _read_into(path, layout, out, k, pixel_limit)
    return out


def to_float(chunks, out: np.ndarray | None = None) -> np.ndarray:
    """Decoded chunks (in order) -> float32 (B, C, H, W) in [0, 1]: one cast and one divide
    per chunk (the same float32 division by 255 as read_image), then the high-bit images."""
    total = sum(len(buf) for buf, _ in chunks)
    if out is None:
        _, h, w, c = chunks[0][0].shape if chunks else (0, 0, 0, 0)
        out = np.empty((total, c, h, w), dtype=np.float32)
    start = 0
    for buf, floats in chunks:
        part = out[start:start + len(buf)]
        part[...] = buf.transpose(0, 3, 1, 2)
        np.divide(part, np.float32(255), out=part)
        for k, a in floats.items():
            part[k] = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        start += len(buf)
    return out


def _context():
    """fork on Linux, as PyTorch's DataLoader: workers start at once, need no import and no
    ``if __name__ == "__main__"`` guard in the user's script, and only ever run Pillow and
    NumPy code. Elsewhere the platform's default (spawn on macOS and Windows)."""
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context()


class DecodePool:
    """``workers`` decoding processes, started on first use and shared by a LazyImages and
    its subsets; ``workers=0`` decodes in this process. A batch is cut into one chunk per
    worker; :meth:`submit` returns a function that waits for the chunks and assembles them."""

    def __init__(self, workers: int):
        self.workers, self._executor = workers, None

    def _pool(self) -> ProcessPoolExecutor:
        if self._executor is None:
            self._executor = ProcessPoolExecutor(self.workers, mp_context=_context())
            # the workers stop when the last LazyImages sharing this pool is collected
            weakref.finalize(self, self._executor.shutdown, wait=False, cancel_futures=True)
        return self._executor

    def submit(self, paths, layout: Layout):
        """Start decoding ``paths``; the returned callable gives the float32 batch."""
        if len(paths) == 0:
            return lambda: np.empty((0, layout.channels, *layout.hw), dtype=np.float32)
        pixels = limits.get("image_pixels")
        if self.workers == 0:
            return lambda: to_float([decode_chunk(paths, layout, pixels)])
        parts = [p for p in np.array_split(np.asarray(paths, dtype=object), self.workers)
                 if len(p)]
        pool = self._pool()
        futures = [pool.submit(decode_chunk, list(p), layout, pixels) for p in parts]
        return lambda: to_float([f.result() for f in futures])

    def close(self) -> None:
        """Stop the worker processes (they restart on the next use)."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __getstate__(self):  # a copy in another process gets its own, unstarted pool
        return {"workers": self.workers, "_executor": None}
