"""convolve against PyTorch CPU, side by side on the same cores.

    python benchmarks/vs_torch.py [--reps 5] [--threads 2] [--min-time 1.0] [--quick]

Every case runs in fresh worker processes (benchmarks/worker.py), convolve and torch
alternating (A B A B ...), with the same thread count for the BLAS and
torch.set_num_threads, the same model, data shape, batch and optimizer (Adam). Each
worker warms up, then times at least 5 iterations and reports the median. Across the
--reps process pairs we report the median throughput of each framework, the ratio
convolve/torch (higher is better) with its min and max over the pairs, and each
framework's peak RSS. Writes benchmarks/results/vs_torch.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORKER = HERE / "worker.py"
GROUPS = ["lenet_b32", "lenet_b128", "lenet_b512", "cifar_b64", "infer", "micro"]
FRAMEWORKS = ("convolve", "torch")


def thread_env(threads: int, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    env.update(extra or {})
    return env


def run_worker(framework, group, args, env=None) -> tuple[dict, float]:
    cmd = [sys.executable, str(WORKER), "--framework", framework, "--group", group,
           "--threads", str(args.threads), "--min-time", str(args.min_time)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          env=env or thread_env(args.threads), timeout=600)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker {framework}/{group} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def summarize(samples: dict) -> dict:
    """samples[case][framework] = list of (seconds, rss) per rep -> medians and ratios."""
    table = {}
    for case, per_fw in samples.items():
        c = [s for s, _ in per_fw["convolve"]]
        t = [s for s, _ in per_fw["torch"]]
        ratios = [ti / ci for ci, ti in zip(c, t)]  # throughput ratio convolve/torch
        table[case] = {
            "convolve_seconds": statistics.median(c), "torch_seconds": statistics.median(t),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios), "reps": len(ratios),
            "convolve_rss_mib": max(r for _, r in per_fw["convolve"]),
            "torch_rss_mib": max(r for _, r in per_fw["torch"]),
        }
    return table


def bench_groups(args) -> dict:
    samples: dict = {}
    for group in args.groups:
        for rep in range(args.reps):
            order = FRAMEWORKS if rep % 2 == 0 else FRAMEWORKS[::-1]
            for fw in order:
                out, _ = run_worker(fw, group, args)
                for case, res in out["results"].items():
                    samples.setdefault(case, {"convolve": [], "torch": []})[fw].append(
                        (res["seconds"], out["peak_rss_mib"]))
            print(f"  {group}: rep {rep + 1}/{args.reps} done", flush=True)
    return summarize(samples)


def bench_first_step(args) -> dict:
    """Cold: fresh bytecode and Numba caches (PYTHONPYCACHEPREFIX/NUMBA_CACHE_DIR empty dirs).
    Warm: the same caches, already filled. Wall time of the whole process.

    Bytecode writing is switched on (PYTHONDONTWRITEBYTECODE unset) so that the cold run
    fills the cache; otherwise every run compiles every module (both libraries') again."""
    out = {}
    for fw in FRAMEWORKS:
        cold, warm = [], []
        for _ in range(max(2, args.reps // 2)):
            with tempfile.TemporaryDirectory() as tmp:
                env = thread_env(args.threads, {"PYTHONPYCACHEPREFIX": f"{tmp}/pyc",
                                                "NUMBA_CACHE_DIR": f"{tmp}/numba"})
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                cold.append(run_worker(fw, "first_step", args, env)[1])
                warm.append(run_worker(fw, "first_step", args, env)[1])
        out[fw] = {"cold_seconds": statistics.median(cold), "warm_seconds": statistics.median(warm)}
    return out


def gemm_and_flops(args, table) -> dict:
    gemm = [run_worker("convolve", "gemm", args)[0]["results"]["numpy_sgemm_1024"]["gflops"]
            for _ in range(3)]
    # CIFAR-style net: multiply-adds of one forward pass per sample (convs + fcs)
    macs = (32 * 32 * 32 * 3 * 9 + 32 * 32 * 32 * 32 * 9 + 16 * 16 * 64 * 32 * 9
            + 16 * 16 * 64 * 64 * 9 + 4096 * 256 + 256 * 10)
    flops_step = 3 * 2 * macs * 64  # forward + two backward GEMMs, batch 64
    row = table.get("cifar_train_b64")
    res = {"numpy_sgemm_gflops": statistics.median(gemm), "cifar_step_gflop": flops_step / 1e9}
    if row:
        res["convolve_gflops"] = flops_step / row["convolve_seconds"] / 1e9
        res["torch_gflops"] = flops_step / row["torch_seconds"] / 1e9
    return res


def _loads(values) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def markdown(report) -> str:
    load = report.get("load_average")
    loads = "" if not load else (f" 1/5/15-min load average at start {_loads(load['start'])}, "
                                 f"at end {_loads(load['end'])} (the benchmark itself adds about 1).")
    lines = [(f"Machine: {report['machine']}; threads: {report['threads']}; "
             f"reps: {report['reps']} process pairs per case.{loads}"), "",
             "| case | convolve | torch | ratio convolve/torch (min-max) | RSS MiB convolve / torch |",
             "|---|---|---|---|---|"]
    for case, r in report["cases"].items():
        unit = "ms" if "infer" in case or "[" in case else "samples/s"
        if unit == "ms":
            cv, tv = f"{r['convolve_seconds'] * 1e3:.2f} ms", f"{r['torch_seconds'] * 1e3:.2f} ms"
        else:
            n = int(case.rsplit("_b", 1)[1])
            cv, tv = f"{n / r['convolve_seconds']:.0f}/s", f"{n / r['torch_seconds']:.0f}/s"
        lines.append(f"| {case} | {cv} | {tv} | {r['ratio_median']:.2f} "
                     f"({r['ratio_min']:.2f}-{r['ratio_max']:.2f}) | "
                     f"{r['convolve_rss_mib']:.0f} / {r['torch_rss_mib']:.0f} |")
    fs = report.get("first_step")
    if fs:
        lines += ["", "| first training step, fresh process | convolve | torch |", "|---|---|---|",
                  (f"| cold (no bytecode/JIT caches) | {fs['convolve']['cold_seconds']:.2f} s | "
                  f"{fs['torch']['cold_seconds']:.2f} s |"),
                  (f"| warm | {fs['convolve']['warm_seconds']:.2f} s | "
                  f"{fs['torch']['warm_seconds']:.2f} s |")]
    g = report.get("gflops")
    if g:
        lines += ["", (f"CIFAR-style step at batch 64: {g['cifar_step_gflop']:.2f} GFLOP; "
                  f"convolve {g.get('convolve_gflops', float('nan')):.1f} GFLOP/s, "
                  f"torch {g.get('torch_gflops', float('nan')):.1f} GFLOP/s, "
                  f"NumPy sgemm 1024^3 {g['numpy_sgemm_gflops']:.1f} GFLOP/s.")]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    ap.add_argument("--groups", nargs="+", default=GROUPS, choices=GROUPS)
    ap.add_argument("--no-first-step", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args()
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    cases = bench_groups(args)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "threads": args.threads, "reps": args.reps, "cases": cases}
    report["gflops"] = gemm_and_flops(args, cases)
    if not args.no_first_step:
        report["first_step"] = bench_first_step(args)
    report["wall_seconds"] = time.perf_counter() - t0
    report["load_average"] = {"start": load_before, "end": os.getloadavg()}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "vs_torch.json").write_text(json.dumps(report, indent=2))
    md = markdown(report)
    (args.out / "vs_torch.md").write_text(md)
    print(md)
    print(f"wrote {args.out}/vs_torch.json and vs_torch.md in {report['wall_seconds']:.0f} s")


if __name__ == "__main__":
    main()
