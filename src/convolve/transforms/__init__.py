"""Image transforms with torchvision's names and semantics, for one image at a time
(``dataset = MyDataset(transform=transforms.Compose([...]))``)::

    import convolve.transforms as transforms      # for: import torchvision.transforms as ...
    train_tf = transforms.Compose([
        transforms.RandomCrop(32, padding=4),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    ])

Inputs: a PIL image or an H x W (x C) ndarray before ``ToTensor``, a C x H x W convolve
Tensor after it; each transform returns the kind it received. Random transforms draw from
convolve's global generator (``convolve.manual_seed``). Resize on Tensors and ndarrays is
PyTorch's interpolate: nearest, or bilinear (align_corners=False) antialiased when shrinking
(torchvision's default ``antialias=True``); PIL images use PIL's resize, as in torchvision.
For batched, vectorised augmentation of whole (N, C, H, W) arrays see
``convolve.data.transforms``.
"""

from . import functional
from .functional import InterpolationMode
from .transforms import (
    CenterCrop,
    Compose,
    Lambda,
    Normalize,
    Pad,
    RandomCrop,
    RandomHorizontalFlip,
    RandomResizedCrop,
    RandomVerticalFlip,
    Resize,
    ToPILImage,
    ToTensor,
)

__all__ = ["CenterCrop", "Compose", "InterpolationMode", "Lambda", "Normalize", "Pad",
           "RandomCrop", "RandomHorizontalFlip", "RandomResizedCrop", "RandomVerticalFlip",
           "Resize", "ToPILImage", "ToTensor", "functional"]
