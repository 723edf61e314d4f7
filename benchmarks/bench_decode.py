"""Image-folder decode throughput: convolve's lazy folder + DataLoader against PyTorch's
DataLoader over a Dataset that decodes each file with PIL, on the same generated folder.

    python benchmarks/bench_decode.py [--n 20000] [--size 64] [--mode RGB] [--reps 3]
                                      [--cases 0 1 2] [--root DIR] [--out DIR] [--quick]

One pass = one shuffled epoch at batch 64 (the last batch short), from building the loader
to the last batch, every image decoded to float32 in [0, 1] (C, H, W). Both sides decode
with the same Pillow calls (``Image.open(p).convert(mode)``, / 255 in float32). Cases are
compared at equal numbers of decoding processes:

    case 0: convolve workers=0 (decodes in the main process) vs torch num_workers=0
    case 1: convolve workers=1 (one decoding process)        vs torch num_workers=1
    case 2: convolve workers=2 (two decoding processes)      vs torch num_workers=2

torch forks its workers at every ``iter()`` (its default, persistent_workers=False);
convolve starts its pool on the first batch of each pass (a fresh folder object per pass),
so both pay their worker start-up inside the timed pass. The frameworks alternate in one
process, ``--reps`` passes each; we report the median images/s and the ratio
convolve/torch (>= 1: convolve is faster). Writes OUT/bench_decode.{json,md}
(default benchmarks/results). The folder (``--n`` PNGs in 10 classes) is generated once
under the temp folder and reused, and read once before timing so that no pass (the first
one especially) reads from the disk.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "src"))
CLASSES = 10
BATCH = 64


def make_folder(root, n: int = 20000, size: int = 64, mode: str = "RGB",
                variants: int = 16) -> Path:
    """``n`` PNGs of size x size in ``mode``, in 10 class folders ``c0``..``c9``, written
    once (a ``.complete`` marker records the parameters; a folder with another one is
    rewritten). Each class has ``variants`` distinct encoded images (a class-coloured
    gradient plus noise) whose bytes are written round-robin: files decode like photos
    of that size, and generation costs one encode per variant plus one write per file."""
    from PIL import Image

    root = Path(root)
    stamp = f"{n} {size} {mode} {variants}"
    marker = root / ".complete"
    if marker.is_file() and marker.read_text() == stamp:
        return root
    rng = np.random.default_rng(0)
    ramp = np.linspace(0, 1, size, dtype=np.float32)
    per_class = [n // CLASSES + (c < n % CLASSES) for c in range(CLASSES)]
    for c, count in enumerate(per_class):
        folder = root / f"c{c}"
        folder.mkdir(parents=True, exist_ok=True)
        colour = rng.random(3, dtype=np.float32)
        blobs = []
        for _ in range(variants):
            base = ramp[:, None, None] * colour + ramp[None, :, None] * (1 - colour)
            noisy = np.clip(base * 200 + rng.normal(0, 20, (size, size, 3)), 0, 255)
            img = Image.fromarray(noisy.astype(np.uint8), "RGB")
            img = img.convert(mode)
            path = folder / "tmp.png"
            img.save(path, compress_level=1)
            blobs.append(path.read_bytes())
            path.unlink()
        for i in range(count):
            (folder / f"{i:06d}.png").write_bytes(blobs[i % variants])
    marker.write_text(stamp)
    return root


def convolve_pass(root: Path, mode: str, workers: int, seed: int) -> int:
    from convolve.data import ArrayDataset, DataLoader, open_image_folder

    x, y, _ = open_image_folder(root, mode=mode, lazy=True, workers=workers)
    loader = DataLoader(ArrayDataset(x, y), batch_size=BATCH, shuffle=True, seed=seed)
    seen = 0
    for xb, _ in loader:
        seen += len(xb)
    x.close()
    return seen


class PILFolder:
    """torch side: one file per __getitem__, decoded with PIL as torchvision's loader does."""

    def __init__(self, samples, mode):
        self.samples, self.mode = samples, mode

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        import torch
        from PIL import Image

        path, label = self.samples[i]
        with Image.open(path) as img:
            a = np.asarray(img.convert(self.mode), dtype=np.float32) / np.float32(255)
        a = a[None] if a.ndim == 2 else a.transpose(2, 0, 1)
        return torch.from_numpy(np.ascontiguousarray(a)), label


