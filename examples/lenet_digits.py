"""Train LeNet-5 with Adam on scikit-learn's 8x8 digits and print the test accuracy.

    python examples/lenet_digits.py [--epochs 30] [--seed 0]

The model is written out layer by layer, as one would in PyTorch, and trained with a
hand-written loop: this is the engine alone, without convolve.train.
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import convolve as cv
import convolve.nn.functional as F
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
    ap.add_argument("--epochs", type=int, default=30)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32)[:, None]  # (1797, 1, 8, 8) in [0, 1]
    y = digits.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y,
                                              random_state=args.seed)
    cv.manual_seed(args.seed)
    model = lenet5()
    opt = optim.Adam(model.parameters(), lr=args.lr)
    rng = np.random.default_rng(args.seed)
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
    model.eval()
    with cv.no_grad():
        pred = model(cv.tensor(x_te)).data.argmax(axis=1)
    acc = float((pred == y_te).mean())
    print(f"LeNet-5 on digits: {args.epochs} epochs, {time.perf_counter() - t0:.1f} s, "
          f"test accuracy {acc:.2%} ({int((pred == y_te).sum())}/{len(y_te)})")


if __name__ == "__main__":
    main()
