"""Convolutions: the public ops (``api.py``), the planner that picks an engine for each conv
(``plan.py``, priced by ``cost.py``), the engines (``engines/``), and the helpers they
share: the chunked-parallel map (``parallel.py``), the pad/unpad pair (``padding.py``) and
window views (``windows.py``).

Helpers meant for reuse (pooling, model summaries): ``conv_output_size``,
``normalize_padding``, ``sliding_windows``, ``accumulate_windows``, ``pad_nd``.
"""

from .api import (
    PADDING_MODES,
    accumulate_windows,
    conv1d,
    conv2d,
    conv_output_size,
    conv_plans,
    locally_connected2d,
    normalize_padding,
    sliding_windows,
)
from .padding import pad_nd
from .plan import ConvPlan, plan_conv

__all__ = [
    "PADDING_MODES",
    "ConvPlan",
    "accumulate_windows",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_plans",
    "locally_connected2d",
    "normalize_padding",
    "pad_nd",
    "plan_conv",
    "sliding_windows",
]
