"""TEST-ONLY: torchvision.transforms' Compose, ToTensor, Normalize, RandomCrop and
RandomHorizontalFlip on tensors and HWC NumPy arrays, written with torch ops and drawing
from torch's global generator the way torchvision does (``torch.randint`` for the crop
offsets, ``torch.rand(1)`` for the flip), so the PyTorch reference runs behave as with the
real package."""

import numpy as np
import torch
import torch.nn.functional as F


class Compose:
    def __init__(self, transforms):
        self.transforms = transforms

    def __call__(self, img):
        for t in self.transforms:
            img = t(img)
        return img


class ToTensor:
    """HWC (or HW) array -> CHW float tensor; uint8 is scaled by 1/255."""

    def __call__(self, pic):
        arr = np.asarray(pic)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        img = torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))
        if img.dtype == torch.uint8:
            return img.to(torch.get_default_dtype()).div(255)
        return img


class Normalize:
    def __init__(self, mean, std, inplace=False):
        self.mean, self.std = mean, std

    def __call__(self, tensor):
        mean = torch.as_tensor(self.mean, dtype=tensor.dtype).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=tensor.dtype).view(-1, 1, 1)
        return (tensor - mean) / std


class RandomCrop:
    def __init__(self, size, padding=None, pad_if_needed=False, fill=0, padding_mode="constant"):
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        self.padding, self.fill = padding, fill

    def __call__(self, img):
        if self.padding:
            p = self.padding
            img = F.pad(img, (p, p, p, p), value=float(self.fill))
        h, w = img.shape[-2:]
        th, tw = self.size
        i = torch.randint(0, h - th + 1, size=(1,)).item()
        j = torch.randint(0, w - tw + 1, size=(1,)).item()
        return img[..., i:i + th, j:j + tw]


class RandomHorizontalFlip:
    def __init__(self, p=0.5):
        self.p = p

    def __call__(self, img):
        if torch.rand(1) < self.p:
            return img.flip(-1)
        return img
