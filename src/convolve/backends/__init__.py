"""``convolve.backends``: PyTorch's backend switches, kept as documented no-ops.

``backends.cudnn.benchmark``, ``.deterministic`` and ``.enabled`` can be read and set
(scripts set them before training) but change nothing: convolve has no cuDNN, and its
CPU results are deterministic for a given seed and thread count.
``backends.mps.is_available()`` is False.
"""

from . import cudnn, mps  # noqa: F401
