"""The cost model of the conv planner: estimated seconds of a conv's forward, input
gradient and weight gradient by each engine, from its flops, the bytes
it gathers or copies, GEMM shape efficiency, per-call overhead and transform work.

The constants were measured once on this kind of machine by ``scripts/calibrate_conv.py``
(it prints this table); they describe the machine (GEMM rate, copy bandwidth, kernel
speeds), not any network. Estimates only rank engines; they are not timings.
"""

from __future__ import annotations

from dataclasses import dataclass

# PYTHONPATH=src python scripts/calibrate_conv.py --rounds 4 (plus earlier rounds), on the
# project's 2-core x86-64 VM (OpenBLAS 0.3.31 Haswell kernels, one BLAS thread), shared by
# other jobs (load 7-14): each constant is its best over 5 rounds of 15 runs each.
CONSTANTS = {
    "gemm_gflops_f4": 53.0,   # float32 GEMM rate, 512^3, one thread
    "gemm_gflops_f8": 20.0,   # float64
    "gemm_half_m": 0.0,       # GEMM efficiency 1 / (1 + hm/M + hn/N + hk/K), fitted over
    "gemm_half_n": 0.0,       # 125 GEMMs with M, N, K in {1, 4, 16, 64, 256}: flops at
    "gemm_half_k": 0.3,       # nearly the full rate plus one call's overhead fit them best
    "call_us": 0.94,          # one NumPy/BLAS call from Python
    "copy_gbs": 19.6,         # contiguous copy bandwidth, GB/s (16 MiB)
    "run_half": 31.5,         # bytes of contiguous run at which a gather runs at half speed
    "transpose_gbs": 1.44,    # NCHW <-> NHWC blocked copy
    "wino_ns_elem": 0.5,      # a Winograd transform (mean of the four), ns per element
    "wino_ns_row": 41.0,      # ... plus ns per (sample, channel, tile row)
    "col2im_ns_elem": 0.43,   # compiled col2im, ns per column element
    "tap_ns_elem": 0.44,      # NumPy strided multiply-add, ns per element per kernel tap
    "dw_ns_elem": 0.11,       # compiled depthwise forward, ns per element per kernel tap
}
CHUNK_BYTES = {"im2col_nhwc": 2 << 20, "im2col_cm": 2 << 20, "winograd": 512 << 10,
               "gemm1x1": 2 << 20, "depthwise": 1 << 20}


@dataclass(frozen=True)
class Geo:
    """The sizes the model needs (2-D; 1-D convs have H = OH = kH = 1)."""

    n: int
    c: int
    h: int
    w: int
    o: int
    kh: int
    kw: int
    oh: int
    ow: int
    groups: int
    stride: tuple
    dilation: tuple
    padded: bool
    item: int

    @property
    def cg(self):
        return self.c // self.groups

    @property
    def og(self):
        return self.o // self.groups

    @property
    def p(self):
        return self.oh * self.ow


def gemm(g: Geo, m: int, n: int, k: int, calls: int = 1) -> float:
    """Seconds of ``calls`` GEMMs (m, k) @ (k, n)."""
    c = CONSTANTS
    if min(m, n, k) < 1:
        return calls * c["call_us"] * 1e-6
    eff = 1.0 / (1.0 + c["gemm_half_m"] / m + c["gemm_half_n"] / n + c["gemm_half_k"] / k)
    rate = c["gemm_gflops_f4" if g.item == 4 else "gemm_gflops_f8"] * 1e9 * eff
    return calls * (2.0 * m * n * k / rate + c["call_us"] * 1e-6)


def copy(nbytes: float, run: float) -> float:
    """Seconds to gather ``nbytes`` read in contiguous runs of ``run`` bytes."""
    return nbytes / (CONSTANTS["copy_gbs"] * 1e9) * (1.0 + CONSTANTS["run_half"] / max(run, 1))


def transpose(nbytes: float) -> float:
    return nbytes / (CONSTANTS["transpose_gbs"] * 1e9)


def block(nbytes: float, run: int) -> float:
    """Seconds to swap the two outer axes of (m, C, run) data (runs of ``run`` elements)."""
    return copy(nbytes, run * 4)


def calls(k: int) -> float:
    return k * CONSTANTS["call_us"] * 1e-6


