"""Evaluate the model that mnist_example.py saved (mnist_cnn.pt) on the test split, with the
example's own Net and test(). Plain PyTorch code: tests/compat runs it under convolve on a
file written by PyTorch, to show the same weights score the same."""
import torch
from mnist_example import Net, load_split, test
from torch.utils.data import DataLoader

model = Net()
model.load_state_dict(torch.load("mnist_cnn.pt", weights_only=True))
loader = DataLoader(load_split("mnist_test.npz"), batch_size=1000)
accuracy = test(model, torch.device("cpu"), loader)
print(f"final test accuracy: {accuracy:.4f}")
