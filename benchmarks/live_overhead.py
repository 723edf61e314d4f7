"""The cost of ``convolve train --live``: whole-run wall time with and without it.

Runs ``convolve train --model lenet5 --data mnist5k --epochs 5 -q`` and the same with
``--live --live-linger 0``, alternating (so a change in the machine's load hits both),
``--pairs`` times, and prints each pair and the median ratios live / plain of the wall
time and of the CPU time (user + system of the training process, all its threads: less
sensitive than the wall time to other processes on a shared machine), and the share of
the training time the training thread spent inside the LiveMonitor callback (from the
last lines of live.jsonl: robust to the machine's load, as both parts see it). With
``--watch`` a client follows the live run's Server-Sent Events (the page open) too.

    PYTHONPATH=src python benchmarks/live_overhead.py --pairs 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

BASE = [sys.executable, "-m", "convolve.cli", "train", "--model", "lenet5", "--data", "mnist5k",
        "--epochs", "5", "-q"]


def _watch(proc) -> None:
    """Read the URL from stderr, then follow /events until the run ends."""
    for line in proc.stderr:
        if "live dashboard at " in line:
            url = line.split(" at ", 1)[1].strip()
            try:
                with urllib.request.urlopen(url + "events", timeout=60) as r:
                    for _ in r:
                        pass
            except OSError:
                pass
            return


def one(out: str, live: bool, watch: bool) -> tuple:
    """(wall seconds, CPU seconds: user + system, all threads) of one training process."""
    cmd = BASE + ["--out", out] + (["--live", "--live-linger", "0"] if live else [])
    t = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            stdin=subprocess.DEVNULL)
    reader = threading.Thread(target=_watch if live and watch else
                              (lambda p: p.stderr.read()), args=(proc,), daemon=True)
    reader.start()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}")
    wall, cpu = time.perf_counter() - t, usage.ru_utime + usage.ru_stime
    if not live:
        return wall, cpu, None
    end = json.loads(Path(out, "live.jsonl").read_text().splitlines()[-2])  # before "test"
    return wall, cpu, end["monitor_s"] / end["train_s"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=int, default=5)
    ap.add_argument("--watch", action="store_true", help="follow the live run's events")
    args = ap.parse_args()
    walls, cpus, inside = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.pairs):
            plain = one(f"{tmp}/plain{i}", False, False)
            live = one(f"{tmp}/live{i}", True, args.watch)
            walls.append(live[0] / plain[0])
            cpus.append(live[1] / plain[1])
            inside.append(live[2])
            print(f"pair {i + 1}: wall plain {plain[0]:.2f} s live {live[0]:.2f} s "
                  f"({walls[-1]:.3f}); CPU plain {plain[1]:.2f} s live {live[1]:.2f} s "
                  f"({cpus[-1]:.3f}); in the callback {100 * live[2]:.2f}% of training",
                  flush=True)
    print(f"median share of the training time spent in LiveMonitor: "
          f"{100 * statistics.median(inside):.2f}% (max {100 * max(inside):.2f}%)")
    for name, r in (("wall", walls), ("CPU", cpus)):
        print(f"median {name} ratio live/plain over {args.pairs} pairs: "
              f"{statistics.median(r):.3f} (min {min(r):.3f}, max {max(r):.3f})")


if __name__ == "__main__":
    main()
