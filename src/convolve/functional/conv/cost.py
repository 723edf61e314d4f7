"""The cost model of the conv planner: estimated seconds of one training step of a conv
(forward, input gradient and weight gradient) by each engine, from its flops, the bytes
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


def calls(k: int) -> float:
    return k * CONSTANTS["call_us"] * 1e-6


def im2col_nhwc(g: Geo, per_sample: bool, input_grad: str) -> float:
    """Forward + both gradients with NHWC columns."""
    k = g.kh * g.kw * g.cg
    cols = g.n * g.p * g.kh * g.kw * g.c * g.item
    run = g.cg * g.item * (g.kw if g.dilation[1] == 1 else 1)
    t = transpose(g.n * (g.h + 2) * (g.w + 2) * g.c * g.item) + 2 * copy(cols, run)
    if per_sample:
        t += gemm(g, g.og, g.p, k, g.n * g.groups)
    else:
        t += gemm(g, g.n * g.p, g.og, k, g.groups) + transpose(g.n * g.o * g.p * g.item)
    t += gemm(g, g.og, k, g.p, g.n * g.groups)  # weight gradient
    if input_grad == "corr":
        rows = g.n * g.h * g.w
        t += transpose(g.n * g.o * g.p * g.item) + copy(rows * g.kh * g.kw * g.o * g.item,
                                                        g.og * g.kw * g.item)
        t += gemm(g, rows, g.cg, g.kh * g.kw * g.og, g.groups) + transpose(rows * g.c * g.item)
    elif input_grad == "numba":
        t += gemm(g, g.p, k, g.o, g.n) + g.n * g.p * k * CONSTANTS["col2im_ns_elem"] * 1e-9
        t += transpose(g.n * g.c * g.h * g.w * g.item)
    else:
        t += transpose(g.n * g.o * g.p * g.item) + gemm(g, k, g.n * g.p, g.og, g.groups)
        t += g.kh * g.kw * g.n * g.c * g.p * CONSTANTS["tap_ns_elem"] * 1e-9
    return t


def im2col_cm(g: Geo, input_grad: str) -> float:
    """Forward + both gradients with channel-major columns (per-sample GEMMs)."""
    k = g.kh * g.kw * g.cg
    cols = g.n * g.p * g.kh * g.kw * g.c * g.item
    run = g.ow * g.item if g.stride[1] == 1 else g.item
    t = 2 * copy(cols, run) + (2 * copy(g.n * g.c * g.h * g.w * g.item, g.w * g.item)
                               if g.padded else 0.0)
    t += gemm(g, g.og, g.p, k, g.n * g.groups) + gemm(g, g.og, k, g.p, g.n * g.groups)
    t += gemm(g, k, g.p, g.og, g.n * g.groups)
    per = "col2im_ns_elem" if input_grad == "numba" else "tap_ns_elem"
    return t + g.n * g.c * g.kh * g.kw * g.p * CONSTANTS[per] * 1e-9


def winograd(g: Geo, chunk_bytes: int) -> float:
    """Forward + both gradients by F(2x2, 3x3): four transforms, three GEMM sets."""
    th, tw = (g.oh + 1) // 2, (g.ow + 1) // 2
    tiles = g.n * th * tw
    per_sample = 16 * max(g.c, g.o) * th * tw * g.item
    samples = max(1, min(g.n, chunk_bytes // max(per_sample, 1)))
    chunks = -(-g.n // samples)
    t_chunk = samples * th * tw
    c = CONSTANTS

    def transform(ch):
        return (16 * ch * tiles * c["wino_ns_elem"] + g.n * ch * th * c["wino_ns_row"]) * 1e-9

    t = 2 * transform(g.c) + transform(g.o) * 2 + transform(g.c)
    t += 3 * gemm(g, max(g.o, g.c), t_chunk, min(g.o, g.c), 16 * chunks)
    return t + gemm(g, 16, g.o * g.c, 9, 2)


def gemm1x1(g: Geo, per_sample: bool) -> float:
    """Forward + both gradients of a 1x1 conv as plain GEMMs."""
    x_bytes, g_bytes = g.n * g.c * g.p * g.item, g.n * g.o * g.p * g.item
    strided = g.stride != (1, 1)
    if per_sample:
        t = 3 * gemm(g, g.og, g.p, g.cg, g.n * g.groups)
        t += 2 * copy(x_bytes, g.item) if strided else 0.0
    else:
        t = 3 * gemm(g, g.og, g.n * g.p, g.cg, g.groups)
        t += 2 * transpose(x_bytes) + 3 * transpose(g_bytes)
    return t + (copy(g.n * g.c * g.h * g.w * g.item, 4096) if strided else 0.0)


def depthwise(g: Geo, compiled: bool) -> float:
    """Forward + both gradients of the direct depthwise passes (3 passes over the taps)."""
    per = CONSTANTS["dw_ns_elem" if compiled else "tap_ns_elem"]
    t = 3 * g.kh * g.kw * g.n * g.o * g.p * per * 1e-9
    chunks = max(1, g.n * g.c * g.h * g.w * g.item * 4 // CHUNK_BYTES["depthwise"])
    return t + calls(chunks * (4 if compiled else 4 * g.kh * g.kw))
