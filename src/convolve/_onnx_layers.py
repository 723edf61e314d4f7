"""Per-layer ONNX translations used by :mod:`convolve.onnx`.

A translation is ``fn(g, layer, x, in_shape, out_shape) -> name``: it appends nodes to the
:class:`~convolve.onnx.GraphBuilder` ``g`` that compute the layer on tensor ``x`` and returns
the name of the result. Shapes are the layer's real input/output shapes for a batch of 1
(the exported graph's batch dim is dynamic). Everything is built in inference mode.
"""

from __future__ import annotations

import math

import numpy as np

from .functional.conv import normalize_padding

_TRANSLATORS: dict = {}

# padding_mode -> (ONNX Pad mode, first opset that has it)
PAD_MODES = {"zeros": ("constant", 11), "reflect": ("reflect", 11),
             "replicate": ("edge", 11), "circular": ("wrap", 19)}


def translates(*names):
    """Register a translation for the convolve.nn layer classes called ``names``."""
    def register(fn):
        for name in names:
            _TRANSLATORS[name] = fn
        return fn
    return register


def translator_for(layer):
    """The translation for ``layer`` (exact convolve.nn type only), or None."""
    cls = type(layer)
    if not cls.__module__.startswith("convolve."):
        return None
    return _TRANSLATORS.get(cls.__name__)


def _tuple(value, n: int) -> tuple:
    return tuple(int(v) for v in value) if isinstance(value, (tuple, list)) else (int(value),) * n


def pad(g, x, rank: int, lo, hi, mode: str = "zeros", value: float | None = None) -> str:
    """Pad the trailing len(lo) dims of a rank-``rank`` tensor by lo/hi with a Pad node."""
    if mode not in PAD_MODES:
        g.fail(f"padding_mode={mode!r} cannot be exported")
    onnx_mode, since = PAD_MODES[mode]
    g.require_opset(since, f"padding_mode={mode!r} (ONNX Pad mode {onnx_mode!r})")
    lead = [0] * (rank - len(lo))
    inputs = [x, g.ints(lead + list(lo) + lead + list(hi), "pads")]
    if value is not None:
        inputs.append(g.const(np.array(value), "pad_value"))
    return g.op("Pad", inputs, mode=onnx_mode)


# ------------------------------------------------------------------------ linear, shape
@translates("Linear")
def _linear(g, layer, x, in_shape, out_shape):
    w = layer.weight.data
    b = None if layer.bias is None else g.const(layer.bias.data, "bias")
    if len(in_shape) == 2:
        return g.op("Gemm", [x, g.const(w, "weight")] + ([b] if b else []), transB=1)
    y = g.op("MatMul", [x, g.const(w.T, "weight_t")])
    return g.op("Add", [y, b]) if b else y


@translates("Flatten")
def _flatten(g, layer, x, in_shape, out_shape):
    rank = len(in_shape)
    start, end = layer.start_dim % rank, layer.end_dim % rank
    if start >= end:
        return g.op("Identity", [x])
    if start == 0:
        g.fail("start_dim=0 merges the batch dim, which the graph keeps dynamic")
    if end == rank - 1:
        return g.op("Flatten", [x], axis=start) if start == 1 else \
            g.op("Reshape", [x, g.ints([0] * start + [-1])])
    target = [0, *out_shape[1:]]  # 0: copy the (dynamic) batch dim
    return g.op("Reshape", [x, g.ints(target)])


@translates("Identity", "Dropout", "Dropout1d", "Dropout2d")
def _identity(g, layer, x, in_shape, out_shape):
    return g.op("Identity", [x])


# -------------------------------------------------------------------------- activations
@translates("ReLU")
def _relu(g, layer, x, in_shape, out_shape):
    return g.op("Relu", [x])


@translates("LeakyReLU")
def _leaky_relu(g, layer, x, in_shape, out_shape):
    return g.op("LeakyRelu", [x], alpha=float(layer.negative_slope))


@translates("Sigmoid")
def _sigmoid(g, layer, x, in_shape, out_shape):
    return g.op("Sigmoid", [x])


@translates("Tanh")
def _tanh(g, layer, x, in_shape, out_shape):
    return g.op("Tanh", [x])


@translates("GELU")
def _gelu(g, layer, x, in_shape, out_shape):
    """Gelu (opset 20+), else 0.5 x (1 + erf(x / sqrt 2)) or the tanh approximation."""
    approximate = getattr(layer, "approximate", "none")
    if g.opset >= 20:
        return g.op("Gelu", [x], approximate=approximate)
    if approximate == "tanh":
        cube = g.op("Mul", [x, g.op("Mul", [x, x])])
        inner = g.op("Add", [x, g.op("Mul", [cube, g.const(np.array(0.044715))])])
        t = g.op("Tanh", [g.op("Mul", [inner, g.const(np.array(math.sqrt(2 / math.pi)))])])
    else:
        t = g.op("Erf", [g.op("Mul", [x, g.const(np.array(1 / math.sqrt(2)))])])
    half_x = g.op("Mul", [x, g.const(np.array(0.5))])
    return g.op("Mul", [half_x, g.op("Add", [t, g.const(np.array(1.0))])])


