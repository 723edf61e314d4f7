"""cProfile of convolve training steps of one benchmark case (as benchmarks/worker.py runs it).

    python benchmarks/profile_step.py resnet18_b32 [--steps 3] [--threads 2] [--top 25]

Warms up for two steps, then profiles --steps steps on distinct batches and prints the
functions with the most own time, and the total time of each op family.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("case")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--dump", help="also write the raw profile here (pstats format)")
    args = ap.parse_args()
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(args.threads)
    sys.path.insert(0, str(HERE))
    import worker

    fw = worker.Framework("convolve", args.threads)
    net, batch, shape = worker.TRAIN[args.case]
    model = fw.build(net)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    data = [(fw.tensor(x), fw.tensor(y))
            for x, y in worker.batches(batch, shape, args.steps + 2)]

    def step(x, y):
        opt.zero_grad()
        fw.F.cross_entropy(model(x), y).backward()
        opt.step()

    for x, y in data[:2]:
        step(x, y)
    prof = cProfile.Profile()
    t0 = time.perf_counter()
    prof.enable()
    for x, y in data[2:]:
        step(x, y)
    prof.disable()
    print(f"{args.case}: {(time.perf_counter() - t0) / args.steps * 1e3:.0f} ms per step "
          f"(profiled, {args.threads} threads)")
    if args.dump:
        prof.dump_stats(args.dump)
    pstats.Stats(prof).sort_stats("tottime").print_stats(args.top)


if __name__ == "__main__":
    main()
