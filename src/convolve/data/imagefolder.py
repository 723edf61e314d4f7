"""ImageFolder: ``root/<class name>/<image>`` trees of PNG/JPEG/... files, read with Pillow."""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import ArrayDataset
from .images import read_image

__all__ = ["IMG_EXTENSIONS", "ImageFolder"]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
_MODES = {"L": 1, "RGB": 3}


def _size(value) -> tuple[int, int] | None:
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in value)):
        raise ValueError(f"ImageFolder: size must be None, a positive int or a (height, width) "
                         f"pair, received size={value!r}")
    return int(value[0]), int(value[1])


class ImageFolder(ArrayDataset):
    """One subfolder of ``root`` per class; class indices follow the sorted folder names.

    Images are converted to ``mode`` ("L": 1 channel, "RGB": 3), resized (bilinear) to
    ``size`` = (H, W) if given, and stacked into x (N, C, H, W) float32 in [0, 1] (8-bit
    pixels / 255; 16-bit and float images by their real range, see
    :func:`convolve.data.images.read_image`), y (N,) int64. Without ``size`` all images must share one size. Everything is
    loaded into memory at construction. Attributes: ``classes``, ``class_to_idx``,
    ``samples`` (list of (path, class index)).
    """

    def __init__(self, root, size=None, mode: str = "RGB", transform=None,
                 extensions=IMG_EXTENSIONS):
        if mode not in _MODES:
            raise ValueError(f"ImageFolder: mode must be 'L' or 'RGB', received mode={mode!r}")
        self.root, self.size, self.mode = Path(root), _size(size), mode
        if not self.root.is_dir():
            raise FileNotFoundError(f"ImageFolder: root {self.root} is not a directory")
        self.extensions = tuple(e.lower() for e in extensions)
        self.classes = sorted(d.name for d in self.root.iterdir()
                              if d.is_dir() and not d.name.startswith("."))
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        self.samples = self._scan()
        images = [self._load(path) for path, _ in self.samples]
        self._check_sizes(images)
        x = np.stack(images)
        x = x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)
        labels = np.array([c for _, c in self.samples], dtype=np.int64)
        super().__init__(np.ascontiguousarray(x), labels, transform)

    def _scan(self) -> list[tuple[Path, int]]:
        samples = []
        for cls in self.classes:
            files = sorted(p for p in (self.root / cls).iterdir()
                           if p.is_file() and p.suffix.lower() in self.extensions)
            samples.extend((p, self.class_to_idx[cls]) for p in files)
        if not samples:
            raise FileNotFoundError(
                f"ImageFolder: no images found under {self.root}; expected one subfolder per "
                f"class holding files ending in {', '.join(self.extensions)}")
        return samples

    def _load(self, path: Path) -> np.ndarray:
        try:
            return read_image(path, self.mode, self.size)
        except DataError as exc:
            raise DataError(f"ImageFolder: {exc}") from None

    def _check_sizes(self, images) -> None:
        first = images[0].shape[:2]
        for (path, _), img in zip(self.samples, images):
            if img.shape[:2] != first:
                raise DataError(
                    f"ImageFolder: {path} is {img.shape[0]}x{img.shape[1]} (HxW) but "
                    f"{self.samples[0][0]} is {first[0]}x{first[1]}; pass size=(H, W) to resize")
