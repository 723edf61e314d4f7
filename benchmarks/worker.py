"""One benchmark process: runs one group of cases for one framework and prints JSON.

    python benchmarks/worker.py --framework convolve|torch --group lenet_b32|...|micro|first_step

Run by benchmarks/vs_torch.py, which starts these workers alternately and aggregates.
The models, data shapes, batch sizes, optimizer (Adam, lr 1e-3) and thread count are
the same for both frameworks.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time

import numpy as np

T_START = time.perf_counter()

LENET = [("conv", 1, 6, 5, 2), ("relu",), ("pool", 2), ("conv", 6, 16, 5, 0), ("relu",),
         ("pool", 2), ("flatten",), ("fc", 400, 120), ("relu",), ("fc", 120, 84), ("relu",),
         ("fc", 84, 10)]
CIFAR = [("conv", 3, 32, 3, 1), ("relu",), ("conv", 32, 32, 3, 1), ("relu",), ("pool", 2),
         ("conv", 32, 64, 3, 1), ("relu",), ("conv", 64, 64, 3, 1), ("relu",), ("pool", 2),
         ("flatten",), ("fc", 64 * 8 * 8, 256), ("relu",), ("fc", 256, 10)]
NETS = {"lenet": (LENET, (1, 28, 28)), "cifar": (CIFAR, (3, 32, 32))}

# (name, N, C_in, H, C_out, k, pad) at the layer shapes of the LeNet (batch 128) and CIFAR
# (batch 64) training cases
CONV_SHAPES = [("lenet.conv1", 128, 1, 28, 6, 5, 2), ("lenet.conv2", 128, 6, 14, 16, 5, 0),
               ("cifar.conv1", 64, 3, 32, 32, 3, 1), ("cifar.conv2", 64, 32, 32, 32, 3, 1),
               ("cifar.conv3", 64, 32, 16, 64, 3, 1), ("cifar.conv4", 64, 64, 16, 64, 3, 1)]
POOL_SHAPES = [("lenet.pool1", 128, 6, 28), ("lenet.pool2", 128, 16, 10),
               ("cifar.pool1", 64, 32, 32), ("cifar.pool2", 64, 64, 16)]


class Framework:
    """The few calls the benchmark needs, for convolve or torch."""

    def __init__(self, name: str, threads: int):
        self.name = name
        if name == "torch":
            import torch

            torch.set_num_threads(threads)
            self.t = torch
            self.nn = torch.nn
            self.F = torch.nn.functional
            self.optim = torch.optim
        else:
            import convolve.nn.functional as F

            import convolve
            from convolve import nn, optim

            self.t = convolve
            self.nn, self.F, self.optim = nn, F, optim

    def tensor(self, a, requires_grad=False):
        return self.t.tensor(a, requires_grad=requires_grad)

    def labels(self, y):
        return self.t.from_numpy(y) if self.name == "torch" else y

    def build(self, spec):
        nn = self.nn
        layers = []
        for s in spec:
            if s[0] == "conv":
                layers.append(nn.Conv2d(s[1], s[2], s[3], padding=s[4]))
            elif s[0] == "relu":
                layers.append(nn.ReLU())
            elif s[0] == "pool":
                layers.append(nn.MaxPool2d(s[1]))
            elif s[0] == "flatten":
                layers.append(nn.Flatten())
            else:
                layers.append(nn.Linear(s[1], s[2]))
        return nn.Sequential(*layers)

    def no_grad(self):
        return self.t.no_grad()


def timeit(fn, min_time=1.0, min_reps=5, warmup=3):
    for _ in range(warmup):
        fn()
    times = []
    start = time.perf_counter()
    while len(times) < min_reps or time.perf_counter() - start < min_time:
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
        if len(times) >= 200:
            break
    return statistics.median(times)


def train_step_fn(fw, net, batch, seed=0):
    spec, shape = NETS[net]
    model = fw.build(spec)
    opt = fw.optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    x = fw.tensor(rng.standard_normal((batch,) + shape).astype(np.float32))
    y = fw.labels(rng.integers(0, 10, size=batch).astype(np.int64))

    def step():
        opt.zero_grad()
        loss = fw.F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()

    return step


def group_train(fw, net, batch, min_time):
    step = train_step_fn(fw, net, batch)
    sec = timeit(step, min_time=min_time)
    return {f"{net}_train_b{batch}": {"seconds": sec, "throughput": batch / sec}}


def group_infer(fw, min_time):
    out = {}
    rng = np.random.default_rng(0)
    for net, (spec, shape) in NETS.items():
        model = fw.build(spec)
        model.eval()
        x = fw.tensor(rng.standard_normal((1,) + shape).astype(np.float32))

        def run(model=model, x=x):
            with fw.no_grad():
                model(x)

        sec = timeit(run, min_time=min_time / 2, warmup=10)
        out[f"{net}_infer_b1"] = {"seconds": sec, "throughput": 1 / sec}
    return out


def group_micro(fw, min_time):
    out = {}
    rng = np.random.default_rng(0)
    F = fw.F
    for name, n, c, h, oc, k, p in CONV_SHAPES:
        x = fw.tensor(rng.standard_normal((n, c, h, h)).astype(np.float32), requires_grad=True)
        w = fw.tensor(rng.standard_normal((oc, c, k, k)).astype(np.float32) * 0.1,
                      requires_grad=True)
        b = fw.tensor(np.zeros(oc, np.float32), requires_grad=True)
        _micro(fw, out, f"conv2d[{name}]", lambda x=x, w=w, b=b, p=p: F.conv2d(x, w, b, padding=p),
               min_time)
    for name, n, c, h in POOL_SHAPES:
        x = fw.tensor(rng.standard_normal((n, c, h, h)).astype(np.float32), requires_grad=True)
        _micro(fw, out, f"max_pool2d[{name}]", lambda x=x: F.max_pool2d(x, 2), min_time)
    return out


def _micro(fw, out, name, forward, min_time):
    y = forward()
    g = fw.tensor(np.ones(tuple(y.shape), np.float32))

    def both():
        forward().backward(g)

    fwd = timeit(forward, min_time=min_time / 4)
    total = timeit(both, min_time=min_time / 4)
    out[name + ".forward"] = {"seconds": fwd, "throughput": 1 / fwd}
    out[name + ".forward+backward"] = {"seconds": total, "throughput": 1 / total}


def group_gemm(min_time):
    """NumPy float32 GEMM speed in this process: the ceiling for an im2col engine."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((1024, 1024)).astype(np.float32)
    b = rng.standard_normal((1024, 1024)).astype(np.float32)
    sec = timeit(lambda: a @ b, min_time=min_time / 2)
    return {"numpy_sgemm_1024": {"seconds": sec, "gflops": 2 * 1024**3 / sec / 1e9}}


def group_first_step(fw):
    """Wall time from interpreter start to the end of the first LeNet training step."""
    step = train_step_fn(fw, "lenet", 32)
    step()
    return {"first_step": {"seconds_since_worker_start": time.perf_counter() - T_START}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--framework", choices=["convolve", "torch"], required=True)
    ap.add_argument("--group", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--min-time", type=float, default=1.0)
    args = ap.parse_args()
    fw = Framework(args.framework, args.threads)
    g = args.group
    if g.startswith(("lenet_b", "cifar_b")):
        net, batch = g.split("_b")
        res = group_train(fw, net, int(batch), args.min_time)
    elif g == "infer":
        res = group_infer(fw, args.min_time)
    elif g == "micro":
        res = group_micro(fw, args.min_time)
    elif g == "gemm":
        res = group_gemm(args.min_time)
    elif g == "first_step":
        res = group_first_step(fw)
    else:
        sys.exit(f"worker: unknown group {g!r}")
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"framework": args.framework, "group": g, "results": res,
                      "peak_rss_mib": rss_kib / 1024}))


if __name__ == "__main__":
    main()
