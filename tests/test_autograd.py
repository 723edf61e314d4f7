"""The graph walk (convolve.autograd): fan-out and residual sums done in place only when
no one else holds the array, leaf gradients that never alias, against PyTorch in float64."""

import numpy as np
import pytest

import convolve
from convolve import autograd
from convolve import nn as cnn


def _residual_graph(lib, x, w1, w2, relu):
    """h = relu(x @ w1); out = h + relu(h @ w2) + h * h; sum of out and of h."""
    h = relu(x @ w1)
    out = h + relu(h @ w2) + h * h
    return out.sum() + h.sum()


def test_fan_out_and_residual_sums_match_torch(torch, rng):
    arrays = [rng.standard_normal(s) for s in ((5, 4), (4, 4), (4, 4))]
    ours = [convolve.tensor(a, requires_grad=True) for a in arrays]
    ref = [torch.tensor(a, requires_grad=True) for a in arrays]
    _residual_graph(convolve, *ours, lambda t: t.relu()).backward()
    _residual_graph(torch, *ref, torch.relu).backward()
    for o, r in zip(ours, ref):
        np.testing.assert_allclose(o.grad, r.grad.numpy(), rtol=1e-12)


def test_leaf_grads_never_alias():
    a = convolve.tensor(np.ones(3), requires_grad=True)
    b = convolve.tensor(np.ones(3), requires_grad=True)
    (a + b).backward(np.full(3, 2.0))
    assert a.grad is not b.grad and not np.shares_memory(a.grad, b.grad)
    a.grad[0] = 100
    np.testing.assert_array_equal(b.grad, [2, 2, 2])


def test_user_gradient_is_not_mutated_or_kept():
    x = convolve.tensor(np.arange(3.0), requires_grad=True)
    y = x * 1.0
    z = y + y
    g = np.ones(3)
    z.backward(g)
    np.testing.assert_array_equal(g, np.ones(3))
    np.testing.assert_array_equal(x.grad, [2, 2, 2])
    assert not np.shares_memory(x.grad, g)


def test_retained_graph_accumulates(torch, rng):
    layer = cnn.Linear(4, 3, dtype=np.float64)
    x = convolve.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    loss = (layer(x).relu() + layer(x)).sum()
    loss.backward(retain_graph=True)
    first = layer.weight.grad.copy()
    loss.backward()
    np.testing.assert_allclose(layer.weight.grad, 2 * first, rtol=1e-12)
    tl = torch.nn.Linear(4, 3).double()
    tl.load_state_dict({k: torch.from_numpy(v) for k, v in layer.state_dict().items()})
    tx = torch.from_numpy(x.data)
    (torch.relu(tl(tx)) + tl(tx)).sum().backward()
    np.testing.assert_allclose(first, tl.weight.grad.numpy(), rtol=1e-12)


def test_sole_owner_rule():
    a = np.ones(4)
    assert autograd._sole(a, 1)
    view = a[:2]
    assert not autograd._sole(a, 1)  # a view holds a reference to a
    assert not autograd._sole(view, 1)  # a view does not own its memory
    del view
    b = a
    assert not autograd._sole(a, 1)
    del b
    a.flags.writeable = False
    assert not autograd._sole(a, 1)
    only_view = np.ones(6).reshape(2, 3)  # its base is held by nothing else
    assert autograd._sole(only_view, 1)
    held = np.ones(6)
    shared_view = held.reshape(2, 3)
    assert not autograd._sole(shared_view, 1)
    two_views = np.ones(6).reshape(2, 3)
    other = two_views.reshape(3, 2)  # also a view of the same base
    assert not autograd._sole(two_views, 1)
    del other


def test_unbroadcast_sums_stretched_axes():
    g = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_array_equal(autograd.unbroadcast(g, (3, 1)),
                                  g.sum(axis=0).sum(axis=1, keepdims=True))
    assert autograd.unbroadcast(g, (2, 3, 4)) is g


def test_second_backward_without_retain_raises():
    x = convolve.tensor(np.ones(2), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="second time"):
        y.backward()


def test_fresh_gradients_are_kept_and_held_ones_copied():
    from convolve.function import Function

    seen = {}

    class Fresh(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            out = (g * 2).reshape(-1).reshape(g.shape)  # a view whose base nobody else holds
            seen["fresh"] = out.__array_interface__["data"][0]  # the address, not a reference
            return out

    class Held(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            seen["held"] = g * 2  # the op keeps a reference: the leaf must get a copy
            return seen["held"]

    a = convolve.tensor(np.ones((2, 3)), requires_grad=True)
    b = convolve.tensor(np.ones((2, 3)), requires_grad=True)
    (Fresh.apply(a).sum() + Held.apply(b).sum()).backward()
    assert a.grad.__array_interface__["data"][0] == seen["fresh"]
    assert not np.shares_memory(b.grad, seen["held"])
    np.testing.assert_array_equal(a.grad, np.full((2, 3), 2.0))
    np.testing.assert_array_equal(b.grad, seen["held"])
