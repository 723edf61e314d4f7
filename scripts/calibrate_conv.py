"""Measure the conv cost model's machine constants (``functional/conv/cost.py``) and check
the model's engine ranking against measured times.

    PYTHONPATH=src python scripts/calibrate_conv.py            # print the CONSTANTS table
    PYTHONPATH=src python scripts/calibrate_conv.py --check    # model vs measured per engine

Constants are measured on one BLAS thread with micro-benchmarks of the operations the
engines are made of (GEMMs of several shapes, copies with several contiguous run lengths,
layout transposes, the compiled transform and col2im loops, NumPy strided passes); each
is the fastest of 15 runs, and the whole set is measured ``--rounds`` times, keeping
each constant's best (the least disturbed on a shared machine). ``--check`` times every engine that can run each conv of
a table of shapes (ResNet/MobileNet-style layers and odd ones nothing was tuned for) on
a forward + backward step and prints the planner's pick next to the fastest.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from threadpoolctl import threadpool_limits

import convolve as cv
import convolve.functional as F
from convolve.functional import _backend
from convolve.functional.conv.windows import blocked_copy


def median_time(fn, repeat=7, number=3, best=False) -> float:
    """Median (or with ``best`` the fastest) of ``repeat`` timings of ``number`` calls."""
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for _ in range(number):
            fn()
        times.append((time.perf_counter() - t) / number)
    return float(np.min(times) if best else np.median(times))


def best_time(fn) -> float:
    """The fastest of 15 timings: on a shared machine the least disturbed run."""
    return median_time(fn, repeat=15, number=3, best=True)


def gemm_constants() -> dict:
    rng = np.random.default_rng(0)
    out = {}
    for dtype, key in ((np.float32, "gemm_gflops_f4"), (np.float64, "gemm_gflops_f8")):
        a, b = rng.standard_normal((512, 512)).astype(dtype), rng.standard_normal((512, 512)).astype(dtype)
        out[key] = 2 * 512**3 / best_time(lambda a=a, b=b: a @ b) / 1e9
    peak = out["gemm_gflops_f4"] * 1e9
    sizes = (1, 4, 16, 64, 256)
    shapes = [(m, n, k) for m in sizes for n in sizes for k in sizes]
    measured = []
    for m, n, k in shapes:  # conv-sized GEMMs: the half sizes are fitted to these
        a = rng.standard_normal((m, k)).astype(np.float32)
        b = rng.standard_normal((k, n)).astype(np.float32)
        measured.append(best_time(lambda a=a, b=b: a @ b))
    grid = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0)
    call = median_time(lambda: np.matmul(a[:2, :2], b[:2, :2]), number=200)

    def error(h):
        model = [2 * m * n * k / peak * (1 + h[0] / m + h[1] / n + h[2] / k) + call
                 for m, n, k in shapes]
        return float(np.sum(np.log(np.divide(model, measured)) ** 2))

    best = min(((hm, hn, hk) for hm in grid for hn in grid for hk in grid), key=error)
    out.update(gemm_half_m=best[0], gemm_half_n=best[1], gemm_half_k=best[2])
    tiny = np.ones((2, 2), np.float32)
    out["call_us"] = median_time(lambda: np.matmul(tiny, tiny), number=200) * 1e6
    return out


def copy_constants() -> dict:
    rng = np.random.default_rng(1)
    src = rng.standard_normal(4 << 20).astype(np.float32)  # 16 MiB
    dst = np.empty_like(src)
    bw = src.nbytes / best_time(lambda: np.copyto(dst, src))
    fits = []
    for run in (1, 4, 16):  # elements per contiguous run, runs 2x apart in memory
        view = src.reshape(-1, 2 * run)[:, :run]
        out = np.empty(view.shape, np.float32)
        t = best_time(lambda out=out, view=view: np.copyto(out, view))
        fits.append(max(0.0, (t * bw / out.nbytes - 1) * run * 4))
    x = rng.standard_normal((32, 64, 32, 32)).astype(np.float32)
    y = np.empty((32, 32, 32, 64), np.float32)
    tr = x.nbytes / best_time(lambda: blocked_copy(y, x.transpose(0, 2, 3, 1), 3))
    return {"copy_gbs": bw / 1e9, "run_half": float(np.median(fits)), "transpose_gbs": tr / 1e9}


def kernel_constants() -> dict:
    from convolve.functional.conv.engines import winograd as wg

    rng = np.random.default_rng(2)
    k = _backend.load("winograd")
    per = []
    for shape in ((8, 64, 32, 32), (32, 256, 4, 4), (32, 256, 2, 2)):  # four transforms, mean
        x = rng.standard_normal(shape).astype(np.float32)
        _, _, th, tw = wg.tiles(shape[2], shape[3], ((1, 1), (1, 1)))
        t = shape[0] * th * tw
        v = wg.planes(shape[1], t, np.float32)
        b = np.zeros(shape[1], np.float32)
        v[:] = 1.0
        secs = sum(best_time(fn) for fn in (
            lambda x=x, th=th, tw=tw, v=v: k.input_transform(x, 1, 1, th, tw, v),
            lambda x=x, th=th, tw=tw, v=v: k.input_transform_adjoint(v, 1, 1, th, tw, x),
            lambda x=x, th=th, tw=tw, v=v, b=b: k.output_transform(v, b, th, tw, x),
            lambda x=x, th=th, tw=tw, v=v: k.output_transform_adjoint(x, th, tw, v))) / 4
        per.append((16 * shape[1] * t, shape[0] * shape[1] * th, secs * 1e9))
    design = np.array([[e, r] for e, r, _ in per], float)  # least squares: t = a*elem + b*row
    (elem, row), *_ = np.linalg.lstsq(design, np.array([t for *_, t in per]), rcond=None)
    elem, row = max(0.01, float(elem)), max(0.0, float(row))
    col = _backend.load("conv_col2im")
    dcol = rng.standard_normal((8, 16, 16, 3, 3 * 64)).astype(np.float32)
    dxp = np.empty((8, 18, 18 * 64), np.float32)
    col_ns = best_time(lambda: col.col2im_nhwc(dcol, 64, 1, 1, 1, dxp)) * 1e9 / dcol.size
    x = rng.standard_normal((8, 64, 34, 34)).astype(np.float32)
    w = rng.standard_normal((64, 1, 3, 3)).astype(np.float32)
    out = np.empty((8, 64, 32, 32), np.float32)
    dk = _backend.load("depthwise")
    dw_ns = best_time(lambda: dk.forward(x, w, 1, 1, 1, 1, out)) * 1e9 / (out.size * 9)
    win = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))
    tap = best_time(lambda: [np.add(out, win[..., a, b] * 2.0, out=out)
                               for a in range(3) for b in range(3)]) * 1e9 / (out.size * 9)
    return {"wino_ns_elem": elem, "wino_ns_row": row, "col2im_ns_elem": col_ns,
            "tap_ns_elem": tap, "dw_ns_elem": dw_ns}


CHECK_SHAPES = [  # (x shape, w shape, stride, padding, groups)
    ((32, 3, 32, 32), (64, 3, 7, 7), 2, 3, 1), ((32, 64, 8, 8), (64, 64, 3, 3), 1, 1, 1),
    ((32, 128, 4, 4), (128, 128, 3, 3), 1, 1, 1), ((32, 256, 2, 2), (256, 256, 3, 3), 1, 1, 1),
    ((32, 512, 1, 1), (512, 512, 3, 3), 1, 1, 1), ((32, 64, 8, 8), (128, 64, 3, 3), 2, 1, 1),
    ((32, 64, 8, 8), (128, 64, 1, 1), 2, 0, 1), ((32, 256, 4, 4), (512, 256, 1, 1), 2, 0, 1),
    ((32, 64, 32, 32), (64, 64, 3, 3), 1, 1, 1), ((32, 64, 16, 16), (64, 1, 3, 3), 1, 1, 64),
    ((32, 128, 8, 8), (128, 128, 1, 1), 1, 0, 1), ((16, 6, 13, 11), (10, 6, 5, 3), 1, 2, 1),
    ((8, 12, 15, 15), (12, 4, 3, 3), 2, 1, 3), ((64, 1, 28, 28), (6, 1, 5, 5), 1, 2, 1),
]


def check(threads: int) -> None:
    rng = np.random.default_rng(3)
    for xs, ws, s, p, g in CHECK_SHAPES:
        x = cv.tensor(rng.standard_normal(xs).astype(np.float32), requires_grad=True)
        w = cv.tensor(rng.standard_normal(ws).astype(np.float32), requires_grad=True)
        chosen = F.conv_plans(x, w, stride=s, padding=p, groups=g, threads=threads)
        times = {}
        for plan in F.conv_plans(x, w, stride=s, padding=p, groups=g, every=True,
                                 threads=threads):
            def step(plan=plan, x=x, w=w, s=s, p=p, g=g):
                y = F.conv2d(x, w, stride=s, padding=p, groups=g, plan=plan)
                y.backward(np.ones(y.shape, np.float32))
            name = f"{plan.engine}/{int(plan.per_sample)}/{plan.input_grad}"
            times[name] = (median_time(step, repeat=5, number=1) * 1e3, plan.estimate_ms)
        best = min(times, key=lambda k: times[k][0])
        pick = f"{chosen.engine}/{int(chosen.per_sample)}/{chosen.input_grad}"
        print(f"{xs} {ws} s{s} p{p} g{g}: picked {pick} {times[pick][0]:.2f} ms, fastest "
              f"{best} {times[best][0]:.2f} ms ({times[pick][0] / times[best][0]:.2f}x)")
        for name, (t, est) in sorted(times.items(), key=lambda kv: kv[1][0]):
            print(f"    {name:24s} measured {t:8.2f} ms  model {est:8.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="model vs measured per engine")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--rounds", type=int, default=3,
                        help="measure everything this many times; keep each constant's best")
    args = parser.parse_args()
    with threadpool_limits(args.threads):
        if args.check:
            check(args.threads)
            return
        runs = [{**gemm_constants(), **copy_constants(), **kernel_constants()}
                for _ in range(args.rounds)]
    consts = {}
    for key in runs[0]:  # rates: the highest; costs: the lowest; fitted shapes: the median
        values = [r[key] for r in runs]
        pick = max if key.endswith(("gflops_f4", "gflops_f8", "gbs")) else \
            np.median if "half" in key else min
        consts[key] = float(pick(values))
    print("CONSTANTS = {")
    for key, value in consts.items():
        print(f'    "{key}": {value:.3g},')
    print("}")


if __name__ == "__main__":
    main()
