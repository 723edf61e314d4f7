"""convolve against PyTorch CPU, side by side on the same cores, as users train.

    python benchmarks/vs_torch.py [--reps 5] [--threads 2] [--min-time 1.5] [--quick]
                                  [--cases lenet_b32 ...]

Every case runs in fresh worker processes (benchmarks/worker.py), convolve and torch
alternating (A B, B A, ...), with the same thread count for the BLAS, Numba and
torch.set_num_threads, the same model, batch and optimizer (Adam). A training worker
warms up for two steps, then trains over at least 12 distinct batches (more while under
--min-time) and reports the whole run's mean time per step and the median step. Across
the --reps process pairs we report, per case, each framework's median of those, the
throughput ratio convolve/torch (higher is better) of the mean step (median over pairs,
with min and max) and of the median step, each framework's peak RSS, and the GFLOP/s of
each training step next to NumPy's sgemm measured in the same run. The 1/5/15-minute load
average at start and end is recorded (the machine may be shared).
Writes OUT/vs_torch.{json,md} (default benchmarks/results).
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
TRAIN_CASES = ["lenet_b32", "lenet_b128", "lenet_b512", "cifar_b64", "resnet18_b32",
               "resnet18cifar_b32", "vggbn_b64", "mobilenet_b64", "train_cli_mnist5k"]
INFER_CASES = ["lenet_infer_b1", "cifar_infer_b1", "resnet18_infer_b1"]
CASES = TRAIN_CASES + INFER_CASES
QUICK_CASES = ["lenet_b32", "lenet_infer_b1"]
FRAMEWORKS = ("convolve", "torch")


def thread_env(threads: int, extra: dict | None = None) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(threads)
    env.update(extra or {})
    return env


def run_worker(framework, case, args, env=None) -> tuple[dict, float]:
    cmd = [sys.executable, str(WORKER), "--framework", framework, "--case", case,
           "--threads", str(args.threads), "--min-time", str(args.min_time)]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True,
                          env=env or thread_env(args.threads), timeout=900)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"worker {framework}/{case} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1]), wall


def summarize(samples: dict) -> dict:
    """samples[case][framework] = list of (result dict, rss) per rep -> medians and ratios."""
    table = {}
    for case, per_fw in samples.items():
        c = [r["seconds"] for r, _ in per_fw["convolve"]]
        t = [r["seconds"] for r, _ in per_fw["torch"]]
        cm = [r["median_seconds"] for r, _ in per_fw["convolve"]]
        tm = [r["median_seconds"] for r, _ in per_fw["torch"]]
        ratios = [ti / ci for ci, ti in zip(c, t)]  # throughput ratio convolve/torch
        first = per_fw["convolve"][0][0]
        table[case] = {
            "convolve_seconds": statistics.median(c), "torch_seconds": statistics.median(t),
            "convolve_median_step": statistics.median(cm),
            "torch_median_step": statistics.median(tm),
            "ratio_median": statistics.median(ratios), "ratio_min": min(ratios),
            "ratio_max": max(ratios),
            "ratio_of_median_steps": statistics.median([b / a for a, b in zip(cm, tm)]),
            "reps": len(ratios), "steps": first.get("steps"), "batch": first.get("batch"),
            "distinct_batches": first.get("distinct_batches"),
            "step_gflop": first.get("step_gflop"),
            "convolve_rss_mib": max(r for _, r in per_fw["convolve"]),
            "torch_rss_mib": max(r for _, r in per_fw["torch"]),
        }
    return table


def bench_cases(args) -> dict:
    samples: dict = {}
    for case in args.cases:
        t0 = time.perf_counter()
        for rep in range(args.reps):
            order = FRAMEWORKS if rep % 2 == 0 else FRAMEWORKS[::-1]
            for fw in order:
                out, _ = run_worker(fw, case, args)
                for name, res in out["results"].items():
                    samples.setdefault(name, {"convolve": [], "torch": []})[fw].append(
                        (res, out["peak_rss_mib"]))
        print(f"  {case}: {args.reps} pairs in {time.perf_counter() - t0:.0f} s", flush=True)
        args.out.mkdir(parents=True, exist_ok=True)  # what is done so far, if stopped early
        (args.out / "vs_torch.partial.json").write_text(json.dumps(summarize(samples), indent=2))
    return summarize(samples)


def bench_first_step(args) -> dict:
    """Cold: fresh bytecode and Numba caches (PYTHONPYCACHEPREFIX/NUMBA_CACHE_DIR empty dirs).
    Warm: the same caches, already filled. Wall time of the whole process. Bytecode writing
    is switched on (PYTHONDONTWRITEBYTECODE unset) so that the cold run fills the cache."""
    out = {}
    for fw in FRAMEWORKS:
        cold, warm = [], []
        for _ in range(2):
            with tempfile.TemporaryDirectory() as tmp:
                env = thread_env(args.threads, {"PYTHONPYCACHEPREFIX": f"{tmp}/pyc",
                                                "NUMBA_CACHE_DIR": f"{tmp}/numba"})
                env.pop("PYTHONDONTWRITEBYTECODE", None)
                cold.append(run_worker(fw, "first_step", args, env)[1])
                warm.append(run_worker(fw, "first_step", args, env)[1])
        out[fw] = {"cold_seconds": statistics.median(cold), "warm_seconds": statistics.median(warm)}
    return out


def add_gflops(args, table) -> float:
    """NumPy sgemm GFLOP/s (median of 3 processes); each training row gets its GFLOP/s."""
    gemm = statistics.median(run_worker("convolve", "gemm", args)[0]["results"]
                             ["numpy_sgemm_1024"]["gflops"] for _ in range(1 if args.quick else 3))
    for row in table.values():
        if row.get("step_gflop"):
            row["convolve_gflops"] = row["step_gflop"] / row["convolve_seconds"]
            row["torch_gflops"] = row["step_gflop"] / row["torch_seconds"]
            row["convolve_pct_of_sgemm"] = 100 * row["convolve_gflops"] / gemm
    return gemm


def _loads(values) -> str:
    return "/".join(f"{v:.1f}" for v in values)


def _row(case: str, r: dict) -> str:
    if r.get("batch"):
        n = r["batch"]
        cv, tv = f"{n / r['convolve_seconds']:.0f}/s", f"{n / r['torch_seconds']:.0f}/s"
    else:
        cv, tv = f"{r['convolve_seconds'] * 1e3:.2f} ms", f"{r['torch_seconds'] * 1e3:.2f} ms"
    flops = (f"{r['convolve_gflops']:.1f} / {r['torch_gflops']:.1f} "
             f"({r['convolve_pct_of_sgemm']:.0f}%)") if r.get("convolve_gflops") else "-"
    return (f"| {case} | {cv} | {tv} | **{r['ratio_median']:.2f}** ({r['ratio_min']:.2f}-"
            f"{r['ratio_max']:.2f}) | {r['ratio_of_median_steps']:.2f} | {flops} | "
            f"{r['convolve_rss_mib']:.0f} / {r['torch_rss_mib']:.0f} |")


def markdown(report) -> str:
    load = report["load_average"]
    lines = [(f"Machine: {report['machine']}; threads: {report['threads']}; reps: "
              f"{report['reps']} process pairs per case; wall {report['wall_seconds']:.0f} s. "
              f"1/5/15-min load average at start {_loads(load['start'])}, at end "
              f"{_loads(load['end'])} (the benchmark itself adds about 1)."), "",
             ("Training rows: samples/s over the whole run (mean step); batch-1 rows: median "
              "latency. Ratio = convolve/torch throughput, median over the pairs (min-max); "
              "'median steps' is the same ratio for the median step. GFLOP/s of the training "
              f"step (NumPy sgemm 1024^3 in this run: {report['numpy_sgemm_gflops']:.1f} "
              "GFLOP/s; % = convolve's share of it)."), "",
             ("| case | convolve | torch | ratio (min-max) | median steps | GFLOP/s convolve "
              "/ torch (% sgemm) | peak RSS MiB convolve / torch |"),
             "|---|---|---|---|---|---|---|"]
    lines += [_row(case, r) for case, r in report["cases"].items()]
    fs = report.get("first_step")
    if fs:
        lines += ["", "| first training step, fresh process | convolve | torch |", "|---|---|---|",
                  (f"| cold (no bytecode/JIT caches) | {fs['convolve']['cold_seconds']:.2f} s | "
                   f"{fs['torch']['cold_seconds']:.2f} s |"),
                  (f"| warm | {fs['convolve']['warm_seconds']:.2f} s | "
                   f"{fs['torch']['warm_seconds']:.2f} s |")]
    return "\n".join(lines) + "\n"


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.5)
    ap.add_argument("--cases", nargs="+", choices=CASES, default=None)
    ap.add_argument("--quick", action="store_true",
                    help="smoke run: 1 pair, LeNet B=32 and its latency, no first-step timing")
    ap.add_argument("--no-first-step", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "results")
    args = ap.parse_args(argv)
    if args.quick:
        args.reps, args.min_time, args.no_first_step = 1, 0.0, True
        args.cases = args.cases or QUICK_CASES
    args.cases = args.cases or CASES
    return args


def main(argv=None) -> dict:
    args = parse_args(argv)
    t0 = time.perf_counter()
    load_before = os.getloadavg()
    cases = bench_cases(args)
    report = {"machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
              "threads": args.threads, "reps": args.reps, "cases": cases}
    report["numpy_sgemm_gflops"] = add_gflops(args, cases)
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
    return report


if __name__ == "__main__":
    main()