def torch_pass(root: Path, mode: str, workers: int, seed: int) -> int:
    import torch

    from convolve.data.imagefolder import scan_image_folder

    samples, _ = scan_image_folder(root)
    torch.manual_seed(seed)
    loader = torch.utils.data.DataLoader(PILFolder(samples, mode), batch_size=BATCH,
                                         shuffle=True, num_workers=workers)
    seen = 0
    for xb, _ in loader:
        seen += len(xb)
    return seen


def timed(fn, *args) -> tuple[float, int]:
    t0 = time.perf_counter()
    seen = fn(*args)
    return time.perf_counter() - t0, seen


def run_case(root: Path, mode: str, workers: int, reps: int, n: int) -> dict:
    ours, theirs = [], []
    for rep in range(reps):  # alternate, starting with the other framework every rep
        order = [("c", convolve_pass), ("t", torch_pass)]
        for tag, fn in (order if rep % 2 == 0 else order[::-1]):
            seconds, seen = timed(fn, root, mode, workers, rep)
            if seen != n:
                raise RuntimeError(f"{tag}: a pass saw {seen} images, expected {n}")
            (ours if tag == "c" else theirs).append(n / seconds)
    ratios = [a / b for a, b in zip(ours, theirs)]
    return {"convolve_workers": workers, "torch_num_workers": workers,
            "convolve_images_per_s": ours, "torch_images_per_s": theirs,
            "convolve_median": statistics.median(ours), "torch_median": statistics.median(theirs),
            "ratio_median": statistics.median(ours) / statistics.median(theirs),
            "ratio_min": min(ratios), "ratio_max": max(ratios)}


def write(report: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_decode.json").write_text(json.dumps(report, indent=1) + "\n")
    lines = [(f"# decode throughput, {report['n']} PNGs {report['mode']} "
             f"{report['size']}x{report['size']}, batch {BATCH}, shuffled, {report['reps']} passes"),
             "", f"command: `{report['command']}`", "",
             ("| decoding processes | convolve | torch | convolve img/s | torch img/s "
              "| ratio (min-max) |"),
             "|---|---|---|---|---|---|"]
    for case in report["cases"].values():
        w = case["convolve_workers"]
        procs = "1 (main)" if w == 0 else str(w)
        lines.append(f"| {procs} | workers={w} | num_workers={w} | {case['convolve_median']:,.0f} | "
                     f"{case['torch_median']:,.0f} | {case['ratio_median']:.2f} "
                     f"({case['ratio_min']:.2f}-{case['ratio_max']:.2f}) |")
    lines += ["", f"load average before/after: {report['load_before']} / {report['load_after']}"]
    (out / "bench_decode.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20000)
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--mode", choices=("L", "RGB"), default="RGB")
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--cases", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--root", type=Path, default=None)
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--quick", action="store_true", help="2,000 images, 1 pass")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.reps = 2000, 1
    import torch

    torch.set_num_threads(1)
    root = args.root or Path(tempfile.gettempdir()) / f"convolve-pngs-{args.n}-{args.size}-{args.mode}"
    t0 = time.perf_counter()
    make_folder(root, args.n, args.size, args.mode)
    for path in root.glob("c*/*.png"):  # warm the page cache: no pass reads from the disk
        path.read_bytes()
    report = {"n": args.n, "size": args.size, "mode": args.mode, "reps": args.reps,
              "batch": BATCH, "folder_seconds": time.perf_counter() - t0,
              "command": " ".join(["python benchmarks/bench_decode.py", *(argv or sys.argv[1:])]),
              "python": platform.python_version(), "torch": torch.__version__,
              "cpus": os.cpu_count(), "load_before": [round(v, 2) for v in os.getloadavg()],
              "cases": {}}
    for w in args.cases:
        report["cases"][str(w)] = case = run_case(root, args.mode, w, args.reps, args.n)
        print(f"{w} worker(s): convolve {case['convolve_median']:,.0f} img/s, torch "
              f"{case['torch_median']:,.0f} img/s, ratio {case['ratio_median']:.2f}", flush=True)
    report["load_after"] = [round(v, 2) for v in os.getloadavg()]
    write(report, args.out)
    return report


if __name__ == "__main__":
    main()
