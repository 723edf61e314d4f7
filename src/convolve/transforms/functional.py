"""The functions behind ``convolve.transforms``, named as in
``torchvision.transforms.functional``: to_tensor, to_pil_image, normalize, pad, crop,
center_crop, hflip, vflip, resize.

Images come in three kinds and leave as the kind they came in: a convolve Tensor laid out
(..., H, W) (e.g. C x H x W after ToTensor), an ndarray laid out H x W or H x W x C (a
decoded image, as ToTensor expects), or a PIL image (handled with PIL's own operations, as
torchvision does).
"""

from __future__ import annotations

import enum
import numbers

import numpy as np

from ..tensor import Tensor
from ._resize import resample

__all__ = ["InterpolationMode", "center_crop", "crop", "get_dimensions", "hflip", "normalize",
           "pad", "resize", "to_pil_image", "to_tensor", "vflip"]


class InterpolationMode(str, enum.Enum):
    """Resampling filters (torchvision's names). Tensors and ndarrays: NEAREST,
    NEAREST_EXACT and BILINEAR; PIL images: every filter (PIL's own)."""

    NEAREST = "nearest"
    NEAREST_EXACT = "nearest-exact"
    BILINEAR = "bilinear"
    BICUBIC = "bicubic"
    BOX = "box"
    HAMMING = "hamming"
    LANCZOS = "lanczos"


def _is_pil(img) -> bool:
    return hasattr(img, "getbands") and hasattr(img, "mode") and hasattr(img, "size")


def _kind(op: str, img) -> str:
    if isinstance(img, Tensor):
        if img.ndim < 2:
            raise ValueError(f"{op}: expected a Tensor image (..., H, W), received shape "
                             f"{tuple(img.shape)}")
        return "tensor"
    if isinstance(img, np.ndarray):
        if img.ndim not in (2, 3):
            raise ValueError(f"{op}: expected an ndarray image H x W or H x W x C, received "
                             f"shape {img.shape}")
        return "array"
    if _is_pil(img):
        return "pil"
    raise TypeError(f"{op}: img should be a Tensor, an ndarray or a PIL Image, received "
                    f"{type(img).__name__}")


def _hw_axes(kind: str, ndim: int) -> tuple:
    return (ndim - 2, ndim - 1) if kind == "tensor" else (0, 1)


def _out(kind: str, array: np.ndarray):
    return Tensor(array, dtype=array.dtype) if kind == "tensor" else array


def get_dimensions(img) -> tuple:
    """(channels, height, width) of a Tensor, ndarray or PIL image."""
    kind = _kind("get_dimensions", img)
    if kind == "pil":
        return len(img.getbands()), img.size[1], img.size[0]
    if kind == "array":
        return (img.shape[2] if img.ndim == 3 else 1), img.shape[0], img.shape[1]
    return (img.shape[-3] if img.ndim > 2 else 1), img.shape[-2], img.shape[-1]


def to_tensor(pic) -> Tensor:
    """PIL image or H x W (x C) ndarray -> C x H x W Tensor. uint8 data (and PIL's 8-bit
    modes) becomes float32 in [0, 1]; anything else keeps its values and dtype."""
    if _is_pil(pic):
        nptype = {"I": np.int32, "I;16": np.int16, "F": np.float32}.get(pic.mode, np.uint8)
        arr = np.array(pic, nptype, copy=True)
        if pic.mode == "1":
            arr = 255 * arr
        arr = arr.reshape(pic.size[1], pic.size[0], len(pic.getbands()))
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_tensor: pic should be 2 or 3 dimensional (H x W or H x W x C),"
                             f" received shape {pic.shape}")
        arr = pic[:, :, None] if pic.ndim == 2 else pic
    else:
        raise TypeError(f"to_tensor: pic should be a PIL Image or an ndarray, received "
                        f"{type(pic).__name__}")
    chw = np.ascontiguousarray(arr.transpose(2, 0, 1))
    if chw.dtype == np.uint8:
        return Tensor(chw.astype(np.float32) / np.float32(255))
    return Tensor(chw, dtype=chw.dtype)


