"""LeNet in the manner of a textbook chapter (the batch-normalised LeNet): an nn.Sequential
of sigmoid convolutions with BatchNorm and average pooling, Xavier initialisation through
net.apply, an Accumulator, an accuracy helper on argmax, evaluation on the model's device
and a train function.

Written for convolve's compat tests (plain PyTorch code: tests/compat rewrites only the
imports). Data: mnist_train.npz / mnist_test.npz in the working directory.
"""
import os
import time

import numpy as np
import torch
from torch import nn
from torch.utils import data


class Accumulator:
    """For accumulating sums over `n` variables."""

    def __init__(self, n):
        self.data = [0.0] * n

    def add(self, *args):
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self):
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


def try_gpu(i=0):
    """Return gpu(i) if it exists, otherwise return cpu()."""
    if torch.cuda.device_count() >= i + 1:
        return torch.device(f"cuda:{i}")
    return torch.device("cpu")


def get_dataloader_workers():
    """Use 2 processes to read the data."""
    return 2


def load_data_mnist(batch_size):
    """Load the digits into memory and wrap them in data loaders."""
    def dataset(path):
        arrays = np.load(path)
        return data.TensorDataset(torch.tensor(arrays["x"]), torch.tensor(arrays["y"]))
    return (data.DataLoader(dataset("mnist_train.npz"), batch_size, shuffle=True,
                            num_workers=get_dataloader_workers()),
            data.DataLoader(dataset("mnist_test.npz"), batch_size, shuffle=False,
                            num_workers=get_dataloader_workers()))


def accuracy(y_hat, y):
    """Compute the number of correct predictions."""
    if len(y_hat.shape) > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(axis=1)
    cmp = y_hat.type(y.dtype) == y
    return float(cmp.type(y.dtype).sum())


def evaluate_accuracy_gpu(net, data_iter, device=None):
    """Compute the accuracy for a model on a dataset using a GPU."""
    if isinstance(net, nn.Module):
        net.eval()  # Set the model to evaluation mode
        if not device:
            device = next(iter(net.parameters())).device
    # No. of correct predictions, no. of predictions
    metric = Accumulator(2)
    with torch.no_grad():
        for X, y in data_iter:
            if isinstance(X, list):
                X = [x.to(device) for x in X]
            else:
                X = X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    return metric[0] / metric[1]


def train_ch6(net, train_iter, test_iter, num_epochs, lr, device):
    """Train a model with a GPU."""
    def init_weights(m):
        if type(m) == nn.Linear or type(m) == nn.Conv2d:
            nn.init.xavier_uniform_(m.weight)
    net.apply(init_weights)
    print("training on", device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    start = time.perf_counter()
    for epoch in range(num_epochs):
        # Sum of training loss, sum of training accuracy, no. of examples
        metric = Accumulator(3)
        net.train()
        for i, (X, y) in enumerate(train_iter):
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            y_hat = net(X)
            l = loss(y_hat, y)
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            train_l = metric[0] / metric[2]
            train_acc = metric[1] / metric[2]
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        print(f"epoch {epoch + 1}, loss {train_l:.3f}, train acc {train_acc:.3f}, "
              f"test acc {test_acc:.3f}")
    print(f"{metric[2] * num_epochs / (time.perf_counter() - start):.1f} examples/sec "
          f"on {device}")
    return test_acc


torch.manual_seed(int(os.environ.get("SEED", "1")))
net = nn.Sequential(
    nn.Conv2d(1, 6, kernel_size=5, padding=2), nn.BatchNorm2d(6), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Conv2d(6, 16, kernel_size=5), nn.BatchNorm2d(16), nn.Sigmoid(),
    nn.AvgPool2d(kernel_size=2, stride=2),
    nn.Flatten(),
    nn.Linear(16 * 5 * 5, 120), nn.BatchNorm1d(120), nn.Sigmoid(),
    nn.Linear(120, 84), nn.BatchNorm1d(84), nn.Sigmoid(),
    nn.Linear(84, 10))

X = torch.rand(size=(2, 1, 28, 28), dtype=torch.float32)
for layer in net:
    X = layer(X)
    print(layer.__class__.__name__, "output shape: \t", X.shape)

batch_size = 32
train_iter, test_iter = load_data_mnist(batch_size=batch_size)
lr, num_epochs = 0.3, 3
test_acc = train_ch6(net, train_iter, test_iter, num_epochs, lr, try_gpu())
print(f"final test accuracy: {test_acc:.4f}")
