"""The public conv API: conv1d, conv2d and locally_connected2d validate their arguments
once, normalise them to 2-D geometry, get the conv's ``ConvPlan`` (``plan.py``) and run
``ConvNd`` (``function.py``), which hands the work to the planned engine (``engines/``).

Every spatial dim follows PyTorch's output-size formula::

    out = floor((size + pad_lo + pad_hi - dilation * (kernel - 1) - 1) / stride) + 1
"""

from __future__ import annotations

import numpy as np

from ...function import Function
from ...grad_mode import is_grad_enabled
from .._util import check_float, check_ndim, ntuple
from .function import ConvNd
from .padding import PADDING_MODES, check_mode_pads, pad_array, unpad_array
from .plan import ConvPlan, every_plan, plan_conv, with_batch
from .windows import accumulate_windows, conv_output_size, sliding_windows

__all__ = [
    "PADDING_MODES",
    "accumulate_windows",
    "conv1d",
    "conv2d",
    "conv_output_size",
    "conv_plans",
    "locally_connected2d",
    "normalize_padding",
    "sliding_windows",
]


# --------------------------------------------------------------------- helpers
def normalize_padding(padding, kernel: tuple, stride: tuple, dilation: tuple, op: str) -> tuple:
    """Per-dim (lo, hi) padding from an int, a tuple of ints, 'valid' or 'same'.

    'same' needs stride 1 and pads total = dilation*(kernel-1) per dim with
    lo = total // 2 and the extra element on the high side (PyTorch's rule).
    """
    n = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * n
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(f"{op}: padding='same' is not supported for strided "
                                 f"convolutions, received stride={stride}")
            totals = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(f"{op}: padding must be an int, a tuple, 'valid' or 'same', "
                         f"received padding={padding!r}")
    return tuple((p, p) for p in ntuple(padding, n, op, "padding", minimum=0))


# ------------------------------------------------------------------ validation
def _check_conv_args(op, nd, x, w, b, stride, padding, dilation, groups, padding_mode):
    """Validate and normalise; returns (stride, pads, dilation, groups) as 2-D tuples."""
    names = "(N, C, L) or unbatched (C, L)" if nd == 1 else "(N, C, H, W) or unbatched (C, H, W)"
    for arg, a in (("input", x), ("weight", w)):
        if not hasattr(a, "ndim"):
            raise TypeError(f"{op}: {arg} must be a Tensor, received {type(a).__name__}")
    check_ndim(op, x, (nd + 1, nd + 2), names)
    check_float(op, x)
    check_float(op, w)
    if w.ndim != nd + 2:
        raise ValueError(f"{op}: expected weight of rank {nd + 2} (out_channels, "
                         f"in_channels/groups, *kernel_size), received shape {tuple(w.shape)}")
    if w.dtype != x.dtype:
        raise TypeError(f"{op}: input dtype {x.dtype} and weight dtype {w.dtype} differ")
    if isinstance(groups, bool) or not isinstance(groups, (int, np.integer)) or groups < 1:
        raise ValueError(f"{op}: groups must be a positive int, received groups={groups!r}")
    o, cg = w.shape[:2]
    c = x.shape[-nd - 1]
    if min(w.shape) < 1:
        raise ValueError(f"{op}: weight has an empty dim, received shape {tuple(w.shape)}")
    if o % groups:
        raise ValueError(f"{op}: out_channels={o} (weight.shape[0]) is not divisible by "
                         f"groups={groups}")
    if c != cg * groups:
        raise ValueError(f"{op}: expected input with {cg * groups} channels (weight.shape[1]="
                         f"{cg} * groups={groups}), received shape {tuple(x.shape)}")
    _check_bias(op, b, (o,), x.dtype)
    kernel = tuple(w.shape[2:])
    stride = ntuple(stride, nd, op, "stride")
    dilation = ntuple(dilation, nd, op, "dilation")
    pads = normalize_padding(padding, kernel, stride, dilation, op)
    sizes = tuple(x.shape[-nd:])
    check_mode_pads(op, padding_mode, pads, sizes)
    _check_out_size(op, sizes, kernel, stride, pads, dilation)
    if nd == 1:
        return (1,) + stride, ((0, 0),) + pads, (1,) + dilation
    return stride, pads, dilation


def _check_bias(op, b, shape, dtype):
    if b is None:
        return
    if tuple(b.shape) != shape:
        raise ValueError(f"{op}: expected bias of shape {shape}, received shape {tuple(b.shape)}")
    if b.dtype != dtype:
        raise TypeError(f"{op}: bias dtype {b.dtype} differs from input dtype {dtype}")


def _check_out_size(op, sizes, kernel, stride, pads, dilation):
    out = [conv_output_size(*a) for a in zip(sizes, kernel, stride, pads, dilation)]
    if min(out) < 1:
        raise ValueError(f"{op}: computed output size {tuple(out)} is too small (input size "
                         f"{sizes}, padding {pads}, kernel {kernel}, dilation {dilation}); "
                         f"the dilated kernel is larger than the padded input")
    return out


