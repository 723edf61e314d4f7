"""One benchmark process: runs one case for one framework and prints one JSON line.

    python benchmarks/worker.py --framework convolve|torch --case lenet_b128|...|gemm|first_step

Run by benchmarks/vs_torch.py, which starts these workers alternately and aggregates. A
training case trains as users do: the model, optimizer (Adam, lr 1e-3, unless the case
says otherwise), batch size and thread count are the same for both frameworks; every step
takes the next of at least 12 distinct batches (generated before timing), and we report
the whole run (mean time per step) and the median step. ``convolve train`` is timed as a
whole command against the same loop written with PyTorch's DataLoader.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

T_START = time.perf_counter()
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

LENET = [("conv", 1, 6, 5, 2), ("relu",), ("pool", 2), ("conv", 6, 16, 5, 0), ("relu",),
         ("pool", 2), ("flatten",), ("fc", 400, 120), ("relu",), ("fc", 120, 84), ("relu",),
         ("fc", 84, 10)]
CIFAR = [("conv", 3, 32, 3, 1), ("relu",), ("conv", 32, 32, 3, 1), ("relu",), ("pool", 2),
         ("conv", 32, 64, 3, 1), ("relu",), ("conv", 64, 64, 3, 1), ("relu",), ("pool", 2),
         ("flatten",), ("fc", 64 * 8 * 8, 256), ("relu",), ("fc", 256, 10)]
# case -> (net, batch, input shape); nets are a layer list above or a convolve.zoo builder
TRAIN = {"lenet_b32": ("lenet", 32, (1, 28, 28)), "lenet_b128": ("lenet", 128, (1, 28, 28)),
         "lenet_b512": ("lenet", 512, (1, 28, 28)), "cifar_b64": ("cifar", 64, (3, 32, 32)),
         "resnet18_b32": ("resnet18", 32, (3, 32, 32)),
         "resnet18cifar_b32": ("resnet18_cifar", 32, (3, 32, 32)),
         "vggbn_b64": ("vgg_bn", 64, (3, 32, 32)),
         "mobilenet_b64": ("mobilenet_like", 64, (3, 32, 32))}
INFER = {"lenet_infer_b1": ("lenet", (1, 28, 28)), "cifar_infer_b1": ("cifar", (3, 32, 32)),
         "resnet18_infer_b1": ("resnet18", (3, 32, 32))}
DATA_BYTES = 96 << 20  # distinct batches are kept in memory: at most this much of them


class Framework:
    """The few calls the benchmark needs, for convolve or torch."""

    def __init__(self, name: str, threads: int):
        self.name = name
        if name == "torch":
            import torch

            torch.set_num_threads(threads)
            self.t, self.nn, self.F, self.optim = torch, torch.nn, torch.nn.functional, torch.optim
        else:
            import convolve.nn.functional as F

            import convolve
            from convolve import nn, optim

            self.t, self.nn, self.F, self.optim = convolve, nn, F, optim

    def tensor(self, a):
        """A tensor of a float array; convolve takes integer labels as arrays."""
        if self.name == "torch":
            return self.t.from_numpy(a)
        return self.t.tensor(a) if a.dtype.kind == "f" else a

    def build(self, net, seed=0):
        self.t.manual_seed(seed)
        if net in ("lenet", "cifar"):
            return self._sequential(LENET if net == "lenet" else CIFAR)
        from convolve import zoo

        return zoo.ZOO[net](num_classes=10, nn=self.nn)

    def _sequential(self, spec):
        nn, layers = self.nn, []
        make = {"conv": lambda s: nn.Conv2d(s[1], s[2], s[3], padding=s[4]),
                "relu": lambda s: nn.ReLU(), "pool": lambda s: nn.MaxPool2d(s[1]),
                "flatten": lambda s: nn.Flatten(), "fc": lambda s: nn.Linear(s[1], s[2])}
        for s in spec:
            layers.append(make[s[0]](s))
        return nn.Sequential(*layers)

    def no_grad(self):
        return self.t.no_grad()


def step_macs(model, fw, shape) -> float:
    """Multiply-adds of one forward pass of one sample through the convs and Linears."""
    total = [0]

    def hook(m, inputs, out):
        per_out = m.weight.shape[1] * int(np.prod(m.weight.shape[2:])) \
            if isinstance(m, fw.nn.Conv2d) else m.in_features
        total[0] += int(np.prod(out.shape[1:])) * per_out

    hooks = [m.register_forward_hook(hook) for m in model.modules()
             if isinstance(m, (fw.nn.Conv2d, fw.nn.Linear))]
    model.eval()
    with fw.no_grad():
        model(fw.tensor(np.zeros((1,) + shape, np.float32)))
    model.train()
    for h in hooks:
        h.remove()
    return float(total[0])


def batches(batch, shape, n, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((batch,) + shape).astype(np.float32),
             rng.integers(0, 10, size=batch).astype(np.int64)) for _ in range(n)]


def case_train(fw, case, min_time):
    net, batch, shape = TRAIN[case]
    model = fw.build(net)
    macs = step_macs(model, fw, shape)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)

    def step(x, y):
        opt.zero_grad()
        loss = fw.F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    for x, y in batches(batch, shape, 2, seed=2):  # warm-up: first calls, lazy kernels
        t0 = time.perf_counter()
        step(fw.tensor(x), fw.tensor(y))
    per_step = time.perf_counter() - t0
    cap = DATA_BYTES // (batch * int(np.prod(shape)) * 4)
    n_data = max(12, min(cap, int(min_time / per_step) + 1))
    data = [(fw.tensor(x), fw.tensor(y)) for x, y in batches(batch, shape, n_data)]
    times, start = [], time.perf_counter()
    for x, y in data:  # one pass over the distinct batches, like an epoch
        t0 = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t0)
    mean = (time.perf_counter() - start) / len(times)
    return {case: {"seconds": mean, "median_seconds": statistics.median(times),
                   "steps": len(times), "distinct_batches": n_data, "batch": batch,
                   "step_gflop": 6 * macs * batch / 1e9}}


def case_infer(fw, case, min_time):
    net, shape = INFER[case]
    model = fw.build(net)
    model.eval()
    xs = [fw.tensor(x) for x, _ in batches(1, shape, 16)]

    def run(x):
        with fw.no_grad():
            model(x)

    for x in xs[:5]:
        run(x)
    times, start = [], time.perf_counter()
    while len(times) < 32 or (time.perf_counter() - start < min_time / 2 and len(times) < 5000):
        t0 = time.perf_counter()
        run(xs[len(times) % len(xs)])
        times.append(time.perf_counter() - t0)
    return {case: {"seconds": statistics.median(times), "median_seconds": statistics.median(times),
                   "mean_seconds": (time.perf_counter() - start) / len(times)}}


def case_train_loop(fw, threads, epochs=3):
    """`convolve train` on mnist5k (LeNet-5, Adam, batch 64, checkpoints, test eval each
    epoch) against the same loop written in PyTorch with its DataLoader."""
    from convolve import data

    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        if fw.name == "convolve":
            from convolve import cli

            rc = cli.main(["train", "--model", "lenet5", "--data", "mnist5k", "--epochs",
                           str(epochs), "--batch-size", "64", "--out", out, "-q",
                           "--threads", str(threads)])
            if rc != 0:
                sys.exit(f"worker: convolve train failed with status {rc}")
        else:
            torch_train_loop(fw, data.load_dataset("mnist5k"), epochs, Path(out))
    sec = time.perf_counter() - t0
    steps = epochs * -(-4000 // 64)
    return {"train_cli_mnist5k": {"seconds": sec / steps, "median_seconds": sec / steps,
                                  "steps": steps, "whole_run_seconds": sec}}


def torch_train_loop(fw, split, epochs, out: Path):
    torch, nn = fw.t, fw.nn
    torch.manual_seed(0)
    model = fw._sequential(LENET)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    tds = torch.utils.data.TensorDataset
    train = torch.utils.data.DataLoader(tds(torch.from_numpy(split.x_train),
                                            torch.from_numpy(split.y_train)),
                                        batch_size=64, shuffle=True)
    test = torch.utils.data.DataLoader(tds(torch.from_numpy(split.x_test),
                                           torch.from_numpy(split.y_test)), batch_size=64)
    best = float("inf")
    for _ in range(epochs):
        model.train()
        for x, y in train:
            opt.zero_grad()
            loss = nn.functional.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
        model.eval()
        with torch.no_grad():
            val = sum(nn.functional.cross_entropy(model(x), y, reduction="sum").item()
                      for x, y in test) / len(split.y_test)
        torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, out / "last.pt")
        if val < best:
            best = val
            torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, out / "best.pt")


def case_gemm(min_time):
    """NumPy float32 GEMM speed in this process: the ceiling for an im2col engine."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    a @ b
    times = []
    start = time.perf_counter()
    while len(times) < 5 or time.perf_counter() - start < min_time / 2:
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    sec = statistics.median(times)
    return {"numpy_sgemm_1024": {"seconds": sec, "gflops": 2 * 1024**3 / sec / 1e9}}


def case_first_step(fw):
    """Wall time from interpreter start to the end of the first LeNet training step."""
    model = fw.build("lenet")
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    ((x, y),) = batches(32, (1, 28, 28), 1)
    loss = fw.F.cross_entropy(model(fw.tensor(x)), fw.tensor(y))
    loss.backward()
    opt.step()
    return {"first_step": {"seconds_since_worker_start": time.perf_counter() - T_START}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--framework", choices=["convolve", "torch"], required=True)
    ap.add_argument("--case", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    c = args.case
    if c == "gemm":
        res = case_gemm(args.min_time)
    else:
        fw = Framework(args.framework, args.threads)
        if c in TRAIN:
            res = case_train(fw, c, args.min_time)
        elif c in INFER:
            res = case_infer(fw, c, args.min_time)
        elif c == "train_cli_mnist5k":
            res = case_train_loop(fw, args.threads)
        elif c == "first_step":
            res = case_first_step(fw)
        else:
            sys.exit(f"worker: unknown case {c!r}")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"framework": args.framework, "case": c, "results": res,
                      "peak_rss_mib": rss_kib / 1024}))


if __name__ == "__main__":
    main()
