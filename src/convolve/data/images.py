"""Reading one image file as floats in [0, 1], bounded in size, for every Pillow mode.

8-bit modes (L, RGB, P, LA, RGBA, 1, CMYK...) are converted by Pillow to "L" or "RGB"
(alpha is dropped, a palette is looked up) and divided by 255. High-bit modes are scaled by
their real range, never clipped: 16-bit ("I;16*", and "I" whose values lie in 0..65535)
by 65535, float ("F") images as they are when they lie in [0, 1], otherwise (and "I" beyond
16 bits) by their own min..max. An image larger than the limit ``image_pixels`` (see
:mod:`convolve.limits`), or one Pillow flags as a decompression bomb, is refused from its
header, before its pixels are decoded.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import limits
from ..errors import DataError, LimitError

__all__ = ["read_image"]

_HIGH_BIT = ("I;16", "I;16L", "I;16B", "I;16N", "I", "F")


def _scaled(a: np.ndarray, mode: str) -> np.ndarray:
    """High-bit pixel values -> float32 in [0, 1] by the mode's real range (in place: one
    float32 array of the image's size is the only copy)."""
    a = np.nan_to_num(a.astype(np.float32), copy=False, nan=0.0, posinf=0.0, neginf=0.0)
    lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
    if mode.startswith("I;16") or (mode == "I" and lo >= 0 and hi <= 65535):
        a /= np.float32(65535)
    elif not (mode == "F" and lo >= 0 and hi <= 1):
        a -= np.float32(lo)
        a *= np.float32(1 / (hi - lo) if hi > lo else 0)
    return a


def _pixels(img, mode: str, size) -> np.ndarray:
    from PIL import Image

    if img.mode in _HIGH_BIT:
        out = Image.fromarray(_scaled(np.asarray(img), img.mode), mode="F")
        if size is not None:
            out = out.resize((size[1], size[0]), Image.Resampling.BILINEAR)
        a = np.asarray(out, dtype=np.float32)
        return a if mode == "L" else np.repeat(a[..., None], 3, axis=2)
    if img.mode == "P":
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    img = img.convert(mode)
    if size is not None:
        img = img.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    a = np.array(img, dtype=np.float32)
    a /= np.float32(255)
    return a


def _open(path: Path):
    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(path)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as err:
            raise LimitError(f"{path}: refused as a decompression bomb: {err}") from None
    w, h = img.size
    if w < 1 or h < 1:
        img.close()
        raise DataError(f"{path}: the image is empty ({w}x{h})")
    try:
        limits.check("image_pixels", w * h, f"{path}: {w}x{h} image")
    except LimitError:
        img.close()
        raise
    return img


def read_image(path, mode: str = "RGB", size=None) -> np.ndarray:
    """The image at ``path`` as float32 in [0, 1]: (H, W) for mode "L", (H, W, 3) for "RGB";
    resized (bilinear) to ``size`` = (H, W) when given.

    Raises FileNotFoundError for a missing file, LimitError for an image over the pixel
    limit and DataError (a ValueError) naming the file for anything Pillow cannot decode.
    """
    try:
        from PIL import Image  # noqa: F401
    except ImportError:
        raise DataError(f"reading {path} needs Pillow (pip install pillow)") from None
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such image: {path}")
    try:
        with _open(path) as img:
            return _pixels(img, mode, size)
    except (LimitError, DataError):
        raise
    except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types on bad files
        text = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read image {path}: {text}") from None