def _softmax_axis(layer, rank: int) -> int:
    """PyTorch's dim, with its legacy choice for dim=None (0 for 0-, 1- and 3-D, else 1)."""
    if layer.dim is None:
        return 0 if rank in (0, 1, 3) else 1
    return int(layer.dim)


@translates("Softmax")
def _softmax(g, layer, x, in_shape, out_shape):
    return g.op("Softmax", [x], axis=_softmax_axis(layer, len(in_shape)))


@translates("LogSoftmax")
def _log_softmax(g, layer, x, in_shape, out_shape):
    return g.op("LogSoftmax", [x], axis=_softmax_axis(layer, len(in_shape)))


# --------------------------------------------------------------------------- convolutions
@translates("Conv1d", "Conv2d")
def _conv(g, layer, x, in_shape, out_shape):
    """Conv with explicit pads; non-zero padding modes become a Pad node before it."""
    nd = len(layer.kernel_size)
    k, s, d = _tuple(layer.kernel_size, nd), _tuple(layer.stride, nd), _tuple(layer.dilation, nd)
    pads = normalize_padding(layer.padding, k, s, d, type(layer).__name__)
    lo, hi = [p[0] for p in pads], [p[1] for p in pads]
    mode = getattr(layer, "padding_mode", "zeros")
    if mode != "zeros" and any(lo + hi):
        x = pad(g, x, nd + 2, lo, hi, mode)
        lo, hi = [0] * nd, [0] * nd
    inputs = [x, g.const(layer.weight.data, "weight")]
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.data, "bias"))
    return g.op("Conv", inputs, kernel_shape=k, strides=s, dilations=d, pads=lo + hi,
                group=int(layer.groups))


@translates("LocallyConnected2d")
def _locally_connected(g, layer, x, in_shape, out_shape):
    """Unfold with a fixed one-hot grouped Conv, then one batched MatMul per output position.

    patches (N, C*kH*kW, OH, OW) -> (OH*OW, N, C*kH*kW) @ W (OH*OW, C*kH*kW, O) -> (N, O, OH, OW).
    """
    w = layer.weight.data  # (OH, OW, O, C, kH, kW)
    oh, ow, o, c, kh, kw = w.shape
    s, d = _tuple(layer.stride, 2), _tuple(layer.dilation, 2)
    pads = normalize_padding(layer.padding, (kh, kw), s, d, "LocallyConnected2d")
    eye = np.eye(kh * kw, dtype=np.float32).reshape(kh * kw, 1, kh, kw)
    patches = g.op("Conv", [x, g.const(np.tile(eye, (c, 1, 1, 1)), "unfold_kernel")],
                   kernel_shape=(kh, kw), strides=s, dilations=d, group=c,
                   pads=[p[0] for p in pads] + [p[1] for p in pads])
    cols = g.op("Reshape", [patches, g.ints([0, c * kh * kw, oh * ow])])
    cols = g.op("Transpose", [cols], perm=[2, 0, 1])
    wm = w.reshape(oh * ow, o, c * kh * kw).transpose(0, 2, 1)
    y = g.op("MatMul", [cols, g.const(wm, "weight")])  # (P, N, O)
    y = g.op("Transpose", [y], perm=[1, 2, 0])
    y = g.op("Reshape", [y, g.ints([0, o, oh, ow])])
    return g.op("Add", [y, g.const(layer.bias.data, "bias")]) if layer.bias is not None else y


# ------------------------------------------------------------------------------- pooling
def _pool_pads(layer, nd: int, in_shape, out_shape, k, s, d):
    """(lo, hi) pads for a floor-mode ONNX pool giving PyTorch's output size.

    ceil_mode is expressed by widening the high-side padding just enough for the extra
    window (PyTorch never starts a window in the right padding, so each holds input).
    """
    lo = list(_tuple(layer.padding, nd))
    hi = [max(p, (o - 1) * st + dd * (kk - 1) + 1 - n - p)
          for p, o, st, dd, kk, n in zip(lo, out_shape[2:], s, d, k, in_shape[2:])]
    return lo, hi


def _pool_args(layer, nd: int):
    k = _tuple(layer.kernel_size, nd)
    stride = layer.stride
    s = k if stride is None or (isinstance(stride, (tuple, list)) and not stride) \
        else _tuple(stride, nd)
    return k, s, _tuple(getattr(layer, "dilation", 1), nd)


