"""Translating batches of images (N, C, H, W) or sequences (N, C, L) without a loop over samples.

A shift moves content by ``dy`` rows down and ``dx`` columns right (for sequences,
``dx`` positions right). Pixels shifted in are zero ("zero" mode) or wrap around
("circular" mode).
"""

from __future__ import annotations

import numpy as np

MODES = ("zero", "circular")


def _check(x: np.ndarray, mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"shift: mode must be one of {MODES}, received mode={mode!r}")
    if x.ndim not in (3, 4):
        raise ValueError(f"shift: expected a (N, C, L) or (N, C, H, W) array, "
                         f"received shape {tuple(x.shape)}")


def _shift_axis(x: np.ndarray, s: int, axis: int, mode: str) -> np.ndarray:
    if s == 0:
        return x
    if mode == "circular":
        return np.roll(x, s, axis=axis)
    out = np.zeros_like(x)
    n = x.shape[axis]
    if abs(s) >= n:
        return out
    src = [slice(None)] * x.ndim
    dst = [slice(None)] * x.ndim
    src[axis] = slice(0, n - s) if s > 0 else slice(-s, n)
    dst[axis] = slice(s, n) if s > 0 else slice(0, n + s)
    out[tuple(dst)] = x[tuple(src)]
    return out


def shift(x: np.ndarray, dy: int = 0, dx: int = 0, mode: str = "zero") -> np.ndarray:
    """The whole batch translated by (dy, dx); output has x's shape.

    For sequences (N, C, L) only ``dx`` applies and ``dy`` must be 0.
    """
    x = np.asarray(x)
    _check(x, mode)
    if x.ndim == 3:
        if dy:
            raise ValueError(f"shift: sequences (N, C, L) shift along one axis only, "
                             f"received dy={dy}")
        return _shift_axis(x, int(dx), 2, mode)
    return _shift_axis(_shift_axis(x, int(dy), 2, mode), int(dx), 3, mode)


def shift_each(x: np.ndarray, dy, dx, mode: str = "zero") -> np.ndarray:
    """Each sample n translated by its own (dy[n], dx[n]) with zero fill (or wrap-around).

    One gather over a padded copy: out[n, c, i, j] = x[n, c, i - dy[n], j - dx[n]].
    """
    x = np.asarray(x)
    _check(x, mode)
    n = x.shape[0]
    dy = np.broadcast_to(np.asarray(dy, dtype=np.int64), (n,))
    dx = np.broadcast_to(np.asarray(dx, dtype=np.int64), (n,))
    if x.ndim == 3:
        if np.any(dy):
            raise ValueError("shift_each: sequences (N, C, L) shift along one axis only")
        return shift_each(x[:, :, None, :], 0, dx, mode)[:, :, 0, :]
    h, w = x.shape[2:]
    rows = np.arange(h)[None, :] - dy[:, None]  # (N, H) source rows
    cols = np.arange(w)[None, :] - dx[:, None]
    if mode == "circular":
        rows, cols = rows % h, cols % w
        return x[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
                 rows[:, None, :, None], cols[:, None, None, :]]
    m = int(max(np.abs(dy).max(initial=0), np.abs(dx).max(initial=0)))
    xp = np.pad(x, ((0, 0), (0, 0), (m, m), (m, m)))
    rows = np.clip(rows + m, 0, h + 2 * m - 1)
    cols = np.clip(cols + m, 0, w + 2 * m - 1)
    return xp[np.arange(n)[:, None, None, None], np.arange(x.shape[1])[None, :, None, None],
              rows[:, None, :, None], cols[:, None, None, :]]


def directions(k: int, ndim: int) -> list[tuple[int, int]]:
    """The shifts of length k along each axis, both ways: 4 for images, 2 for sequences."""
    if k == 0:
        return [(0, 0)]
    if ndim == 3:
        return [(0, k), (0, -k)]
    return [(k, 0), (-k, 0), (0, k), (0, -k)]
