"""PyTorch compatibility of reductions that scripts count accuracy with: max/min over a dim
as (values, indices) named tuples, torch.max(a, b), argmax/argmin, var/std; values, indices,
dtypes and gradients compared against torch 2.13."""

import numpy as np
import pytest

import convolve as cv


def _same_dtype(ours, theirs):
    assert str(theirs) == f"torch.{np.dtype(ours).name}", (ours, theirs)


# ---------------------------------------------------------------- max / min over a dim
def _pair(torch, x, requires_grad=False):
    return (cv.tensor(x, requires_grad=requires_grad),
            torch.tensor(x, requires_grad=requires_grad))


TIED = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, -1.0, -1.0, 3.0], [-1.0, -1.0, 3.0, 2.0]])


@pytest.mark.parametrize("name", ["max", "min"])
@pytest.mark.parametrize(("dim", "keepdim"), [(0, False), (1, False), (-1, True), (1, True)])
@pytest.mark.parametrize("call", ["method", "function", "keyword"])
def test_max_min_over_a_dim_give_values_and_indices_like_torch(torch, name, dim, keepdim, call):
    x = TIED if name == "max" else -TIED
    (ours_in, theirs_in) = _pair(torch, x, requires_grad=True)
    if call == "method":
        ours, theirs = (getattr(t, name)(dim, keepdim) for t in (ours_in, theirs_in))
    elif call == "function":
        ours = getattr(cv, name)(ours_in, dim, keepdim)
        theirs = getattr(torch, name)(theirs_in, dim, keepdim)
    else:
        ours, theirs = (getattr(t, name)(dim=dim, keepdim=keepdim) for t in (ours_in, theirs_in))
    assert type(ours).__name__ == type(theirs).__name__ == name
    assert ours._fields == ("values", "indices")
    values, indices = ours  # unpacks as a pair, like torch.return_types
    np.testing.assert_array_equal(values.numpy(), theirs.values.detach().numpy())
    np.testing.assert_array_equal(indices.numpy(), theirs.indices.numpy())
    _same_dtype(indices.dtype, theirs.indices.dtype)
    assert values.shape == tuple(theirs.values.shape) == indices.shape
    w = np.arange(values.numel(), dtype=np.float64).reshape(values.shape) + 1
    (values * cv.tensor(w)).sum().backward()
    (theirs.values * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(ours_in.grad, theirs_in.grad.numpy())


def test_underscore_pred_unpacking_counts_accuracy_right_for_batch_of_two(torch):
    out = np.array([[0.1, 2.0, 0.3], [1.5, 0.2, 0.1]])  # predictions 1 and 0
    target = [1, 2]  # one right
    _, pred = cv.tensor(out).max(1)
    correct = (pred == cv.tensor(target)).sum().item()
    _, tpred = torch.tensor(out).max(1)
    assert correct == (tpred == torch.tensor(target)).sum().item() == 1
    assert pred.tolist() == [1, 0]
    # the classic MNIST forms
    p2 = cv.tensor(out).argmax(dim=1, keepdim=True)
    assert p2.eq(cv.tensor(target).view_as(p2)).sum().item() == 1
    assert cv.tensor(out).max(1, keepdim=True)[1].shape == (2, 1)
    # the CIFAR tutorial's form, on .data (an ndarray in convolve)
    _, predicted = cv.max(cv.tensor(out).data, 1)
    assert predicted.tolist() == tpred.tolist()


def test_max_with_nan_and_full_reductions_match_torch(torch):
    x = np.array([[1.0, np.nan, 2.0], [4.0, 3.0, 4.0]])
    ours, theirs = cv.tensor(x).max(1), torch.tensor(x).max(1)
    np.testing.assert_array_equal(ours.values.numpy(), theirs.values.numpy())
    np.testing.assert_array_equal(ours.indices.numpy(), theirs.indices.numpy())
    a, ta = _pair(torch, TIED, requires_grad=True)
    a.max().backward()
    ta.max().backward()
    np.testing.assert_array_equal(a.grad, ta.grad.numpy())  # ties share the gradient


@pytest.mark.parametrize("name", ["max", "min", "maximum", "minimum"])
def test_elementwise_max_of_two_tensors_matches_torch_with_ties(torch, name):
    a = np.array([1.0, 2.0, 3.0, -1.0])
    b = np.array([1.0, 3.0, 0.0, -1.0])
    oa, ta = _pair(torch, a, requires_grad=True)
    ob, tb = _pair(torch, b, requires_grad=True)
    ours, theirs = getattr(cv, name)(oa, ob), getattr(torch, name)(ta, tb)
    np.testing.assert_array_equal(ours.numpy(), theirs.detach().numpy())
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_array_equal(oa.grad, ta.grad.numpy())
    np.testing.assert_array_equal(ob.grad, tb.grad.numpy())
    if name in ("max", "min"):
        np.testing.assert_array_equal(getattr(oa, name)(ob).numpy(), theirs.detach().numpy())


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize(("dim", "keepdim"), [(None, False), (0, False), (1, True), (-1, False)])
def test_argmax_argmin_match_torch(torch, name, dim, keepdim):
    ours_in, theirs_in = _pair(torch, TIED)
    ours = getattr(ours_in, name)(dim=dim, keepdim=keepdim)
    theirs = getattr(theirs_in, name)(dim=dim, keepdim=keepdim)
    np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
    _same_dtype(ours.dtype, theirs.dtype)
    np.testing.assert_array_equal(getattr(cv, name)(ours_in, dim).numpy(),
                                  getattr(torch, name)(theirs_in, dim).numpy())


def test_max_over_a_dim_bad_input():
    x = cv.ones(2, 3)
    with pytest.raises(ValueError, match="max: dim 2 is out of range for a tensor of rank 2"):
        x.max(2)
    with pytest.raises(TypeError, match=r"min: dim must be an int \(use amin"):
        x.min((0, 1))
    with pytest.raises(ValueError, match=r"max: cannot reduce over dim 1 of size 0"):
        cv.ones(2, 0).max(1)


VAR_CASES = [((), {}), ((1,), {}), ((0,), {"keepdim": True}), (((0, 2),), {}),
             ((), {"unbiased": False}), ((-1,), {"correction": 0}), ((1, True), {}),
             ((1, False, True), {}), ((2,), {"correction": 2, "keepdim": True})]


@pytest.mark.parametrize("name", ["var", "std"])
@pytest.mark.parametrize(("args", "kwargs"), VAR_CASES, ids=repr)
def test_var_std_match_torch_with_gradients(torch, name, args, kwargs):
    x = np.random.default_rng(1).standard_normal((3, 4, 5))
    ours_in, theirs_in = _pair(torch, x, requires_grad=True)
    ours = getattr(ours_in, name)(*args, **kwargs)
    theirs = getattr(theirs_in, name)(*args, **kwargs)
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-9)
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(ours_in.grad, theirs_in.grad.numpy(), rtol=1e-9)
    np.testing.assert_allclose(getattr(cv, name)(cv.tensor(x), *args, **kwargs).numpy(),
                               theirs.detach().numpy(), rtol=1e-9)
