"""torchvision-named transform classes for one image at a time (a dataset's ``transform=``):
Compose, ToTensor, ToPILImage, Normalize, Pad, RandomCrop, CenterCrop, RandomHorizontalFlip,
RandomVerticalFlip, Resize, RandomResizedCrop, Lambda. Random draws come from convolve's
global generator, so ``convolve.manual_seed`` makes them reproducible."""

from __future__ import annotations

import math
import numbers

from ..random import get_rng
from . import functional as F
from .functional import InterpolationMode

__all__ = ["CenterCrop", "Compose", "Lambda", "Normalize", "Pad", "RandomCrop",
           "RandomHorizontalFlip", "RandomResizedCrop", "RandomVerticalFlip", "Resize",
           "ToPILImage", "ToTensor"]


class Compose:
    """Apply ``transforms`` in order."""

    def __init__(self, transforms):
        self.transforms = list(transforms)
        for i, t in enumerate(self.transforms):
            if not callable(t):
                raise TypeError(f"Compose: transforms[{i}] must be callable, received {t!r}")

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img

    def __repr__(self) -> str:
        return "Compose(" + "".join(f"\n    {t}" for t in self.transforms) + "\n)"


class ToTensor:
    """PIL image or H x W (x C) ndarray -> C x H x W Tensor; uint8 scaled to float32 [0, 1],
    other dtypes (float arrays included) kept as they are, as in torchvision."""

    def __call__(self, pic):
        return F.to_tensor(pic)

    def __repr__(self) -> str:
        return "ToTensor()"


class ToPILImage:
    """C x H x W Tensor or H x W (x C) ndarray -> PIL image (see functional.to_pil_image)."""

    def __init__(self, mode=None):
        self.mode = mode

    def __call__(self, pic):
        return F.to_pil_image(pic, self.mode)

    def __repr__(self) -> str:
        return "ToPILImage()" if self.mode is None else f"ToPILImage(mode={self.mode})"


class Normalize:
    """(x - mean[c]) / std[c] for each channel of a float Tensor (..., C, H, W)."""

    def __init__(self, mean, std, inplace: bool = False):
        self.mean, self.std, self.inplace = mean, std, bool(inplace)

    def __call__(self, tensor):
        return F.normalize(tensor, self.mean, self.std, self.inplace)

    def __repr__(self) -> str:
        return f"Normalize(mean={self.mean}, std={self.std})"


class Pad:
    """Pad the borders (see ``functional.pad`` for padding, fill and padding_mode)."""

    def __init__(self, padding, fill=0, padding_mode: str = "constant"):
        F._padding_ltrb("Pad", padding)
        if padding_mode not in F._PAD_MODES:
            raise ValueError(f"Pad: padding_mode must be one of {F._PAD_MODES}, received "
                             f"padding_mode={padding_mode!r}")
        self.padding, self.fill, self.padding_mode = padding, fill, padding_mode

    def __call__(self, img):
        return F.pad(img, self.padding, self.fill, self.padding_mode)

    def __repr__(self) -> str:
        return (f"Pad(padding={self.padding}, fill={self.fill}, "
                f"padding_mode={self.padding_mode})")


class RandomCrop:
    """A size (h, w) window at a uniformly random position, after padding by ``padding``
    (if any) and, with pad_if_needed, padding an image smaller than the crop."""

    def __init__(self, size, padding=None, pad_if_needed: bool = False, fill=0,
                 padding_mode: str = "constant"):
        self.size = F._size_pair("RandomCrop", size)
        if padding is not None:
            F._padding_ltrb("RandomCrop", padding)
        if padding_mode not in F._PAD_MODES:
            raise ValueError(f"RandomCrop: padding_mode must be one of {F._PAD_MODES}, "
                             f"received padding_mode={padding_mode!r}")
        self.padding, self.pad_if_needed = padding, bool(pad_if_needed)
        self.fill, self.padding_mode = fill, padding_mode

    @staticmethod
    def get_params(img, output_size) -> tuple:
        """(top, left, h, w) of a uniformly random output_size window inside ``img``."""
        _, h, w = F.get_dimensions(img)
        th, tw = output_size
        if h < th or w < tw:
            raise ValueError(f"RandomCrop: required crop size {(th, tw)} is larger than the "
                             f"input image size {(h, w)}; use padding= or pad_if_needed=True")
        if h == th and w == tw:
            return 0, 0, h, w
        rng = get_rng()
        return int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1)), th, tw

    def __call__(self, img):
        if self.padding is not None:
            img = F.pad(img, self.padding, self.fill, self.padding_mode)
        _, h, w = F.get_dimensions(img)
        th, tw = self.size
        if self.pad_if_needed and w < tw:
            img = F.pad(img, [tw - w, 0], self.fill, self.padding_mode)
        if self.pad_if_needed and h < th:
            img = F.pad(img, [0, th - h], self.fill, self.padding_mode)
        return F.crop(img, *self.get_params(img, self.size))

    def __repr__(self) -> str:
        return f"RandomCrop(size={self.size}, padding={self.padding})"