def normalize(tensor, mean, std, inplace: bool = False) -> Tensor:
    """(tensor - mean[c]) / std[c] per channel of a float Tensor (..., C, H, W); a new Tensor
    (differentiable) unless ``inplace``."""
    if not isinstance(tensor, Tensor):
        raise TypeError(f"normalize: tensor should be a Tensor, received {type(tensor).__name__}")
    if tensor.dtype.kind != "f":
        raise TypeError(f"normalize: input tensor should be a float tensor, received dtype "
                        f"{tensor.dtype}")
    if tensor.ndim < 3:
        raise ValueError(f"normalize: expected a tensor image of size (..., C, H, W), received "
                         f"shape {tuple(tensor.shape)}")
    dtype, channels = tensor.dtype, tensor.shape[-3]
    m, s = (np.atleast_1d(np.asarray(v, dtype=dtype)) for v in (mean, std))
    for name, v, given in (("mean", m, mean), ("std", s, std)):
        if v.ndim != 1 or v.size not in (1, channels):
            raise ValueError(f"normalize: {name} must have 1 or {channels} entries (one per "
                             f"channel), received {name}={given!r}")
    if (s == 0).any():
        raise ValueError(f"normalize: std evaluated to zero after conversion to {dtype}, "
                         f"leading to division by zero; received std={std!r}")
    m, s = m.reshape(-1, 1, 1), s.reshape(-1, 1, 1)
    if inplace:
        tensor.data -= m
        tensor.data /= s
        return tensor
    return (tensor - Tensor(m)) / Tensor(s)


def _padding_ltrb(op: str, padding) -> tuple:
    given = padding
    if isinstance(padding, numbers.Integral) and not isinstance(padding, bool):
        padding = (padding,)
    if not isinstance(padding, (tuple, list)) or len(padding) not in (1, 2, 4) or any(
            isinstance(p, bool) or not isinstance(p, numbers.Integral) or p < 0
            for p in padding):
        raise ValueError(f"{op}: padding must be a non-negative int or a 1, 2 or 4 element "
                         f"sequence of them, received padding={given!r}")
    p = [int(v) for v in padding]
    return tuple(p * 4 if len(p) == 1 else (p * 2 if len(p) == 2 else p))


_PAD_MODES = ("constant", "edge", "reflect", "symmetric")


def pad(img, padding, fill=0, padding_mode: str = "constant"):
    """Pad the H and W borders: padding is an int (all sides), (left/right, top/bottom) or
    (left, top, right, bottom); padding_mode 'constant' (with ``fill``), 'edge', 'reflect'
    (mirror without repeating the edge) or 'symmetric' (repeating it)."""
    kind = _kind("pad", img)
    left, top, right, bottom = _padding_ltrb("pad", padding)
    if padding_mode not in _PAD_MODES:
        raise ValueError(f"pad: padding_mode must be one of {_PAD_MODES}, received "
                         f"padding_mode={padding_mode!r}")
    if kind == "pil":
        return _pad_pil(img, (left, top, right, bottom), fill, padding_mode)
    if not isinstance(fill, numbers.Real) or isinstance(fill, bool):
        raise TypeError(f"pad: fill must be a number for Tensors and ndarrays, received "
                        f"fill={fill!r}")
    arr = img.data if kind == "tensor" else img
    widths = [(0, 0)] * arr.ndim
    ah, aw = _hw_axes(kind, arr.ndim)
    widths[ah], widths[aw] = (top, bottom), (left, right)
    extra = {"constant_values": fill} if padding_mode == "constant" else {}
    return _out(kind, np.pad(arr, widths, mode=padding_mode, **extra))


