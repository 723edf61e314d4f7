"""Vectorised transforms for batches (N, C, *spatial) and single samples (C, *spatial).

Every transform is called as ``t(x, rng=None)``. Random transforms draw from ``rng`` when
given (the DataLoader passes one derived from its seed, epoch and batch, so augmentation is
reproducible and resumable) and from their own generator, seeded by ``seed=``, otherwise.
``spatial_dims`` (2 for images, 1 for signals) tells a batch (ndim = spatial_dims + 2)
from a single sample (ndim = spatial_dims + 1).
"""

from __future__ import annotations

import numbers

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "Compose",
    "Normalize",
    "RandomHorizontalFlip",
    "RandomTranslate",
    "ToFloat",
    "Transform",
    "apply_transform",
    "translate",
]


def apply_transform(transform, x, rng=None):
    """Call ``transform(x, rng=rng)`` for a :class:`Transform`, plain ``transform(x)`` else."""
    return transform(x, rng=rng) if isinstance(transform, Transform) else transform(x)


def _spatial_dims(name: str, value) -> int:
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name}: spatial_dims must be a positive int, "
                         f"received spatial_dims={value!r}")
    return int(value)


class Transform:
    """Base class: ``__call__(x, rng=None)`` on a batch or a single sample."""

    spatial_dims = 2

    def _is_batch(self, x: np.ndarray) -> bool:
        s = self.spatial_dims
        if x.ndim not in (s + 1, s + 2):
            raise ValueError(
                f"{type(self).__name__}: expected a batch (N, C, {s} spatial dims) or a sample "
                f"(C, {s} spatial dims), i.e. ndim {s + 2} or {s + 1}, received shape {x.shape}")
        return x.ndim == s + 2

    def _generator(self, rng) -> np.random.Generator:
        if rng is None:
            return self._rng
        if not isinstance(rng, np.random.Generator):
            raise TypeError(f"{type(self).__name__}: rng must be a numpy Generator, "
                            f"received {type(rng).__name__}")
        return rng

    def __call__(self, x, rng=None):
        raise NotImplementedError

    def _per_sample(self, x, rng, apply_batch):
        """Run ``apply_batch(batch, generator)`` on a batch, or on a single sample as a batch of 1."""
        x = np.asarray(x)
        batch = self._is_batch(x)
        out = apply_batch(x if batch else x[None], self._generator(rng))
        return out if batch else out[0]

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Compose(Transform):
    """Apply ``transforms`` in order, passing the same ``rng`` along."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable, received {t!r}")

    def __call__(self, x, rng=None):
        for t in self.transforms:
            x = apply_transform(t, x, rng)
        return x

    def __repr__(self) -> str:
        inner = "".join(f"\n    {t!r}," for t in self.transforms)
        return f"Compose([{inner}\n])"


class ToFloat(Transform):
    """Cast to ``dtype`` and divide by ``scale`` (default: 255 for uint8, 1 otherwise)."""

    def __init__(self, scale: float | None = None, dtype=np.float32):
        if scale is not None and (not isinstance(scale, numbers.Real) or not scale > 0):
            raise ValueError(f"ToFloat: scale must be a positive number, received scale={scale!r}")
        self.scale, self.dtype = scale, np.dtype(dtype)

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        scale = self.scale if self.scale is not None else (255 if x.dtype == np.uint8 else 1)
        out = x.astype(self.dtype)
        return out / self.dtype.type(scale) if scale != 1 else out

    def __repr__(self) -> str:
        return f"ToFloat(scale={self.scale}, dtype={self.dtype.name})"


class Normalize(Transform):
    """(x - mean[c]) / std[c] per channel; mean and std are scalars or length-C sequences."""

    def __init__(self, mean, std, spatial_dims: int = 2):
        self.mean = np.atleast_1d(np.asarray(mean, dtype=np.float64))
        self.std = np.atleast_1d(np.asarray(std, dtype=np.float64))
        if self.mean.ndim != 1 or self.std.ndim != 1:
            raise ValueError(f"Normalize: mean and std must be scalars or 1-D, received "
                             f"mean={mean!r}, std={std!r}")
        if not np.all(self.std > 0):
            raise ValueError(f"Normalize: std must be positive, received std={std!r}")
        self.spatial_dims = _spatial_dims("Normalize", spatial_dims)

    def __call__(self, x, rng=None):
        x = np.asarray(x)
        batch = self._is_batch(x)
        channels = x.shape[1 if batch else 0]
        for name, v in (("mean", self.mean), ("std", self.std)):
            if v.size not in (1, channels):
                raise ValueError(f"Normalize: {name} has {v.size} entries but the input has "
                                 f"{channels} channels (shape {x.shape})")
        dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.float32)
        shape = (-1,) + (1,) * self.spatial_dims
        mean = self.mean.astype(dtype).reshape(shape)
        std = self.std.astype(dtype).reshape(shape)
        return (x.astype(dtype, copy=False) - mean) / std

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean.tolist()}, std={self.std.tolist()})"


def translate(x: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """Shift each sample by integer offsets, filling with zeros.

    x: (N, C, *S); shifts: (N, len(S)) ints. out[n, c, i] = x[n, c, i - shifts[n]] where that
    index lies inside S, else 0: positive shifts move content down/right. One gather from
    a sliding-window view of the zero-padded batch, no per-sample loop.
    """
    x = np.asarray(x)
    shifts = np.asarray(shifts)
    s = x.ndim - 2
    if s < 1 or shifts.shape != (x.shape[0], s) or shifts.dtype.kind not in "iu":
        raise ValueError(f"translate: expected x (N, C, *spatial) and integer shifts (N, {max(s, 1)}),"
                         f" received x {x.shape} and shifts {shifts.shape} {shifts.dtype}")
    k = int(np.abs(shifts).max(initial=0))
    if k == 0:
        return x.copy()
    padded = np.pad(x, [(0, 0), (0, 0)] + [(k, k)] * s)
    windows = sliding_window_view(padded, x.shape[2:], axis=tuple(range(2, 2 + s)))
    offset = k - shifts.astype(np.int64)  # in [0, 2k]
    n, c = np.arange(x.shape[0])[:, None], np.arange(x.shape[1])[None, :]
    return windows[(n, c) + tuple(offset[:, d][:, None] for d in range(s))]


class RandomTranslate(Transform):
    """Pad by ``max_shift`` zeros and crop back at a random offset per sample: every sample is
    shifted by an independent uniform integer in [-max_shift, max_shift] along each axis."""

    def __init__(self, max_shift: int, spatial_dims: int = 2, seed=None):
        if not isinstance(max_shift, numbers.Integral) or isinstance(max_shift, bool) \
                or max_shift < 0:
            raise ValueError(f"RandomTranslate: max_shift must be a non-negative int, "
                             f"received max_shift={max_shift!r}")
        self.max_shift = int(max_shift)
        self.spatial_dims = _spatial_dims("RandomTranslate", spatial_dims)
        self._rng = np.random.default_rng(seed)

    def sample_shifts(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """The (n, spatial_dims) integer shifts drawn for a batch of n samples."""
        k = self.max_shift
        return rng.integers(-k, k + 1, size=(n, self.spatial_dims))

    def __call__(self, x, rng=None):
        return self._per_sample(x, rng, lambda xb, g: translate(xb, self.sample_shifts(len(xb), g)))

    def __repr__(self) -> str:
        return f"RandomTranslate(max_shift={self.max_shift}, spatial_dims={self.spatial_dims})"


class RandomHorizontalFlip(Transform):
    """Reverse the last axis of each sample independently with probability ``p``."""

    def __init__(self, p: float = 0.5, spatial_dims: int = 2, seed=None):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"RandomHorizontalFlip: p must be a probability in [0, 1], "
                             f"received p={p!r}")
        self.p = float(p)
        self.spatial_dims = _spatial_dims("RandomHorizontalFlip", spatial_dims)
        self._rng = np.random.default_rng(seed)

    def sample_flips(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """Boolean (n,) mask of the samples to flip."""
        return rng.random(n) < self.p

    def __call__(self, x, rng=None):
        return self._per_sample(x, rng, self._flip)

    def _flip(self, xb, rng):
        flip = self.sample_flips(len(xb), rng)
        return np.where(flip.reshape((-1,) + (1,) * (xb.ndim - 1)), xb[..., ::-1], xb)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"
