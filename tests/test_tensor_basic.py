import numpy as np

import convolve as cv
from helpers import gradcheck


def test_long_chain_backward_no_recursion():
    x = cv.tensor([1.0, 2.0], requires_grad=True, dtype=np.float64)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, np.full(2, 1.0001**10_000), rtol=1e-9)


def test_broadcast_arithmetic_gradcheck(rng):
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((4,)) + 3
    gradcheck(lambda a, b: (a * b + a / b - b ** 2) @ cv.tensor(np.ones((4, 2))), a, b)


def test_dtype_rules_follow_pytorch(torch):
    cases = [[1.0, 2.0], 1.5, [1, 2], np.ones(2), np.ones(2, np.float32), np.float64(2.0),
             np.arange(3), 3, True, [True, False], [1, 2.5], [True, 2], np.array([1], np.int32),
             np.array([1], np.uint8), np.array([True]), np.float16(1.0)]
    for data in cases:
        ours = cv.tensor(data).dtype
        theirs = torch.tensor(data).dtype
        assert str(theirs) == f"torch.{ours}", (data, ours, theirs)
