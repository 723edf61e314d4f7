"""One epoch of DataLoader iteration, convolve.utils.data vs torch.utils.data, same process,
alternating, best of 5: TensorDataset (vectorised path) and a per-sample NumPy dataset."""
import time

import numpy as np
import torch

from convolve.utils import data as D

torch.set_num_threads(1)
rng = np.random.default_rng(0)
x = rng.random((20000, 3, 32, 32), dtype=np.float32)
y = rng.integers(0, 10, 20000)


class Images:
    def __len__(self):
        return 5000

    def __getitem__(self, i):
        return x[i], int(y[i])


def epoch(loader):
    t = time.perf_counter()
    for xb, yb in loader:
        pass
    return time.perf_counter() - t


cases = {
    "TensorDataset bs128 shuffle": (
        D.DataLoader(D.TensorDataset(x, y), batch_size=128, shuffle=True),
        torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.from_numpy(x), torch.from_numpy(y)),
                                    batch_size=128, shuffle=True)),
    "per-sample numpy dataset bs64 shuffle": (
        D.DataLoader(Images(), batch_size=64, shuffle=True),
        torch.utils.data.DataLoader(Images(), batch_size=64, shuffle=True)),
}
for name, (ours, theirs) in cases.items():
    a, b = [], []
    for _ in range(5):
        a.append(epoch(ours)); b.append(epoch(theirs))
    print(f"{name}: convolve {min(a)*1e3:.1f} ms, torch {min(b)*1e3:.1f} ms, ratio torch/convolve {min(b)/min(a):.2f}")