def _conv(op, nd, x, w, b, stride, padding, dilation, groups, padding_mode, plan):
    stride, pads, dilation = _check_conv_args(op, nd, x, w, b, stride, padding, dilation,
                                              groups, padding_mode)
    x_shape = ((1,) * (nd + 2 - x.ndim)) + tuple(x.shape)
    x_shape, w_shape = x_shape[:2] + (1,) * (2 - nd) + x_shape[2:], \
        tuple(w.shape[:2]) + (1,) * (2 - nd) + tuple(w.shape[2:])
    geo = (x_shape, w_shape, stride, pads, dilation, int(groups), padding_mode, x.dtype)
    grads = (_needs_grad(x), _needs_grad(w)) if is_grad_enabled() else (False, False)
    return ConvNd.apply(x, w, b, plan=resolve_plan(op, plan, *geo, grads=grads))


def _needs_grad(t) -> bool:
    return bool(getattr(t, "requires_grad", False))


def resolve_plan(op, plan, x_shape, w_shape, stride, pads, dilation, groups, mode, dtype,
                 grads=(True, True)):
    """The ConvPlan to run: planned (plan None), an engine name, a dict of plan fields to
    fix, or a ConvPlan made for this conv (any batch size). grads: (input, weight) needed."""
    geo = (x_shape, w_shape, stride, pads, dilation, groups, mode, dtype)
    if plan is None:
        return plan_conv(*geo, grads=grads)
    if isinstance(plan, str):
        return plan_conv(*geo, grads=grads, engine=plan)
    if isinstance(plan, dict):
        return plan_conv(*geo, **{"grads": grads, **plan})
    if not isinstance(plan, ConvPlan):
        raise TypeError(f"{op}: plan must be a ConvPlan, an engine name or a dict of plan "
                        f"fields, received {type(plan).__name__}")
    mine = (plan.x_shape[1:], plan.w_shape, plan.stride, plan.pads, plan.dilation,
            plan.groups, plan.mode, plan.dtype)
    theirs = (x_shape[1:], w_shape, stride, pads, dilation, groups, mode, np.dtype(dtype).name)
    if mine != theirs:
        raise ValueError(f"{op}: the plan was made for another conv: {plan!r}, received input "
                         f"{x_shape}, weight {w_shape}, stride {stride}, pads {pads}")
    return with_batch(plan, x_shape[0])


def conv_plans(input, weight, stride=1, padding=0, dilation=1, groups=1, padding_mode="zeros",
               every=False, threads=None, chunk_bytes=None, grads=(True, True)):
    """The ConvPlan conv1d/conv2d (by weight.ndim) would run for these arguments when the
    (input, weight) gradients ``grads`` are needed; with ``every``, one plan per applicable
    engine and option instead (a list). input and weight need shape, ndim and dtype."""
    nd = weight.ndim - 2
    op = "conv_plans"
    stride, pads, dilation = _check_conv_args(op, nd, input, weight, None, stride, padding,
                                              dilation, groups, padding_mode)
    x_shape = ((1,) * (nd + 2 - input.ndim)) + tuple(input.shape)
    x_shape = x_shape[:2] + (1,) * (2 - nd) + x_shape[2:]
    w_shape = tuple(weight.shape[:2]) + (1,) * (2 - nd) + tuple(weight.shape[2:])
    geo = (x_shape, w_shape, stride, pads, dilation, int(groups), padding_mode, input.dtype)
    if every:
        return every_plan(*geo, threads=1 if threads is None else threads,
                          chunk_bytes=chunk_bytes)
    force = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    return plan_conv(*geo, threads=threads, grads=grads, **force)


def conv2d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", plan=None):
    """2-D cross-correlation, PyTorch's F.conv2d (plus nn.Conv2d's padding_mode).

    input (N, C, H, W) or (C, H, W); weight (O, C/groups, kH, kW); bias (O,) or None.
    padding: int, (pH, pW), 'valid' or 'same' (stride 1; extra pad on the high side).
    padding_mode: 'zeros', 'reflect', 'replicate' or 'circular'.
    plan: None (planned by the cost model), an engine name, a dict of plan fields or a
    ``ConvPlan`` (see ``conv/plan.py``).
    Output (N, O, OH, OW), OH = floor((H + 2pH - dH*(kH-1) - 1)/sH) + 1.
    """
    return _conv("conv2d", 2, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, plan)


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1,
           padding_mode="zeros", plan=None):
    """1-D cross-correlation, PyTorch's F.conv1d (plus nn.Conv1d's padding_mode).

    input (N, C, L) or (C, L); weight (O, C/groups, k); bias (O,) or None.
    plan: as for conv2d (the 1-D conv is planned as a 2-D one with H = 1).
    Output (N, O, OL), OL = floor((L + 2p - d*(k-1) - 1)/s) + 1.
    """
    return _conv("conv1d", 1, input, weight, bias, stride, padding, dilation, groups,
                 padding_mode, plan)


