"""Layers and containers (``convolve.nn``), named and laid out as in ``torch.nn``."""

import sys as _sys

from .. import functional
from . import init  # noqa: F401
from .activation import *  # noqa: F401,F403
from .conv import *  # noqa: F401,F403
from .linear import Flatten, Identity, Linear  # noqa: F401
from .loss import *  # noqa: F401,F403
from .module import Module, ModuleList, Parameter, Sequential  # noqa: F401
from .norm import *  # noqa: F401,F403
from .pool import *  # noqa: F401,F403

# ``import convolve.nn.functional as F`` works as in PyTorch.
_sys.modules[__name__ + ".functional"] = functional
