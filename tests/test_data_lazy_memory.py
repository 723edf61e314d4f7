"""Acceptance 2 of issue 16: one epoch over a folder of 20,000 PNGs whose decoded size
(20,000 x 3 x 64 x 64 float32 = 983 MB) is far above what training a lazy folder holds.

The training runs in a subprocess that reports its own peak RSS (ru_maxrss) after its
imports and at the end; the growth must stay under a quarter of the decoded size (234 MiB;
measured: about 160 MiB, the same with 1,000 images, so it is the training machinery's and
not the data's). About 20 s on 2 busy cores (3 s to write the folder, once per session)."""

import json
import math
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
N, SIZE = 20_000, 64

SCRIPT = textwrap.dedent("""
    import json, resource, sys, time
    import numpy as np
    import PIL.Image
    import convolve as cv
    from convolve.data import ArrayDataset, DataLoader, open_image_folder
    from convolve.train import fit

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    base = peak_mb()
    t0 = time.perf_counter()
    x, y, classes = open_image_folder(sys.argv[1], mode="RGB", lazy=True)
    cv.manual_seed(0)
    model = cv.nn.Sequential(cv.nn.AvgPool2d(4), cv.nn.Conv2d(3, 8, 3, padding=1), cv.nn.ReLU(),
                             cv.nn.MaxPool2d(2), cv.nn.Flatten(), cv.nn.Linear(8 * 8 * 8, 10))
    loader = DataLoader(ArrayDataset(x, y), batch_size=200, shuffle=True, seed=0)
    history = fit(model, loader, epochs=1, verbose=0)
    print(json.dumps({"base_mb": base, "peak_mb": peak_mb(), "decoded_bytes": x.nbytes,
                      "lazy": type(x).__name__, "samples": history.sizes["train"],
                      "classes": len(classes), "seconds": time.perf_counter() - t0,
                      "loss": history["loss"][-1]}))
""")


@pytest.fixture(scope="session")
def png_folder(tmp_path_factory):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from bench_decode import make_folder
    finally:
        sys.path.remove(str(ROOT / "benchmarks"))
    return make_folder(tmp_path_factory.mktemp("pngs20k"), n=N, size=SIZE, mode="RGB")


def test_one_epoch_over_20000_pngs_in_bounded_memory(png_folder):
    files = sorted(png_folder.glob("c*/*.png"))
    assert len(files) == N
    env = {"PYTHONPATH": str(ROOT / "src"), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", SCRIPT, str(png_folder)], capture_output=True,
                          text=True, env=env, timeout=600, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    decoded_mb = N * 3 * SIZE * SIZE * 4 / 2**20
    assert out["lazy"] == "LazyImages" and out["samples"] == N and out["classes"] == 10
    assert out["decoded_bytes"] == N * 3 * SIZE * SIZE * 4
    growth = out["peak_mb"] - out["base_mb"]
    print(f"peak RSS growth {growth:.0f} MiB for a folder decoding to {decoded_mb:.0f} MiB "
          f"({out['seconds']:.1f} s)")
    assert growth < 0.25 * decoded_mb, out
    assert 0 < out["loss"] < math.log(10)  # it learned: the epoch mean is below chance level
