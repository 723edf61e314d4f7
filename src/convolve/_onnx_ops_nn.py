"""ONNX operators for the importer: convolution, pooling, Gemm/MatMul, normalisation,
activations, softmax, Pad, Clip and the losses, on ``convolve.functional``.

Asymmetric or oversized padding (TensorFlow "SAME" models) becomes an explicit pad
before the op; 1-D and 2-D convolutions and pools are supported (3-D raise a
ValueError). See :mod:`convolve._onnx_ops` for the conventions.
"""

from __future__ import annotations

import math

import numpy as np

from . import functional as F
from ._onnx_ops import OPS, arr, as_tensor, axes_of, check_size, ints, op
from .tensor import Tensor

PAD_MODES = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


# -------------------------------------------------------------------------- geometry
def _spatial(c, x, w_shape=None):
    """(kernel, strides, dilations, [(lo, hi)]) from the attributes, auto_pad resolved."""
    sizes = arr(x).shape[2:]
    nd = len(sizes)
    k = list(c.a("kernel_shape") or w_shape[2:])
    s = list(c.a("strides") or [1] * nd)
    d = list(c.a("dilations") or [1] * nd)
    pads = list(c.a("pads") or [0] * (2 * nd))
    auto = c.a("auto_pad", "NOTSET")
    if auto in ("SAME_UPPER", "SAME_LOWER"):
        tot = [max((math.ceil(n / st) - 1) * st + (kk - 1) * dd + 1 - n, 0)
               for n, st, kk, dd in zip(sizes, s, k, d)]
        small = [t // 2 for t in tot]
        lo = small if auto == "SAME_UPPER" else [t - m for t, m in zip(tot, small)]
        pads = lo + [t - m for t, m in zip(tot, lo)]
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    if nd not in (1, 2, 3) or nd == 3 and c.node.op_type not in ("Conv", "MaxPool"):
        raise ValueError(f"{c.node.op_type}: only 1-D and 2-D spatial inputs (and 3-D Conv "
                         f"and MaxPool) are supported, received input of shape "
                         f"{arr(x).shape}")
    return k, s, d, list(zip(pads[:nd], pads[nd:]))


def _pad_spatial(x, pairs, value=0.0):
    """F.pad of the trailing dims by [(lo, hi)] (F.pad wants last dim first)."""
    flat = [p for lo_hi in reversed(pairs) for p in lo_hi]
    nd = len(pairs)
    check_size(x.shape[:-nd] + tuple(n + lo + hi for n, (lo, hi) in zip(x.shape[-nd:], pairs)),
               "padding")
    return F.pad(x, flat, value=value) if any(flat) else x


def _symmetric(pairs, k, limit=True):
    return all(lo == hi and (not limit or lo <= kk // 2) for (lo, hi), kk in zip(pairs, k))


# ------------------------------------------------------------------------- conv, linear
@op("Conv")
def _conv(c, x, w, b=None):
    x, w = as_tensor(x), as_tensor(w)
    k, s, d, pairs = _spatial(c, x, w.shape)
    if len(k) == 3:
        from .functional.conv_transpose import _conv3d

        return _conv3d(x, w, None if b is None else as_tensor(b), tuple(s), tuple(pairs),
                       tuple(d), c.a("group", 1))
    if not _symmetric(pairs, k, limit=False):
        x, pairs = _pad_spatial(x, pairs), [(0, 0)] * len(k)
    conv = F.conv2d if len(k) == 2 else F.conv1d
    return conv(x, w, None if b is None else as_tensor(b), stride=tuple(s),
                padding=tuple(lo for lo, _ in pairs), dilation=tuple(d), groups=c.a("group", 1))


@op("ConvTranspose")
def _conv_transpose(c, x, w, b=None):
    """ONNX pads (or output_shape / auto_pad, split SAME_UPPER-style) -> conv_transpose_nd."""
    from .functional.conv_transpose import conv_transpose_nd

    x, w = as_tensor(x), as_tensor(w)
    sizes, nd = x.shape[2:], x.ndim - 2
    if nd not in (1, 2, 3):
        raise ValueError(f"ConvTranspose: only 1-D, 2-D and 3-D inputs are supported, "
                         f"received input of shape {x.shape}")
    k = list(c.a("kernel_shape") or w.shape[2:])
    s, d = list(c.a("strides") or [1] * nd), list(c.a("dilations") or [1] * nd)
    op = list(c.a("output_padding") or [0] * nd)
    pads = list(c.a("pads") or [0] * (2 * nd))
    auto, target = c.a("auto_pad", "NOTSET"), c.a("output_shape")
    if target is not None or auto in ("SAME_UPPER", "SAME_LOWER"):
        target = list(target)[-nd:] if target is not None else [n * st for n, st in
                                                                  zip(sizes, s)]
        tot = [st * (n - 1) + o + (kk - 1) * dd + 1 - t
               for st, n, o, kk, dd, t in zip(s, sizes, op, k, d, target)]
        half = [int(t / 2) for t in tot]  # toward zero: a negative total pads the end
        lo = [t - h for t, h in zip(tot, half)] if auto == "SAME_LOWER" else half
        pads = lo + [t - m for t, m in zip(tot, lo)]
    elif auto == "VALID":
        pads = [0] * (2 * nd)
    pairs = tuple(zip(pads[:nd], pads[nd:]))
    check_size((*x.shape[:2], *((n - 1) * st + 1 + 2 * (kk - 1) * dd + o
                                for n, st, kk, dd, o in zip(sizes, s, k, d, op))),
               "ConvTranspose")
    return conv_transpose_nd("ConvTranspose", nd, x, w, None if b is None else as_tensor(b),
                             s, pairs, op, d, c.a("group", 1))


@op("MatMul")
def _matmul(c, a, b):
    return F.matmul(as_tensor(a), as_tensor(b))


@op("Gemm")
def _gemm(c, a, b, bias=None):
    a, b = as_tensor(a), as_tensor(b)
    a = F.transpose(a, 0, 1) if c.a("transA", 0) else a
    b = F.transpose(b, 0, 1) if c.a("transB", 0) else b
    y = F.matmul(a, b)
    alpha, beta = c.a("alpha", 1.0), c.a("beta", 1.0)
    y = y if alpha == 1.0 else F.mul(y, alpha)
    if bias is None:
        return y
    bias = as_tensor(bias, y)
    return F.add(y, bias if beta == 1.0 else F.mul(bias, beta))


# ------------------------------------------------------------------------------ pooling
@op("MaxPool")
def _max_pool(c, x):
    if len(c.node.outputs) > 1 and c.node.outputs[1]:
        raise ValueError("MaxPool: the Indices output is not supported")
    x = as_tensor(x)
    k, s, d, pairs = _spatial(c, x)
    if not _symmetric(pairs, k):
        x, pairs = _pad_spatial(x, pairs, -np.inf), [(0, 0)] * len(k)
    pool = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[len(k)]
    return pool(x, tuple(k), tuple(s), tuple(lo for lo, _ in pairs), tuple(d),
                ceil_mode=bool(c.a("ceil_mode", 0)))


def _avg(x, k, s, pairs, ceil, include):
    pool = F.avg_pool2d if len(k) == 2 else F.avg_pool1d
    if _symmetric(pairs, k):
        return pool(x, tuple(k), tuple(s), tuple(lo for lo, _ in pairs), ceil_mode=ceil,
                    count_include_pad=include)
    y = pool(_pad_spatial(x, pairs), tuple(k), tuple(s), 0, ceil_mode=ceil)
    if include:
        return y
    ones = Tensor(np.ones((1, 1, *x.shape[2:]), dtype=x.dtype))
    count = pool(_pad_spatial(ones, pairs), tuple(k), tuple(s), 0, ceil_mode=ceil)
    return F.div(y, count.data)


@op("AveragePool")
def _avg_pool(c, x):
    x = as_tensor(x)
    k, s, d, pairs = _spatial(c, x)
    if any(v != 1 for v in d):
        raise ValueError(f"AveragePool: dilations {d} are not supported")
    return _avg(x, k, s, pairs, bool(c.a("ceil_mode", 0)), bool(c.a("count_include_pad", 0)))


@op("LpPool")
def _lp_pool(c, x):
    """(sum of |x|^p over each window)^(1/p) = (k * avg_pool(|x|^p, zero padding))^(1/p)."""
    x = as_tensor(x)
    k, s, d, pairs = _spatial(c, x)
    if any(v != 1 for v in d):
        raise ValueError(f"LpPool: dilations {d} are not supported")
    p = c.a("p", 2)
    xp = F.mul(x, x) if p == 2 else F.pow(F.abs(x), float(p))
    total = F.mul(_avg(xp, k, s, pairs, bool(c.a("ceil_mode", 0)), True), float(np.prod(k)))
    return F.sqrt(total) if p == 2 else F.pow(total, 1.0 / p)


@op("GlobalAveragePool", "GlobalMaxPool")
def _global_pool(c, x):
    x = as_tensor(x)
    dims = tuple(range(2, x.ndim))
    fn = F.mean if c.node.op_type == "GlobalAveragePool" else F.amax
    return fn(x, dim=dims, keepdim=True)


# ------------------------------------------------------------------------ normalisation
@op("BatchNormalization")
def _batch_norm(c, x, scale, bias, mean, var):
    if c.a("training_mode", 0) or len([o for o in c.node.outputs if o]) > 1:
        raise ValueError("BatchNormalization: training_mode outputs (running statistics as "
                         "graph outputs) are not supported; use module.train()")
    x = as_tensor(x)
    running = [m.data if isinstance(m, Tensor) else np.asarray(m) for m in (mean, var)]
    return F.batch_norm(x, running[0], running[1], as_tensor(scale, x), as_tensor(bias, x),
                        training=c.training, momentum=1.0 - c.a("momentum", 0.9),
                        eps=c.a("epsilon", 1e-5))


@op("Dropout")
def _dropout(c, x, ratio=None, training_mode=None):
    p = float(arr(ratio)) if ratio is not None else c.a("ratio", 0.5)
    train = bool(arr(training_mode)) if training_mode is not None else c.training
    if train and p > 0:
        if len(c.node.outputs) > 1 and c.node.outputs[1]:
            raise ValueError("Dropout: the mask output is not supported in training")
        return F.dropout(as_tensor(x), p=p, training=True)
    return x, np.ones(arr(x).shape, dtype=bool)


# -------------------------------------------------------------------------- activations
def _neg_part(x):
    return F.neg(F.relu(F.neg(x)))  # min(x, 0)


def _elu(x, alpha):
    return F.add(F.relu(x), F.mul(F.sub(F.exp(_neg_part(x)), 1.0), alpha))


OPS.update(
    Elu=lambda c, x: _elu(as_tensor(x), c.a("alpha", 1.0)),
    Selu=lambda c, x: F.mul(_elu(as_tensor(x), c.a("alpha", 1.6732632423543772)),
                            c.a("gamma", 1.0507009873554805)),
    Celu=lambda c, x: F.add(F.relu(x), F.mul(F.sub(F.exp(F.div(_neg_part(x),
                                                                c.a("alpha", 1.0))), 1.0),
                                             c.a("alpha", 1.0))),
    LeakyRelu=lambda c, x: F.leaky_relu(as_tensor(x), c.a("alpha", 0.01)),
    Softsign=lambda c, x: F.div(x, F.add(F.abs(x), 1.0)),
    Gelu=lambda c, x: F.gelu(as_tensor(x), c.a("approximate", "none")),
)


@op("Softplus")
def _softplus(c, x):
    return F.add(F.relu(x), F.log(F.add(F.exp(F.neg(F.abs(x))), 1.0)))


def _hard_sigmoid(x, alpha, beta):
    return F.clip(F.add(F.mul(x, alpha), beta), 0.0, 1.0)


@op("HardSigmoid")
def _hard_sigmoid_op(c, x):
    return _hard_sigmoid(as_tensor(x), c.a("alpha", 0.2), c.a("beta", 0.5))


@op("HardSwish")
def _hard_swish(c, x):
    return F.mul(x, _hard_sigmoid(as_tensor(x), 1 / 6, 0.5))


@op("ThresholdedRelu")
def _thresholded_relu(c, x):
    return F.mul(x, (arr(x) > c.a("alpha", 1.0)).astype(arr(x).dtype))


@op("PRelu")
def _prelu(c, x, slope):
    x = as_tensor(x)
    return F.sub(F.relu(x), F.mul(F.relu(F.neg(x)), as_tensor(slope, x)))


@op("Clip")
def _clip(c, x, lo=None, hi=None):
    lo = c.a("min") if lo is None else arr(lo).item()
    hi = c.a("max") if hi is None else arr(hi).item()
    if lo is None and hi is None:
        return x
    if not isinstance(x, Tensor):
        return np.clip(x, lo, hi)
    return F.clip(x, lo, hi)


def _softmax(fn):
    def run(c, x):
        x = as_tensor(x)
        if c.opset >= 13:
            return fn(x, dim=c.a("axis", -1))
        axis = c.a("axis", 1) % x.ndim  # old opsets: coerce to 2-D at axis
        flat = F.reshape(x, (int(np.prod(x.shape[:axis])), -1))
        return F.reshape(fn(flat, dim=1), x.shape)
    return run


OPS.update(Softmax=_softmax(F.softmax), LogSoftmax=_softmax(F.log_softmax))


# -------------------------------------------------------------------------------- Pad
@op("Pad")
def _pad(c, x, pads=None, value=None, axes=None):
    """ONNX Pad -> F.pad (PyTorch's order: last dim first); negative constant pads crop."""
    nd = arr(x).ndim
    pads = ints(pads) if pads is not None else list(c.a("pads"))
    ax = axes_of(c, axes) or list(range(nd))
    full = [[0, 0] for _ in range(nd)]
    for i, a in enumerate(ax):
        full[a % nd] = [pads[i], pads[i + len(ax)]]
    mode = c.a("mode", "constant")
    if mode not in PAD_MODES:
        raise ValueError(f"Pad: mode {mode!r} is not supported")
    check_size([n + lo + hi for n, (lo, hi) in zip(arr(x).shape, full)], "Pad")
    fill = float(arr(value).reshape(-1)[0]) if value is not None and arr(value).size \
        else c.a("value", 0.0)
    if not isinstance(x, Tensor):
        if any(p < 0 for pair in full for p in pair):
            raise ValueError(f"Pad: negative pads of integer tensors are not supported, "
                             f"received {pads}")
        np_mode = {"edge": "edge", "reflect": "reflect", "wrap": "wrap"}.get(mode, "constant")
        kw = {"constant_values": fill} if np_mode == "constant" else {}
        return np.pad(x, full, mode=np_mode, **kw)
    flat = [p for pair in reversed(full) for p in pair]
    torch_mode = "constant" if mode == "constant" else PAD_MODES[mode]
    return F.pad(x, flat, mode=torch_mode, value=fill)


# ------------------------------------------------------------------------------- losses
def _loss_args(c, weight, x):
    kw = {"reduction": c.a("reduction", "mean")}
    if c.a("ignore_index") is not None:
        kw["ignore_index"] = int(c.a("ignore_index"))
    w = None if weight is None else as_tensor(weight, x)
    return w, kw


@op("NegativeLogLikelihoodLoss")
def _nll(c, x, target, weight=None):
    x = as_tensor(x)
    w, kw = _loss_args(c, weight, x)
    return F.nll_loss(x, arr(target).astype(np.int64), w, **kw)


@op("SoftmaxCrossEntropyLoss")
def _sce(c, x, target, weight=None):
    x = as_tensor(x)
    w, kw = _loss_args(c, weight, x)
    logp = F.log_softmax(x, dim=1)
    loss = F.nll_loss(logp, arr(target).astype(np.int64), w, **kw)
    return loss, logp