@translates("MaxPool1d", "MaxPool2d")
def _max_pool(g, layer, x, in_shape, out_shape):
    nd = len(in_shape) - 2
    if getattr(layer, "return_indices", False):
        g.fail("return_indices=True cannot be exported")
    k, s, d = _pool_args(layer, nd)
    lo, hi = _pool_pads(layer, nd, in_shape, out_shape, k, s, d)
    if any(p >= kk for p, kk in zip(lo + hi, k + k)):  # ONNX Runtime wants pads < kernel
        x = pad(g, x, nd + 2, lo, hi, value=-np.inf)
        lo, hi = [0] * nd, [0] * nd
    return g.op("MaxPool", [x], kernel_shape=k, strides=s, pads=lo + hi,
                dilations=d if any(v != 1 for v in d) else None)


@translates("AvgPool1d", "AvgPool2d")
def _avg_pool(g, layer, x, in_shape, out_shape):
    """count_include_pad: zero-pad explicitly, so the padding counts and the ceil overhang not."""
    nd = len(in_shape) - 2
    if getattr(layer, "divisor_override", None) is not None:
        g.fail(f"divisor_override={layer.divisor_override} cannot be exported")
    k, s, d = _pool_args(layer, nd)
    lo, hi = _pool_pads(layer, nd, in_shape, out_shape, k, s, d)
    if layer.count_include_pad and any(lo):
        x = pad(g, x, nd + 2, lo, lo)
        lo, hi = [0] * nd, [h - p for h, p in zip(hi, lo)]
    return g.op("AveragePool", [x], kernel_shape=k, strides=s, pads=lo + hi,
                count_include_pad=0)


@translates("AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveMaxPool1d", "AdaptiveMaxPool2d")
def _adaptive_pool(g, layer, x, in_shape, out_shape):
    """Global pooling for output size 1, a plain pool when the output size divides the input."""
    if getattr(layer, "return_indices", False):
        g.fail("return_indices=True cannot be exported")
    kind = "Max" if "Max" in type(layer).__name__ else "Average"
    sizes, outs = in_shape[2:], out_shape[2:]
    if all(o == 1 for o in outs):
        return g.op(f"Global{kind}Pool", [x])
    if any(n % o for n, o in zip(sizes, outs)):
        g.fail(f"output size {tuple(outs)} does not divide the input size {tuple(sizes)}; "
               f"only global or evenly dividing adaptive pooling can be exported")
    k = [n // o for n, o in zip(sizes, outs)]
    return g.op(f"{kind}Pool", [x], kernel_shape=k, strides=k)


# ---------------------------------------------------------------------------- batch norm
@translates("BatchNorm1d", "BatchNorm2d")
def _batch_norm(g, layer, x, in_shape, out_shape):
    """BatchNormalization with the running statistics (inference mode)."""
    if layer.running_mean is None:
        g.fail("track_running_stats=False (batch statistics in eval mode) cannot be exported")
    c = layer.num_features
    weight = np.ones(c) if layer.weight is None else layer.weight.data
    bias = np.zeros(c) if layer.bias is None else layer.bias.data
    inputs = [x, g.const(weight, "scale"), g.const(bias, "bias"),
              g.const(layer.running_mean.data, "mean"), g.const(layer.running_var.data, "var")]
    return g.op("BatchNormalization", inputs, epsilon=float(layer.eps))


@translates("BlurPool2d")
def _blur_pool(g, layer, x, in_shape, out_shape):
    """Pad by ((k-1)//2, k//2) in the layer's mode, then a depthwise Conv with the
    normalised binomial filter (outer product of C(k-1, i) / 2**(k-1)) and the stride."""
    k, s, c = _tuple(layer.kernel_size, 2), _tuple(layer.stride, 2), in_shape[1]
    lo, hi = [(kk - 1) // 2 for kk in k], [kk // 2 for kk in k]
    mode = getattr(layer, "padding_mode", "reflect")
    if mode != "zeros" and any(lo + hi):
        x = pad(g, x, 4, lo, hi, mode)
        lo, hi = [0, 0], [0, 0]
    rows = [np.array([math.comb(n - 1, i) for i in range(n)], dtype=np.float64) / 2.0 ** (n - 1)
            for n in k]
    weight = np.broadcast_to(np.outer(*rows), (c, 1, *k))
    return g.op("Conv", [x, g.const(weight, "blur_kernel")], kernel_shape=k, strides=s,
                pads=lo + hi, group=c)


@translates("ConvTranspose1d", "ConvTranspose2d")
def _conv_transpose(g, layer, x, in_shape, out_shape):
    """ConvTranspose with symmetric pads and output_padding (ONNX's weight layout is PyTorch's)."""
    inputs = [x, g.const(layer.weight.data, "weight")]
    if layer.bias is not None:
        inputs.append(g.const(layer.bias.data, "bias"))
    return g.op("ConvTranspose", inputs, kernel_shape=layer.kernel_size, strides=layer.stride,
                dilations=layer.dilation, pads=list(layer.padding) * 2,
                output_padding=layer.output_padding, group=int(layer.groups))
