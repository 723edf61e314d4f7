"""ImageFolder: ``root/<class name>/<image>`` trees of PNG/JPEG/... files, read with Pillow.

:func:`scan_image_folder` is the one folder scan (sorted classes, sorted files, the image
extensions below) shared by the eager :class:`ImageFolder` and the lazy
:func:`convolve.data.open_image_folder`.
"""

from __future__ import annotations

import numbers
from pathlib import Path

import numpy as np

from ..errors import DataError
from .dataset import ArrayDataset
from .images import read_image

__all__ = ["IMG_EXTENSIONS", "ImageFolder", "check_image_size", "scan_image_folder"]

IMG_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
MODES = {"L": 1, "RGB": 3}


def check_image_size(value, where: str = "ImageFolder") -> tuple[int, int] | None:
    """None, an int n (n x n) or an (H, W) pair of positive ints -> (H, W) or None."""
    if value is None:
        return None
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        value = (value, value)
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, numbers.Integral) and not isinstance(v, bool) and v > 0
            for v in value)):
        raise ValueError(f"{where}: size must be None, a positive int or a (height, width) "
                         f"pair, received size={value!r}")
    return int(value[0]), int(value[1])


def check_mode(mode, where: str = "ImageFolder") -> str:
    if mode not in MODES:
        raise ValueError(f"{where}: mode must be 'L' or 'RGB', received mode={mode!r}")
    return mode


def scan_image_folder(root, extensions=IMG_EXTENSIONS, where: str = "ImageFolder"
                      ) -> tuple[list[tuple[Path, int]], list[str]]:
    """(samples, classes) of ``root/<class>/<image>``: classes are the sorted names of the
    sub-folders (hidden ones skipped), samples the (path, class index) pairs of the files
    whose suffix (any case) is in ``extensions``, class by class, files sorted by name."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"{where}: root {root} is not a directory")
    extensions = tuple(e.lower() for e in extensions)
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    samples = []
    for k, cls in enumerate(classes):
        files = sorted(p for p in (root / cls).iterdir()
                       if p.is_file() and p.suffix.lower() in extensions)
        samples.extend((p, k) for p in files)
    if not samples:
        raise FileNotFoundError(
            f"{where}: no images found under {root}; expected one subfolder per "
            f"class holding files ending in {', '.join(extensions)}")
    return samples, classes


class ImageFolder(ArrayDataset):
    """One subfolder of ``root`` per class; class indices follow the sorted folder names.

    Images are converted to ``mode`` ("L": 1 channel, "RGB": 3), resized (bilinear) to
    ``size`` = (H, W) if given, and stacked into x (N, C, H, W) float32 in [0, 1] (8-bit
    pixels / 255; 16-bit and float images by their real range, see
    :func:`convolve.data.images.read_image`), y (N,) int64. Without ``size`` all images
    must share one size. Everything is loaded into memory at construction (for folders
    larger than memory see :func:`convolve.data.open_image_folder`). Attributes:
    ``classes``, ``class_to_idx``, ``samples`` (list of (path, class index)).
    """

    def __init__(self, root, size=None, mode: str = "RGB", transform=None,
                 extensions=IMG_EXTENSIONS):
        self.mode = check_mode(mode)
        self.root, self.size = Path(root), check_image_size(size)
        self.extensions = tuple(e.lower() for e in extensions)
        self.samples, self.classes = scan_image_folder(self.root, self.extensions)
        self.class_to_idx = {c: i for i, c in enumerate(self.classes)}
        images = [self._load(path) for path, _ in self.samples]
        self._check_sizes(images)
        x = np.stack(images)
        x = x[:, None] if mode == "L" else x.transpose(0, 3, 1, 2)
        labels = np.array([c for _, c in self.samples], dtype=np.int64)
        super().__init__(np.ascontiguousarray(x), labels, transform)

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