def _pad_pil(img, ltrb: tuple, fill, padding_mode: str):
    from PIL import Image, ImageOps

    if padding_mode == "constant":
        return ImageOps.expand(img, border=ltrb, fill=fill)
    arr = np.asarray(img)
    left, top, right, bottom = ltrb
    widths = [(top, bottom), (left, right)] + [(0, 0)] * (arr.ndim - 2)
    out = Image.fromarray(np.pad(arr, widths, mode=padding_mode))
    if img.mode == "P":
        out.putpalette(img.getpalette())
    return out


def crop(img, top: int, left: int, height: int, width: int):
    """The height x width window whose top-left corner is (top, left); parts outside the
    image are zero (as torchvision does)."""
    kind = _kind("crop", img)
    if kind == "pil":
        return img.crop((left, top, left + width, top + height))
    arr = img.data if kind == "tensor" else img
    ah, aw = _hw_axes(kind, arr.ndim)
    h, w = arr.shape[ah], arr.shape[aw]
    below, right = max(0, top + height - h), max(0, left + width - w)
    above, before = max(0, -top), max(0, -left)
    if below or right or above or before:
        widths = [(0, 0)] * arr.ndim
        widths[ah], widths[aw] = (above, below), (before, right)
        arr = np.pad(arr, widths)
        top, left = top + above, left + before
    index = [slice(None)] * arr.ndim
    index[ah], index[aw] = slice(top, top + height), slice(left, left + width)
    return _out(kind, np.ascontiguousarray(arr[tuple(index)]))


def _size_pair(op: str, size) -> tuple:
    pair = (size,) if isinstance(size, numbers.Integral) and not isinstance(size, bool) else size
    if not isinstance(pair, (tuple, list)) or len(pair) not in (1, 2) or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in pair):
        raise ValueError(f"{op}: size must be a positive int or a sequence of 1 or 2 positive "
                         f"ints (h, w), received size={size!r}")
    return (int(pair[0]), int(pair[-1]))


