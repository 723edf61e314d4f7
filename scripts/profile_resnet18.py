"""Scratch profile: a torchvision-style ResNet-18 (7x7 s2 stem, max-pool; 32x32 inputs,
B=32, SGD momentum) training step, convolve vs PyTorch in the same process on 12 distinct
batches (torch, convolve, torch, convolve; ratio of the better mean step of each), then
optionally cProfile of convolve's steps. The official benchmark is benchmarks/vs_torch.py.

    PYTHONPATH=src python scripts/profile_resnet18.py THREADS STEPS [profile]
"""
import cProfile
import pstats
import sys
import time

import numpy as np
import torch
from threadpoolctl import threadpool_limits

import convolve as cv
from convolve import nn

threads, steps = int(sys.argv[1]), int(sys.argv[2])
prof = len(sys.argv) > 3


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU()
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (x if self.down is None else self.down(x)))


def cv_resnet18():
    layers = [nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [Block(cin, cout, s), Block(cout, cout, 1)]
        cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(512, 10)]
    return nn.Sequential(*layers)


class TBlock(torch.nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        T = torch.nn
        self.conv1, self.bn1 = T.Conv2d(cin, cout, 3, stride, 1, bias=False), T.BatchNorm2d(cout)
        self.conv2, self.bn2 = T.Conv2d(cout, cout, 3, 1, 1, bias=False), T.BatchNorm2d(cout)
        self.down = T.Sequential(T.Conv2d(cin, cout, 1, stride, bias=False), T.BatchNorm2d(cout)) \
            if stride != 1 or cin != cout else None

    def forward(self, x):
        y = torch.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return torch.relu(y + (x if self.down is None else self.down(x)))


def torch_resnet18():
    T = torch.nn
    layers = [T.Conv2d(3, 64, 7, 2, 3, bias=False), T.BatchNorm2d(64), T.ReLU(), T.MaxPool2d(3, 2, 1)]
    cin = 64
    for cout, s in ((64, 1), (128, 2), (256, 2), (512, 2)):
        layers += [TBlock(cin, cout, s), TBlock(cout, cout, 1)]
        cin = cout
    layers += [T.AdaptiveAvgPool2d(1), T.Flatten(), T.Linear(512, 10)]
    return T.Sequential(*layers)


rng = np.random.default_rng(0)
batches = [(rng.standard_normal((32, 3, 32, 32)).astype(np.float32), rng.integers(0, 10, 32)) for _ in range(12)]
torch.set_num_threads(threads)

def run_cv():
    model = cv_resnet18()
    opt = cv.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = nn.CrossEntropyLoss()
    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(cv.tensor(x)), cv.tensor(y, dtype=np.int64))
        loss.backward()
        opt.step()
    return step

def run_torch():
    model = torch_resnet18()
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    lossf = torch.nn.CrossEntropyLoss()
    def step(x, y):
        opt.zero_grad()
        loss = lossf(model(torch.from_numpy(x)), torch.from_numpy(y))
        loss.backward()
        opt.step()
    return step

with threadpool_limits(threads):
    res = {}
    for name, mk in (("torch", run_torch), ("convolve", run_cv), ("torch2", run_torch), ("convolve2", run_cv)):
        step = mk()
        step(*batches[0])  # warm
        t = time.perf_counter()
        times = []
        for i in range(steps):
            t0 = time.perf_counter(); step(*batches[i % 12]); times.append(time.perf_counter() - t0)
        res[name] = (np.mean(times), np.median(times))
        print(f"{name}: mean {np.mean(times)*1e3:.1f} ms  median {np.median(times)*1e3:.1f} ms", flush=True)
    tt = min(res["torch"][0], res["torch2"][0]); cc = min(res["convolve"][0], res["convolve2"][0])
    print(f"threads={threads}: throughput ratio convolve/torch = {tt/cc:.2f} (mean step {cc*1e3:.1f} vs {tt*1e3:.1f} ms)")
    if prof:
        step = run_cv(); step(*batches[0])
        pr = cProfile.Profile(); pr.enable()
        for i in range(steps):
            step(*batches[i % 12])
        pr.disable()
        pstats.Stats(pr).sort_stats("tottime").print_stats(25)