class CenterCrop:
    """The central size (h, w) window (zero-padded first if the image is smaller)."""

    def __init__(self, size):
        self.size = F._size_pair("CenterCrop", size)

    def __call__(self, img):
        return F.center_crop(img, self.size)

    def __repr__(self) -> str:
        return f"CenterCrop(size={self.size})"


class _RandomFlip:
    _flip = None

    def __init__(self, p: float = 0.5):
        if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1], "
                             f"received p={p!r}")
        self.p = p

    def __call__(self, img):
        if get_rng().random() < self.p:
            return type(self)._flip(img)
        return img

    def __repr__(self) -> str:
        return f"{type(self).__name__}(p={self.p})"


class RandomHorizontalFlip(_RandomFlip):
    """Mirror left-right with probability p."""

    _flip = staticmethod(F.hflip)


class RandomVerticalFlip(_RandomFlip):
    """Mirror top-bottom with probability p."""

    _flip = staticmethod(F.vflip)


class Resize:
    """Resize to size (h, w), or the shorter edge to ``size`` keeping the aspect ratio; see
    ``functional.resize`` (nearest or bilinear; antialiased bilinear when shrinking)."""

    def __init__(self, size, interpolation=InterpolationMode.BILINEAR, max_size=None,
                 antialias: bool = True):
        if not (isinstance(size, (tuple, list)) and len(size) == 2):
            F._size_pair("Resize", size)
        self.size, self.max_size, self.antialias = size, max_size, antialias
        self.interpolation = InterpolationMode(F._mode("Resize", interpolation))

    def __call__(self, img):
        return F.resize(img, self.size, self.interpolation, self.max_size, self.antialias)

    def __repr__(self) -> str:
        return (f"Resize(size={self.size}, interpolation={self.interpolation.value}, "
                f"max_size={self.max_size}, antialias={self.antialias})")


class RandomResizedCrop:
    """A random window covering a fraction in ``scale`` of the image area with aspect ratio
    (w / h) log-uniform in ``ratio`` (10 tries, then a central crop), resized to ``size``."""

    def __init__(self, size, scale=(0.08, 1.0), ratio=(3.0 / 4.0, 4.0 / 3.0),
                 interpolation=InterpolationMode.BILINEAR, antialias: bool = True):
        self.size = F._size_pair("RandomResizedCrop", size)
        for arg, pair in (("scale", scale), ("ratio", ratio)):
            if not isinstance(pair, (tuple, list)) or len(pair) != 2 or pair[0] > pair[1] \
                    or not all(isinstance(v, numbers.Real) and v > 0 for v in pair):
                raise ValueError(f"RandomResizedCrop: {arg} must be a (min, max) pair of "
                                 f"positive numbers, received {arg}={pair!r}")
        self.scale, self.ratio, self.antialias = tuple(scale), tuple(ratio), antialias
        self.interpolation = InterpolationMode(F._mode("RandomResizedCrop", interpolation))

    @staticmethod
    def get_params(img, scale, ratio) -> tuple:
        """(top, left, h, w) of the window, drawn as torchvision draws it."""
        _, height, width = F.get_dimensions(img)
        rng, area = get_rng(), height * width
        log_ratio = (math.log(ratio[0]), math.log(ratio[1]))
        for _ in range(10):
            target_area = area * rng.uniform(scale[0], scale[1])
            aspect = math.exp(rng.uniform(*log_ratio))
            w = round(math.sqrt(target_area * aspect))
            h = round(math.sqrt(target_area / aspect))
            if 0 < w <= width and 0 < h <= height:
                top, left = rng.integers(0, height - h + 1), rng.integers(0, width - w + 1)
                return int(top), int(left), h, w
        in_ratio = width / height
        if in_ratio < min(ratio):
            w, h = width, round(width / min(ratio))
        elif in_ratio > max(ratio):
            h, w = height, round(height * max(ratio))
        else:
            h, w = height, width
        return (height - h) // 2, (width - w) // 2, h, w

    def __call__(self, img):
        top, left, h, w = self.get_params(img, self.scale, self.ratio)
        window = F.crop(img, top, left, h, w)
        return F.resize(window, self.size, self.interpolation, None, self.antialias)

    def __repr__(self) -> str:
        return (f"RandomResizedCrop(size={self.size}, scale={self.scale}, ratio={self.ratio}, "
                f"interpolation={self.interpolation.value}, antialias={self.antialias})")


class Lambda:
    """Apply a user function ``lambd`` as a transform."""

    def __init__(self, lambd):
        if not callable(lambd):
            raise TypeError(f"Lambda: lambd should be callable, received {type(lambd).__name__}")
        self.lambd = lambd

    def __call__(self, img):
        return self.lambd(img)

    def __repr__(self) -> str:
        return "Lambda()"
