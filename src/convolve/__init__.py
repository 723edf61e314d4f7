"""convolve: a convolutional neural-network library on NumPy, with PyTorch's names and semantics."""

# ruff: noqa: I001 - order matters: tensor first, because the op modules import it.
from .tensor import Tensor, tensor  # noqa: F401
from .dtypes import (  # noqa: F401 - PyTorch's dtype names (NumPy dtypes)
    bool, double, float, float16, float32, float64, half, int, int8, int16, int32, int64, long,
    short, uint8,
)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: F401
from .random import get_rng_state, manual_seed, set_rng_state  # noqa: F401
from .random import Generator  # noqa: F401 - torch.Generator
from . import data, functional, nn, optim  # noqa: F401
from . import utils  # noqa: F401 - convolve.utils.data: torch.utils.data's names
from .serialization import load, save  # noqa: F401 - torch.save/torch.load, no pickle
from .summary import summary  # noqa: F401 - convolve.summary(model, input_shape)
from ._memory import tune_allocator

__version__ = "0.1.0"

tune_allocator()  # reuse freed activation memory between steps (see _memory.py)
