"""The conv engines, one module each, all with one signature:

* ``forward(x4, w4, b, plan, keep) -> (out, saved)``: x4 (N, C, H, W), w4 (O, C/groups, kH,
  kW), b (O,) or None; ``saved`` is what backward needs (None unless ``keep``, i.e. a
  weight gradient will be asked for);
* ``backward(g4, saved, w4, plan, nx, nw) -> (input grad or None, weight grad or None)``.

``input_grad`` and ``weight_grad`` below are ``backward`` asking for one of the two.
Which engine runs a conv is decided by ``plan.py``, nowhere else.
"""

from . import depthwise, gemm1x1, im2col_cm, im2col_nhwc, winograd

ENGINES = {"im2col_nhwc": im2col_nhwc, "im2col_cm": im2col_cm, "winograd": winograd,
           "gemm1x1": gemm1x1, "depthwise": depthwise}


def engine(plan):
    """The engine module of a plan."""
    return ENGINES[plan.engine]


def input_grad(plan, g4, saved, w4):
    """The input gradient (N, C, H, W) of the plan's conv for the output gradient g4."""
    return engine(plan).backward(g4, saved, w4, plan, True, False)[0]


def weight_grad(plan, g4, saved, w4):
    """The weight gradient (O, C/groups, kH, kW) for g4; ``saved`` from forward(keep=True)."""
    return engine(plan).backward(g4, saved, w4, plan, False, True)[1]
