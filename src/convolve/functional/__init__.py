"""Differentiable ops on Tensors, one module per family (``import convolve.functional as F``)."""

from .blur_pool import *
from .conv import *
from .conv_transpose import conv3d, conv_transpose1d, conv_transpose2d, conv_transpose3d  # noqa: F401
from .elementwise import (  # noqa: F401
    abs,
    add,
    clamp,
    clip,
    div,
    exp,
    gelu,
    leaky_relu,
    log,
    maximum,
    minimum,
    mul,
    neg,
    pow,
    relu,
    sigmoid,
    sqrt,
    sub,
    tanh,
)
from .linear import linear, matmul  # noqa: F401
from .loss import *
from .lp_pool import lp_pool1d, lp_pool2d, max_pool3d  # noqa: F401
from .norm import *
from .per_sample import *
from .pool import *
from .reduce import amax, amin, argmax, argmin, max, mean, min, std, sum, var  # noqa: F401
from .shape import (  # noqa: F401
    cat,
    clone,
    flatten,
    getitem,
    pad,
    permute,
    reshape,
    squeeze,
    stack,
    transpose,
    unsqueeze,
)
