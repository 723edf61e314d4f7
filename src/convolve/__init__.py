"""convolve: a convolutional neural-network library on NumPy, with PyTorch's names and semantics."""

# ruff: noqa: I001 - order matters: tensor first, because the op modules import it.
from .tensor import Tensor, tensor  # noqa: F401
from .dtypes import (  # noqa: F401 - PyTorch's dtype names (NumPy dtypes)
    bool, double, float, float16, float32, float64, half, int, int8, int16, int32, int64, long,
    short, uint8,
)
from .grad_mode import (  # noqa: F401
    enable_grad, inference_mode, is_grad_enabled, no_grad, set_grad_enabled,
)
from .random import get_rng_state, manual_seed, set_rng_state  # noqa: F401
from .random import Generator  # noqa: F401 - torch.Generator
from . import data, functional, nn, optim  # noqa: F401
from . import utils  # noqa: F401 - convolve.utils.data: torch.utils.data's names
from .serialization import load, save  # noqa: F401 - torch.save/torch.load, no pickle
from .creation import (  # noqa: F401 - PyTorch's constructors and top-level functions
    arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like, is_tensor, linspace,
    numel, ones, ones_like, rand, rand_like, randint, randn, randn_like, randperm, where, zeros,
    zeros_like,
)
from .functional import (  # noqa: F401 - torch.<op> forms of the differentiable ops
    abs, amax, amin, argmax, argmin, cat, clamp, clip, clone, exp, flatten, log, log_softmax,
    matmul, max, maximum, mean, min, minimum, permute, relu, reshape, sigmoid, softmax, sqrt,
    squeeze, stack, std, sum, tanh, transpose, unsqueeze, var,
)
from .functional import cat as concat  # noqa: F401
from .device import device  # noqa: F401
from .tensor_methods import Size  # noqa: F401
from . import accelerator, backends, cuda  # noqa: F401
from ._missing import get_default_dtype, module_getattr as __getattr__  # noqa: F401
from .summary import summary  # noqa: F401 - convolve.summary(model, input_shape)
from ._memory import tune_allocator

__version__ = "0.1.0"

tune_allocator()  # reuse freed activation memory between steps (see _memory.py)