# ----------------------------------------------------------- locally connected
class LocallyConnected2d(Function):
    """Unshared-weight 2-D convolution: one (O, C, kH, kW) filter bank per output position."""

    @staticmethod
    def forward(ctx, x, w, b=None, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1)):
        ctx.x_shape, ctx.w_shape = x.shape, w.shape
        x4 = x if x.ndim == 4 else x[None]
        oh, ow, o, c, kh, kw = w.shape
        n = x4.shape[0]
        xp = pad_array(x4, pads, "zeros")
        win = sliding_windows(xp, (kh, kw), stride, dilation)  # (N, C, OH, OW, kH, kW)
        col = np.empty((oh, ow, n, c, kh, kw), dtype=x.dtype)
        np.copyto(col.transpose(2, 3, 0, 1, 4, 5), win)
        col = col.reshape(oh * ow, n, c * kh * kw)
        wm = w.reshape(oh * ow, o, c * kh * kw)
        out = np.matmul(col, wm.transpose(0, 2, 1))  # (P, N, O)
        res = np.ascontiguousarray(out.transpose(1, 2, 0)).reshape(n, o, oh, ow)
        if b is not None:
            res += b
        ctx.geom = (stride, pads, dilation, xp.shape)
        ctx.save_for_backward(col if ctx.parents is not None and ctx.needs_input_grad[1] else None,
                              wm)
        return res if x.ndim == 4 else res[0]

    @staticmethod
    def backward(ctx, g):
        col, wm = ctx.saved
        stride, pads, dilation, xp_shape = ctx.geom
        nx, nw, nb = (list(ctx.needs_input_grad) + [False])[:3]
        oh, ow, o, c, kh, kw = ctx.w_shape
        g4 = g if g.ndim == 4 else g[None]
        n = g4.shape[0]
        gp = np.ascontiguousarray(g4.reshape(n, o, oh * ow).transpose(2, 0, 1))  # (P, N, O)
        gx = gw = gb = None
        if nb:
            gb = g4.sum(axis=0)
        if nw:
            gw = np.matmul(gp.transpose(0, 2, 1), col).reshape(ctx.w_shape)
        if nx:
            dcol = np.matmul(gp, wm).reshape(oh, ow, n, c, kh, kw).transpose(2, 3, 0, 1, 4, 5)
            dxp = accumulate_windows(dcol, np.zeros(xp_shape, dtype=g.dtype), stride, dilation)
            gx = np.ascontiguousarray(unpad_array(dxp, pads, "zeros")).reshape(ctx.x_shape)
        return gx, gw, gb


def locally_connected2d(input, weight, bias=None, stride=1, padding=0, dilation=1):
    """2-D convolution without weight sharing (Keras 2 LocallyConnected2D), NCHW.

    input (N, C, H, W) or (C, H, W); padding: int, (pH, pW), 'valid' or 'same' (zeros).
    weight (OH, OW, O, C, kH, kW): weight[i, j] is the (O, C, kH, kW) filter bank of
    output position (i, j); bias (O, OH, OW) or None. Output (N, O, OH, OW) with
    out[n, :, i, j] = weight[i, j] (*) window(i, j) + bias[:, i, j], where OH, OW follow
    the conv formula floor((H + 2pH - dH*(kH-1) - 1)/sH) + 1 and must match weight.
    """
    op = "locally_connected2d"
    check_ndim(op, input, (3, 4), "(N, C, H, W) or unbatched (C, H, W)")
    check_float(op, input)
    check_float(op, weight)
    if weight.ndim != 6:
        raise ValueError(f"{op}: expected weight of rank 6 (OH, OW, out_channels, in_channels, "
                         f"kH, kW), received shape {tuple(weight.shape)}")
    if weight.dtype != input.dtype:
        raise TypeError(f"{op}: input dtype {input.dtype} and weight dtype {weight.dtype} differ")
    oh, ow, o, c, kh, kw = weight.shape
    if input.shape[-3] != c:
        raise ValueError(f"{op}: expected input with {c} channels (weight.shape[3]), "
                         f"received shape {tuple(input.shape)}")
    _check_bias(op, bias, (o, oh, ow), input.dtype)
    stride, dilation = ntuple(stride, 2, op, "stride"), ntuple(dilation, 2, op, "dilation")
    pads = normalize_padding(padding, (kh, kw), stride, dilation, op)
    out = _check_out_size(op, tuple(input.shape[-2:]), (kh, kw), stride, pads, dilation)
    if tuple(out) != (oh, ow):
        raise ValueError(f"{op}: the output size for input shape {tuple(input.shape)} is "
                         f"{tuple(out)}, but weight is for output size ({oh}, {ow})")
    return LocallyConnected2d.apply(input, weight, bias, stride=stride, pads=pads,
                                    dilation=dilation)
