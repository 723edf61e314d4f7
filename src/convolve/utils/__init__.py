"""PyTorch's ``torch.utils`` names for convolve; today ``convolve.utils.data``."""

from . import data  # noqa: F401