def center_crop(img, output_size):
    """The central window of output_size (h, w) (int: square); zero-padded first when larger
    than the image. Offsets are round((H - h) / 2) with Python's rounding, as torchvision."""
    ch, cw = _size_pair("center_crop", output_size)
    _, h, w = get_dimensions(img)
    if ch > h or cw > w:
        ltrb = ((cw - w) // 2 if cw > w else 0, (ch - h) // 2 if ch > h else 0,
                (cw - w + 1) // 2 if cw > w else 0, (ch - h + 1) // 2 if ch > h else 0)
        img = pad(img, ltrb, fill=0)
        _, h, w = get_dimensions(img)
        if ch == h and cw == w:
            return img
    return crop(img, round((h - ch) / 2.0), round((w - cw) / 2.0), ch, cw)


def _flip(op: str, img, horizontal: bool):
    kind = _kind(op, img)
    if kind == "pil":
        from PIL import Image

        return img.transpose(Image.FLIP_LEFT_RIGHT if horizontal else Image.FLIP_TOP_BOTTOM)
    arr = img.data if kind == "tensor" else img
    axis = _hw_axes(kind, arr.ndim)[1 if horizontal else 0]
    return _out(kind, np.ascontiguousarray(np.flip(arr, axis)))


def hflip(img):
    """Mirror left-right."""
    return _flip("hflip", img, True)


def vflip(img):
    """Mirror top-bottom."""
    return _flip("vflip", img, False)


def _resized_size(op: str, h: int, w: int, size, max_size) -> tuple:
    """torchvision's rule: (h, w) as given, or an int/1-sequence for the shorter edge with
    the aspect ratio kept (the longer edge truncated), capped by max_size."""
    if isinstance(size, (tuple, list)) and len(size) == 2:
        return _size_pair(op, size)
    short_target = _size_pair(op, size)[0]
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = short_target, int(short_target * long / short)
    if max_size is not None:
        if max_size <= short_target:
            raise ValueError(f"{op}: max_size={max_size} must be strictly greater than the "
                             f"requested size for the smaller edge, received size={size!r}")
        if new_long > max_size:
            new_short, new_long = int(max_size * new_short / new_long), max_size
    return (new_long, new_short) if w <= h else (new_short, new_long)


def _mode(op: str, interpolation) -> str:
    try:
        return InterpolationMode(getattr(interpolation, "value", interpolation)).value
    except ValueError:
        raise ValueError(f"{op}: interpolation must be an InterpolationMode or its value "
                         f"{[m.value for m in InterpolationMode]}, received "
                         f"interpolation={interpolation!r}") from None


def resize(img, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
           antialias: bool = True):
    """Resize to size (h, w), or make the shorter edge ``size`` keeping the aspect ratio.
    Tensors and ndarrays: PyTorch's interpolate (nearest, or bilinear with align_corners=
    False, antialiased when shrinking if ``antialias``); integer images are rounded back.
    PIL images use PIL's resize, as torchvision does. Same size: the input is returned."""
    mode = _mode("resize", interpolation)
    _, h, w = get_dimensions(img)
    out_size = _resized_size("resize", h, w, size, max_size)
    if out_size == (h, w):
        return img
    kind = _kind("resize", img)
    if kind == "pil":
        from PIL import Image

        filt = {"nearest-exact": "NEAREST"}.get(mode, mode.upper())
        return img.resize(out_size[::-1], getattr(Image.Resampling, filt))
    if mode not in ("nearest", "nearest-exact", "bilinear"):
        raise ValueError(f"resize: interpolation={mode!r} is provided for PIL images only; "
                         f"use InterpolationMode.BILINEAR (or NEAREST) for Tensors and arrays")
    if kind == "tensor":
        return _out(kind, resample(img.data, out_size, mode, bool(antialias)))
    chw = img[None] if img.ndim == 2 else img.transpose(2, 0, 1)
    out = resample(chw, out_size, mode, bool(antialias))
    return np.ascontiguousarray(out[0] if img.ndim == 2 else out.transpose(1, 2, 0))


_PIL_MODES = {(1, "u1"): "L", (1, "i4"): "I", (1, "f4"): "F", (2, "u1"): "LA",
              (3, "u1"): "RGB", (4, "u1"): "RGBA"}


def to_pil_image(pic, mode=None):
    """C x H x W Tensor or H x W (x C) ndarray -> PIL image. Float Tensors are scaled by 255
    and truncated to uint8 (unless mode='F'), as in torchvision; modes L, LA, RGB, RGBA
    (uint8), I (int32) and F (float32) are provided."""
    from PIL import Image

    if isinstance(pic, Tensor):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_pil_image: pic should be 2 or 3 dimensional (C x H x W), "
                             f"received shape {tuple(pic.shape)}")
        arr = pic.data if pic.ndim == 3 else pic.data[None]
        if arr.dtype.kind == "f" and mode != "F":
            arr = (arr * arr.dtype.type(255)).astype(np.uint8)
        arr = arr.transpose(1, 2, 0)
    elif isinstance(pic, np.ndarray):
        if pic.ndim not in (2, 3):
            raise ValueError(f"to_pil_image: pic should be 2 or 3 dimensional (H x W x C), "
                             f"received shape {pic.shape}")
        arr = pic if pic.ndim == 3 else pic[:, :, None]
    else:
        raise TypeError(f"to_pil_image: pic should be a Tensor or an ndarray, received "
                        f"{type(pic).__name__}")
    key = (arr.shape[2], arr.dtype.str[1:])
    natural = _PIL_MODES.get(key)
    if natural is None or mode not in (None, natural):
        raise ValueError(f"to_pil_image: cannot make a mode {mode or natural!r} image from "
                         f"{arr.shape[2]} channel(s) of dtype {arr.dtype}; supported: "
                         f"{sorted(set(_PIL_MODES.values()))}")
    return Image.fromarray(np.ascontiguousarray(arr[:, :, 0] if arr.shape[2] == 1 else arr))
