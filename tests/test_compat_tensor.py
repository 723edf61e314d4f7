"""PyTorch compatibility of tensors: dtype inference and promotion, top-level constructors,
and the Tensor methods training scripts use, each compared against torch 2.13."""

import operator

import numpy as np
import pytest

import convolve as cv


def _tdt(torch, np_dtype):
    return getattr(torch, np.dtype(np_dtype).name)


def _same_dtype(ours, theirs):
    assert str(theirs) == f"torch.{np.dtype(ours).name}", (ours, theirs)


# ---------------------------------------------------------------- dtype inference
INFER = [1, 2.5, True, [1, 2], [1.0, 2], [True, False], [True, 2], [[1, 2], [3, 4]],
         np.array([1, 2]), np.array([1, 2], np.int32), np.array([1], np.uint8),
         np.array([1.0], np.float16), np.array([1.0]), np.array([True]), np.int64(3),
         np.float64(2.0), np.float32(2.0), np.int32(4)]


@pytest.mark.parametrize("data", INFER, ids=repr)
def test_tensor_infers_dtype_like_torch(torch, data):
    ours, theirs = cv.tensor(data), torch.tensor(data)
    _same_dtype(ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "uint8", "bool"])
def test_dtype_names_match_torch(torch, dtype):
    assert getattr(cv, dtype) == np.dtype(dtype)
    _same_dtype(cv.tensor([1, 0], dtype=getattr(cv, dtype)).dtype,
                torch.tensor([1, 0], dtype=getattr(torch, dtype)).dtype)


@pytest.mark.parametrize("alias", ["float", "double", "long", "int", "half", "short"])
def test_dtype_aliases_match_torch(torch, alias):
    assert str(getattr(torch, alias)) == f"torch.{getattr(cv, alias).name}"


# ---------------------------------------------------------------- promotion
OPERANDS = {  # name -> (array or Python number)
    "f32": np.array([1.5, -2.0], np.float32),
    "f64": np.array([0.5, 3.0]),
    "i64": np.array([3, -4]),
    "i32": np.array([5, 6], np.int32),
    "u8": np.array([7, 2], np.uint8),
    "b": np.array([True, True]),
    "f64_0d": np.array(2.0),
    "i64_0d": np.array(3),
    "f32_0d": np.array(1.5, np.float32),
    "pyint": 2,
    "pyfloat": 0.5,
}
PAIRS = [("f32", "f64"), ("i64", "f32"), ("i64", "pyfloat"), ("i64", "pyint"), ("i32", "i64"),
         ("u8", "pyint"), ("u8", "i32"), ("b", "pyint"), ("b", "i64"), ("f32", "f64_0d"),
         ("i64", "f64_0d"), ("i32", "i64_0d"), ("f32", "i64"), ("pyfloat", "i64"),
         ("f64_0d", "f32"), ("b", "pyfloat"), ("f32_0d", "f64_0d"), ("i64_0d", "pyfloat"),
         ("f64", "pyint"), ("u8", "b")]
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
       "truediv": operator.truediv, "eq": operator.eq, "lt": operator.lt, "ge": operator.ge}


def _make(lib, value):
    return value if isinstance(value, (int, float)) else lib.tensor(value)


CASES = [(op, pair) for op in OPS for pair in PAIRS
         if not (op == "sub" and "b" in pair)]  # PyTorch refuses subtracting bool tensors


@pytest.mark.parametrize(("op", "pair"), CASES, ids=lambda c: "-".join(c) if isinstance(c, tuple)
                         else c)
def test_mixed_arithmetic_promotes_like_torch(torch, op, pair):
    a, b = (OPERANDS[k] for k in pair)
    ours = OPS[op](_make(cv, a), _make(cv, b))
    theirs = OPS[op](_make(torch, a), _make(torch, b))
    _same_dtype(ours.dtype, theirs.dtype)
    assert ours.shape == tuple(theirs.shape)
    np.testing.assert_allclose(ours.numpy().astype(np.float64),
                               theirs.numpy().astype(np.float64), rtol=1e-6)


def test_gradient_flows_through_a_promoted_operand(torch):
    x = cv.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    w = cv.tensor(np.array([0.5, 1.5]), requires_grad=True)  # float64
    (x * w * cv.tensor([2, 3])).sum().backward()
    tx = torch.tensor(np.array([1.0, 2.0], np.float32), requires_grad=True)
    tw = torch.tensor(np.array([0.5, 1.5]), requires_grad=True)
    (tx * tw * torch.tensor([2, 3])).sum().backward()
    for ours, theirs in ((x, tx), (w, tw)):
        _same_dtype(ours.grad.dtype, theirs.grad.dtype)
        np.testing.assert_allclose(ours.grad, theirs.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("data", [[1, 2], [True, False], np.array([1], np.uint8)], ids=repr)
def test_integer_tensors_cannot_require_grad(torch, data):
    with pytest.raises(RuntimeError) as theirs:
        torch.tensor(data, requires_grad=True)
    with pytest.raises(RuntimeError, match="only floating tensors can require gradients"):
        cv.tensor(data, requires_grad=True)
    with pytest.raises(TypeError):  # also a TypeError (convolve's rule for bad input)
        cv.tensor(data).requires_grad_()
    assert "floating" in str(theirs.value)


@pytest.mark.parametrize("data", [np.array([3, 4], np.uint8), [True, False, True], [2, 5]],
                         ids=repr)
def test_integer_and_bool_sums_are_int64_like_torch(torch, data):
    ours, theirs = cv.tensor(data).sum(), torch.tensor(data).sum()
    _same_dtype(ours.dtype, theirs.dtype)
    assert ours.item() == theirs.item()


def test_mean_of_integers_is_refused_like_torch(torch):
    with pytest.raises(RuntimeError, match="mean"):
        torch.tensor([1, 2]).mean()
    with pytest.raises(RuntimeError, match=r"mean: input dtype must be floating.*int64"):
        cv.tensor([1, 2]).mean()


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
def test_losses_take_int64_tensor_targets(torch, loss):
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = [0, 2, 1, 2]
    ours = getattr(cv.nn.functional, loss)(cv.tensor(x), cv.tensor(y))
    theirs = getattr(torch.nn.functional, loss)(torch.tensor(x), torch.tensor(y))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-9)


def test_comparisons_give_bool_tensors(torch):
    a = cv.tensor([1.0, 2.0, 3.0])
    for r in (a == 2, a != 2, a < 2, a >= cv.tensor([1, 5, 0])):
        assert r.dtype == np.bool_