def im2col_nhwc(g: Geo, per_sample: bool, input_grad: str) -> tuple:
    """(forward, input grad, weight grad) seconds with NHWC columns."""
    k = g.kh * g.kw * g.cg
    cols = g.n * g.p * g.kh * g.kw * g.c * g.item
    run = g.cg * g.item * (g.kw if g.dilation[1] == 1 else 1)
    gather = transpose(g.n * (g.h + 2) * (g.w + 2) * g.c * g.item) + copy(cols, run)
    g_copy = transpose(g.n * g.o * g.p * g.item)
    if per_sample:
        fwd = gather + gemm(g, g.og, g.p, k, g.n * g.groups)
    else:
        fwd = gather + gemm(g, g.n * g.p, g.og, k, g.groups) + g_copy
    wgrad = copy(cols, run) + block(g.n * g.o * g.p * g.item, g.p) + \
        gemm(g, g.og, k, g.n * g.p, g.groups)
    if input_grad == "corr":
        rows = g.n * g.h * g.w
        igrad = g_copy + copy(rows * g.kh * g.kw * g.o * g.item, g.og * g.kw * g.item)
        igrad += gemm(g, rows, g.cg, g.kh * g.kw * g.og, g.groups) + transpose(rows * g.c * g.item)
    elif input_grad == "numba":
        igrad = gemm(g, g.p, k, g.o, g.n) + g.n * g.p * k * CONSTANTS["col2im_ns_elem"] * 1e-9
        igrad += transpose(g.n * g.c * g.h * g.w * g.item)
    else:
        igrad = g_copy + gemm(g, k, g.n * g.p, g.og, g.groups)
        igrad += g.kh * g.kw * g.n * g.c * g.p * CONSTANTS["tap_ns_elem"] * 1e-9
    return fwd, igrad, wgrad


def im2col_cm(g: Geo, input_grad: str) -> tuple:
    """(forward, input grad, weight grad) seconds with channel-major columns."""
    k = g.kh * g.kw * g.cg
    cols = g.n * g.p * g.kh * g.kw * g.c * g.item
    run = g.ow * g.item if g.stride[1] == 1 else g.item
    gather = copy(cols, run) + (copy(g.n * g.c * g.h * g.w * g.item, g.w * g.item)
                                if g.padded else 0.0)
    fwd = gather + gemm(g, g.og, g.p, k, g.n * g.groups)
    wgrad = gather + block(g.n * g.o * g.p * g.item, g.p) + gemm(g, g.og, k, g.n * g.p, g.groups)
    per = "col2im_ns_elem" if input_grad == "numba" else "tap_ns_elem"
    igrad = gemm(g, k, g.p, g.og, g.n * g.groups)
    return fwd, igrad + g.n * g.c * g.kh * g.kw * g.p * CONSTANTS[per] * 1e-9, wgrad


def winograd(g: Geo, chunk_bytes: int) -> tuple:
    """(forward, input grad, weight grad) seconds by F(2x2, 3x3)."""
    th, tw = (g.oh + 1) // 2, (g.ow + 1) // 2
    tiles = g.n * th * tw
    per_sample = 16 * max(g.c, g.o) * th * tw * g.item
    samples = max(1, min(g.n, chunk_bytes // max(per_sample, 1)))
    chunks = -(-g.n // samples)
    t_chunk = samples * th * tw
    c = CONSTANTS

    def transform(ch):
        return (16 * ch * tiles * c["wino_ns_elem"] + g.n * ch * th * c["wino_ns_row"]) * 1e-9

    sets = gemm(g, max(g.o, g.c), t_chunk, min(g.o, g.c), 16 * chunks)
    weights = transpose(g.o * g.c * 25 * g.item)  # a K=9 GEMM: bound by memory, strided
    back = transform(g.o) / 2  # the output adjoint, shared by both gradients
    return (transform(g.c) + sets + transform(g.o) + weights,
            back + sets + transform(g.c) + weights, back + transform(g.c) + sets + weights)


def gemm1x1(g: Geo, per_sample: bool) -> tuple:
    """(forward, input grad, weight grad) seconds of a 1x1 conv as plain GEMMs."""
    x_bytes, g_bytes = g.n * g.c * g.p * g.item, g.n * g.o * g.p * g.item
    strided = g.stride != (1, 1)
    scatter = copy(g.n * g.c * g.h * g.w * g.item, 4096) if strided else 0.0
    x_cols = block(x_bytes, g.p) if not strided else copy(x_bytes, g.item)
    wgrad = gemm(g, g.og, g.cg, g.n * g.p, g.groups) + x_cols + block(g_bytes, g.p)
    if per_sample:
        return ((x_cols if strided else 0.0) + gemm(g, g.og, g.p, g.cg, g.n * g.groups),
                gemm(g, g.cg, g.p, g.og, g.n * g.groups) + scatter, wgrad)
    return (x_cols + block(g_bytes, g.p) + gemm(g, g.og, g.n * g.p, g.cg, g.groups),
            2 * block(g_bytes, g.p) + gemm(g, g.cg, g.n * g.p, g.og, g.groups) + scatter
            + block(x_bytes, g.p), wgrad)


def depthwise(g: Geo, compiled: bool) -> tuple:
    """(forward, input grad, weight grad) seconds of the direct depthwise passes."""
    per = CONSTANTS["dw_ns_elem" if compiled else "tap_ns_elem"]
    chunks = max(1, g.n * g.c * g.h * g.w * g.item * 4 // CHUNK_BYTES["depthwise"])
    one = g.kh * g.kw * g.n * g.o * g.p * per * 1e-9 + calls(
        chunks * (2 if compiled else 2 * g.kh * g.kw))
    return one, one, one
