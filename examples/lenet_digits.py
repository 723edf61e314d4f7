"""Train LeNet-5 with Adam on scikit-learn's 8x8 digits and print the test accuracy.

    python examples/lenet_digits.py [--epochs 40] [--seeds 0 1 2 3 4]

Uses convolve.data's fixed stratified digits split (1,438 train / 359 test); each seed
changes the initialisation and the batch order, not the split.

The model is written out layer by layer, as one would in PyTorch, and trained with a
hand-written loop: this is the engine alone, without convolve.train.
"""

import argparse
import time

import convolve.nn.functional as F
import numpy as np

import convolve as cv
from convolve import nn, optim


def lenet5(num_classes: int = 10) -> nn.Module:
    # 1x8x8 -> conv 6@5x5 (pad 2) -> 6x8x8 -> pool -> 6x4x4 -> conv 16@3x3 (pad 1) -> pool -> 16x2x2
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(6, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(16 * 2 * 2, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, num_classes),
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    args = ap.parse_args()
    split = cv.data.load_digits()  # (N, 1, 8, 8) float32 in [0, 1], int64 labels
    accs = [train_once(split, args, seed) for seed in args.seeds]
    print(f"mean test accuracy over {len(accs)} seeds: {np.mean(accs):.2%} "
          f"(min {min(accs):.2%}, max {max(accs):.2%})")


def train_once(split, args, seed: int) -> float:
    x_tr, y_tr, x_te, y_te = split.x_train, split.y_train, split.x_test, split.y_test
    cv.manual_seed(seed)
    model = lenet5()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = optim.lr_scheduler.CosineAnnealingLR(opt, T_max=args.epochs)
    rng = np.random.default_rng(seed)
    t0 = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = rng.permutation(len(x_tr))
        for i in range(0, len(order), args.batch_size):
            idx = order[i:i + args.batch_size]
            loss = F.cross_entropy(model(cv.tensor(x_tr[idx])), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        sched.step()
    model.eval()
    with cv.no_grad():
        pred = model(cv.tensor(x_te)).data.argmax(axis=1)
    acc = float((pred == y_te).mean())
    print(f"seed {seed}: {args.epochs} epochs in {time.perf_counter() - t0:.1f} s, "
          f"test accuracy {acc:.2%} ({int((pred == y_te).sum())}/{len(y_te)})", flush=True)
    return acc


if __name__ == "__main__":
    main()
