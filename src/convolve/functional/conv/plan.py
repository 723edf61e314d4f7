"""The conv planner: one frozen ``ConvPlan`` per convolution, computed by ``plan_conv`` from
(input shape, weight shape, stride, padding, dilation, groups, padding mode, dtype,
threads). It names the engine and its layout, input-gradient method, chunking and thread
count, picked by the cost model of ``cost.py``; every engine and option applicable to the
conv is priced and the cheapest wins.

A plan can be forced: ``F.conv2d(..., plan=...)`` takes a ConvPlan, an engine name or a
dict of fields to fix (the rest are still planned), and the environment variable
``CONVOLVE_CONV_ENGINE`` names an engine to use wherever it applies.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, fields, replace

import numpy as np

from . import cost
from .engines import depthwise, gemm1x1, winograd
from .parallel import blas_thread_count
from .windows import out_hw

ENGINES = ("im2col_nhwc", "im2col_cm", "winograd", "gemm1x1", "depthwise")
ALIASES = {"im2col": ("im2col_nhwc", "im2col_cm")}
INPUT_GRADS = ("corr", "numba", "col2im", "numpy", "")


@dataclass(frozen=True)
class ConvPlan:
    """How one conv runs. Geometry is 2-D (a 1-D conv has H = kH = 1); ``x_shape`` is the
    (N, C, H, W) input and ``w_shape`` the (O, C/groups, kH, kW) weight.

    engine: 'im2col_nhwc' | 'im2col_cm' | 'winograd' | 'gemm1x1' | 'depthwise'.
    per_sample: per-sample GEMMs writing NCHW directly (im2col_nhwc, gemm1x1).
    input_grad: 'corr' | 'numba' | 'col2im' (im2col), 'numba' | 'numpy' (depthwise).
    estimate_ms: the cost model's estimate; alternatives: the other engines' best.
    crop: ((a0, a1), (b0, b1)) when the kernel taps outside these rows/columns only ever
    meet zero padding (e.g. a 3x3 kernel on a 1x1 map): the engine runs the cropped conv
    (see ``effective``) and their weight gradient is zero. () otherwise.
    """

    engine: str
    x_shape: tuple
    w_shape: tuple
    stride: tuple = (1, 1)
    pads: tuple = ((0, 0), (0, 0))
    dilation: tuple = (1, 1)
    groups: int = 1
    mode: str = "zeros"
    dtype: str = "float32"
    threads: int = 1
    chunk_bytes: int = 2 << 20
    per_sample: bool = False
    input_grad: str = ""
    estimate_ms: float = 0.0
    alternatives: tuple = ()
    forced: bool = False
    crop: tuple = ()

    def __repr__(self) -> str:
        (n, c, h, w), (o, _, kh, kw) = self.x_shape, self.w_shape
        opts = [f"per_sample={self.per_sample}" if self.engine in ("im2col_nhwc", "gemm1x1")
                else "", f"input_grad={self.input_grad}" if self.input_grad else "",
                f"taps={self.crop}" if self.crop else ""]
        geo = (f"{n}x{c}x{h}x{w} -> {o}, k={kh}x{kw} s={_short(self.stride)} "
               f"p={_short(self.pads)} d={_short(self.dilation)} g={self.groups}")
        alts = ", ".join(f"{e} {t:.3g}" for e, t in self.alternatives)
        return (f"ConvPlan({self.engine}{'(forced)' if self.forced else ''}: {geo}, "
                + "".join(f"{o}, " for o in opts if o)
                + f"threads={self.threads}, chunk={self.chunk_bytes >> 10}KiB, "
                f"est {self.estimate_ms:.3g} ms" + (f"; vs {alts}" if alts else "") + ")")


def effective(plan: ConvPlan) -> ConvPlan:
    """The plan of the conv the engine runs: with ``crop``, the cropped kernel and the
    padding that keeps every output position where it was."""
    return _effective(plan) if plan.crop else plan


@functools.lru_cache(maxsize=256)
def _effective(plan: ConvPlan) -> ConvPlan:
    w_shape, pads = _cropped(plan.w_shape, plan.pads, plan.dilation, plan.crop)
    return replace(plan, w_shape=w_shape, pads=pads, crop=())


def _cropped(w_shape, pads, dilation, crop) -> tuple:
    kernel = tuple(a1 - a0 + 1 for a0, a1 in crop)
    new = tuple((lo - a0 * d, hi - (k - 1 - a1) * d)
                for (lo, hi), (a0, a1), d, k in zip(pads, crop, dilation, w_shape[2:]))
    return tuple(w_shape[:2]) + kernel, new


def _live_taps(size, k, s, d, lo, hi) -> tuple:
    """(first, last) kernel tap that meets the input at some output position (zero padding
    elsewhere), or (0, k - 1) when cropping would not keep the padding non-negative."""
    out = (size + lo + hi - d * (k - 1) - 1) // s + 1
    live = [a for a in range(k)  # output i reads input i*s + a*d - lo
            if max(0, -(-(lo - a * d) // s)) <= min(out - 1, (size + lo - a * d - 1) // s)]
    if not live or live[0] * d > lo or (k - 1 - live[-1]) * d > hi:
        return 0, k - 1
    return live[0], live[-1]


def _crop_of(key: tuple) -> tuple:
    """The crop of a planning key (() when every tap can meet the input, or not zeros mode)."""
    (_, _, h, w), (_, _, kh, kw), stride, pads, dilation, _, mode, *_ = key
    if mode != "zeros":
        return ()
    crop = tuple(_live_taps(n, k, s, d, lo, hi) for n, k, s, d, (lo, hi)
                 in zip((h, w), (kh, kw), stride, dilation, pads))
    return () if crop == ((0, kh - 1), (0, kw - 1)) else crop


def _short(v):
    flat = np.ravel(v).tolist()
    return flat[0] if len(set(flat)) == 1 else tuple(v)


def plan_conv(x_shape, w_shape, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
              groups=1, mode="zeros", dtype="float32", threads=None, grads=(True, True),
              **force) -> ConvPlan:
    """The plan of one 2-D conv (shapes (N, C, H, W) and (O, C/groups, kH, kW)).

    threads: chunk threads (default: BLAS's current thread count). grads: whether the
    input and the weight gradients will be needed (priced only then). ``force`` fixes plan
    fields (engine, per_sample, input_grad, chunk_bytes); an engine name may be 'im2col'
    (the cheaper layout). Without a forced engine, CONVOLVE_CONV_ENGINE applies where it can.
    Raises ValueError for an engine or option that cannot run this conv.
    """
    bad = set(force) - {"engine", "per_sample", "input_grad", "chunk_bytes"}
    if bad:
        raise ValueError(f"plan_conv: unknown plan fields {sorted(bad)}, expected engine, "
                         f"per_sample, input_grad or chunk_bytes")
    threads = blas_thread_count() if threads is None else int(threads)
    key = (tuple(x_shape), tuple(w_shape), tuple(stride), tuple(map(tuple, pads)),
           tuple(dilation), int(groups), mode, np.dtype(dtype).name, threads,
           tuple(bool(v) for v in grads))
    forced = force.get("engine") is not None
    if not forced and os.environ.get("CONVOLVE_CONV_ENGINE"):
        env = os.environ["CONVOLVE_CONV_ENGINE"].strip().lower()
        if env in ENGINES + tuple(ALIASES) and any(
                e in _applicable(key) for e in ALIASES.get(env, (env,))):
            force = dict(force, engine=env)
    return _plan(key, tuple(sorted(force.items())))


def with_batch(plan: ConvPlan, n: int) -> ConvPlan:
    """The plan for the same conv on a batch of n (options kept)."""
    return plan if plan.x_shape[0] == n else replace(plan, x_shape=(n,) + plan.x_shape[1:])


@functools.lru_cache(maxsize=1024)
def _plan(key: tuple, force: tuple) -> ConvPlan:
    force = dict(force)
    crop = _crop_of(key)
    want = force.get("engine")
    ekey = _crop_key(key, crop)
    if want and crop and not {e for e in ALIASES.get(want, (want,))} & _applicable(ekey):
        crop, ekey = (), key  # a forced engine that runs the uncropped conv only
    options = _options(ekey)
    if want is not None:
        names = ALIASES.get(want, (want,))
        if want not in ENGINES + tuple(ALIASES):
            raise ValueError(f"conv plan: engine must be one of {ENGINES + tuple(ALIASES)}, "
                             f"received engine={want!r}")
        if not any(e == opt["engine"] for opt in options for e in names):
            raise ValueError(f"conv plan: engine {want!r} cannot run this conv "
                             f"(input {key[0]}, weight {key[1]}, stride {key[2]}, pads "
                             f"{key[3]}, dilation {key[4]}, groups {key[5]}, mode {key[6]!r})")
        options = [o for o in options if o["engine"] in names]
    for name, default in (("per_sample", False), ("input_grad", "")):
        if name in force:
            kept = [o for o in options if o.get(name, default) == force[name]]
            if not kept:
                raise ValueError(f"conv plan: {name}={force[name]!r} does not apply to "
                                 f"engine {options[0]['engine']!r} for this conv")
            options = kept
    best = min(options, key=lambda o: o["seconds"])
    return _make(key, best, force, crop)


def _crop_key(key: tuple, crop: tuple) -> tuple:
    if not crop:
        return key
    w_shape, pads = _cropped(key[1], key[3], key[4], crop)
    return (key[0], w_shape, key[2], pads) + key[4:]


def _make(key: tuple, opt: dict, force: dict, crop: tuple = ()) -> ConvPlan:
    """The ConvPlan of one priced option (the other engines' best estimates kept for repr)."""
    others = {}
    for o in _options(_crop_key(key, crop)):
        if o["engine"] != opt["engine"]:
            others[o["engine"]] = min(others.get(o["engine"], 1e9), o["seconds"] * 1e3)
    x_shape, w_shape, stride, pads, dilation, groups, mode, dtype, threads, _ = key
    return ConvPlan(
        engine=opt["engine"], x_shape=x_shape, w_shape=w_shape, stride=stride, pads=pads,
        dilation=dilation, groups=groups, mode=mode, dtype=dtype, threads=threads,
        chunk_bytes=force.get("chunk_bytes", cost.CHUNK_BYTES[opt["engine"]]),
        per_sample=opt.get("per_sample", False), input_grad=opt.get("input_grad", ""),
        estimate_ms=opt["seconds"] * 1e3, alternatives=tuple(sorted(others.items())),
        forced=bool(force), crop=crop)


def every_plan(x_shape, w_shape, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1),
               groups=1, mode="zeros", dtype="float32", threads=1, chunk_bytes=None) -> list:
    """One ConvPlan per engine and option that can run the conv (tests force each)."""
    key = (tuple(x_shape), tuple(w_shape), tuple(stride), tuple(map(tuple, pads)),
           tuple(dilation), int(groups), mode, np.dtype(dtype).name, int(threads), (True, True))
    force = {} if chunk_bytes is None else {"chunk_bytes": chunk_bytes}
    crop = _crop_of(key)
    return [_make(key, o, dict(force, engine=o["engine"]), crop)
            for o in _options(_crop_key(key, crop))]


def _applicable(key: tuple) -> set:
    return {o["engine"] for o in _options(key)}


@functools.lru_cache(maxsize=1024)
def _options_cached(key: tuple) -> tuple:
    return tuple(_enumerate(key))


def _options(key: tuple) -> list:
    return [dict(o) for o in _options_cached(key)]


def _enumerate(key: tuple) -> list:
    """Every (engine, option) that can run the conv, each with its estimated seconds."""
    (n, c, h, w), (o, cg, kh, kw), stride, pads, dilation, groups, mode, dtype, threads, \
        (need_x, need_w) = key
    oh, ow = out_hw((h, w), (kh, kw), stride, pads, dilation)
    geo = cost.Geo(max(n, 1), c, h, w, o, kh, kw, oh, ow, groups, stride, dilation,
                   any(lo or hi for lo, hi in pads), np.dtype(dtype).itemsize)
    from .. import _backend
    numba = _backend.available("conv_col2im")
    grads = ["col2im"] + (["numba"] if numba and groups == 1 and dilation[1] == 1 else [])
    if stride == (1, 1) and mode == "zeros":
        grads.append("corr")
    out = [{"engine": "im2col_nhwc", "per_sample": ps, "input_grad": ig,
            "seconds": cost.im2col_nhwc(geo, ps, ig)} for ps in (False, True) for ig in grads]
    out += [{"engine": "im2col_cm", "input_grad": ig, "seconds": cost.im2col_cm(geo, ig)}
            for ig in ["col2im"] + (["numba"] if numba else [])]
    if winograd.applies((o, cg, kh, kw), stride, dilation, groups, mode):
        out.append({"engine": "winograd",
                    "seconds": cost.winograd(geo, cost.CHUNK_BYTES["winograd"])})
    if gemm1x1.applies((o, cg, kh, kw), pads):
        out += [{"engine": "gemm1x1", "per_sample": ps, "seconds": cost.gemm1x1(geo, ps)}
                for ps in (False, True)]
    if depthwise.applies((n, c, h, w), (o, cg, kh, kw), groups):
        out += [{"engine": "depthwise", "input_grad": ig,
                 "seconds": cost.depthwise(geo, ig == "numba")}
                for ig in ["numpy"] + (["numba"] if _backend.available("depthwise") else [])]
    for opt in out:  # (forward, input grad, weight grad): the ones that will run
        fwd, gx, gw = opt["seconds"]
        total = fwd + (gx if need_x else 0.0) + (gw if need_w else 0.0)
        opt["seconds"] = _parallel(total, geo, threads, opt["engine"])
    return out


def _parallel(seconds: float, geo: cost.Geo, threads: int, engine: str) -> float:
    """Seconds on ``threads`` chunk threads: the batch splits into about work/chunk chunks."""
    work = geo.n * max(geo.c, geo.o) * max(geo.p * geo.kh * geo.kw, geo.h * geo.w) * geo.item
    chunks = max(1, min(geo.n, -(-work // cost.CHUNK_BYTES[engine])))
    return seconds / max(1, min(threads, chunks))


def plan_fields() -> tuple:
    """Names of the ConvPlan fields."""
    return tuple(f.name for f in fields(ConvPlan))
