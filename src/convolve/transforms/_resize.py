"""Resampling of (..., H, W) arrays as ``torch.nn.functional.interpolate`` does it: nearest,
nearest-exact, bilinear (align_corners=False) and antialiased bilinear, each as one weight
matrix per axis applied by two matrix products (no loop over pixels)."""

from __future__ import annotations

import numpy as np

__all__ = ["bilinear_weights", "nearest_indices", "resample"]


def nearest_indices(in_size: int, out_size: int, exact: bool = False) -> np.ndarray:
    """Source index of each output index for mode='nearest' (floor(i * scale)) or
    'nearest-exact' (floor((i + 0.5) * scale)), with PyTorch's float32 scale."""
    i = np.arange(out_size)
    if not exact and out_size == in_size:
        return i
    if not exact and out_size == 2 * in_size:
        return i >> 1
    scale = np.float32(in_size) / np.float32(out_size)
    pos = i.astype(np.float32) + np.float32(0.5) if exact else i.astype(np.float32)
    src = np.floor(pos * scale).astype(np.int64)
    return np.minimum(src, in_size - 1)


def _linear(in_size: int, out_size: int, scale: float, dtype) -> np.ndarray:
    """Two-tap bilinear weights (out, in): source x = max(scale (i + 0.5) - 0.5, 0)."""
    real = np.maximum(scale * (np.arange(out_size, dtype=dtype) + dtype.type(0.5))
                      - dtype.type(0.5), 0)
    index = np.minimum(np.floor(real).astype(np.int64), in_size - 1)
    lam = np.clip(real - index, 0, 1).astype(dtype)
    index1 = index + (index < in_size - 1)
    w = np.zeros((out_size, in_size), dtype)
    rows = np.arange(out_size)
    np.add.at(w, (rows, index), 1 - lam)
    np.add.at(w, (rows, index1), lam)
    return w


def _antialiased(in_size: int, out_size: int, scale: float, dtype) -> np.ndarray:
    """PyTorch's antialiased bilinear weights (out, in): a triangle filter widened by the
    downscaling factor, normalised over the taps inside the input."""
    support = max(scale, 1.0)
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    center = scale * (np.arange(out_size, dtype=np.float64) + 0.5)
    xmin = np.maximum((center - support + 0.5).astype(np.int64), 0)
    xmax = np.minimum((center + support + 0.5).astype(np.int64), in_size)
    j = np.arange(in_size)[None, :]
    inside = (j >= xmin[:, None]) & (j < xmax[:, None])
    w = np.maximum(1 - np.abs((j - center[:, None] + 0.5) * invscale), 0) * inside
    total = w.sum(axis=1, keepdims=True)
    return (w / np.where(total == 0, 1, total)).astype(dtype)


def bilinear_weights(in_size: int, out_size: int, antialias: bool, dtype) -> np.ndarray:
    """The (out, in) matrix that resamples one axis bilinearly (antialiased when shrinking
    with ``antialias``), computed in ``dtype`` like PyTorch's CPU kernels."""
    dtype = np.dtype(dtype)
    scale = dtype.type(in_size) / dtype.type(out_size)
    if antialias:
        return _antialiased(in_size, out_size, float(scale), dtype)
    return _linear(in_size, out_size, scale, dtype)


def resample(x: np.ndarray, size: tuple, mode: str, antialias: bool) -> np.ndarray:
    """x (..., H, W) resized to (..., size[0], size[1]). Integer input is resampled in
    float32 and rounded back to its dtype (torchvision's rule); float keeps its dtype."""
    h, w = x.shape[-2:]
    oh, ow = size
    if mode in ("nearest", "nearest-exact"):
        exact = mode == "nearest-exact"
        return x[..., nearest_indices(h, oh, exact)[:, None], nearest_indices(w, ow, exact)]
    work = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
    wh = bilinear_weights(h, oh, antialias, work)
    ww = bilinear_weights(w, ow, antialias, work)
    out = np.matmul(np.matmul(wh, x.astype(work, copy=False)), ww.T)
    if x.dtype.kind != "f":
        info = np.iinfo(x.dtype) if x.dtype.kind in "iu" else None
        out = np.round(out)
        if info is not None:
            out = np.clip(out, info.min, info.max)
        return out.astype(x.dtype)
    return out
