"""Layers and containers (``convolve.nn``), named and laid out as in ``torch.nn``."""

import sys as _sys

from .. import functional
from . import init, utils  # noqa: F401
from .activation import *
from .conv import *
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import *
from .module import Module, ModuleList, Parameter, Sequential  # noqa: F401
from .norm import *
from .normalization import *
from .pool import *

# ``import convolve.nn.functional as F`` works as in PyTorch.
_sys.modules[__name__ + ".functional"] = functional
