"""The core: Tensor and the autograd engine, reductions, shape ops, matmul/linear.
Finite differences (float64), PyTorch as the oracle, dtype rules, engine errors."""

import numpy as np
import pytest

import convolve as cv
import convolve.functional as F
from helpers import gradcheck

RTOL = 1e-9
ATOL = 1e-12


def _both(torch, a):
    return cv.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)


def _check_vs_torch(torch, rng, fn, tfn, *arrays):
    """fn on convolve tensors and tfn on torch tensors agree in value and in every gradient."""
    pairs = [_both(torch, a) for a in arrays]
    out = fn(*[p[0] for p in pairs])
    tout = tfn(*[p[1] for p in pairs])
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=RTOL, atol=ATOL)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for i, (c, t) in enumerate(pairs):
        np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=RTOL, atol=ATOL,
                                   err_msg=f"gradient of input {i}")


# ------------------------------------------------------------------ dtypes
def test_tensor_dtype_rules():
    assert cv.tensor([1, 2]).dtype == np.int64
    assert cv.tensor([1, 2.5]).dtype == np.float32
    assert cv.tensor(np.array([1, 2], np.int32)).dtype == np.int32
    assert cv.tensor([True, False]).dtype == np.bool_
    assert cv.tensor(np.ones(2, np.float64)).dtype == np.float64
    assert cv.tensor(np.ones(2, np.float32)).dtype == np.float32
    assert cv.tensor(np.ones(2, np.float16)).dtype == np.float16
    assert cv.tensor([1, 2], dtype=np.int64).dtype == np.int64
    assert cv.tensor(np.ones(2), dtype=np.float32).dtype == np.float32


def test_tensor_copies_its_input_and_basic_accessors():
    a = np.arange(6.0).reshape(2, 3)
    t = cv.tensor(a)
    a[0, 0] = 100
    assert t.data[0, 0] == 0
    assert t.shape == t.size() == (2, 3) and t.ndim == t.dim() == 2 and t.numel() == 6
    assert len(t) == 2 and t.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert t.numpy() is t.data and np.asarray(t) is t.data
    assert cv.tensor(3.5).item() == 3.5
    assert "requires_grad=True" in repr(cv.tensor([1.0], requires_grad=True))
    assert "grad_fn=<MulBackward>" in repr(cv.tensor([1.0], requires_grad=True) * 2)


def test_only_floating_tensors_require_grad():
    with pytest.raises(TypeError, match="only floating tensors can require gradients.*int64"):
        cv.tensor([1, 2], dtype=np.int64, requires_grad=True)
    with pytest.raises(TypeError, match="requires_grad_: tensor has non-floating dtype int64"):
        cv.tensor([1, 2], dtype=np.int64).requires_grad_()
    t = cv.tensor([1.0]).requires_grad_()
    assert t.requires_grad and t.is_leaf


def test_comparisons_are_elementwise_and_not_differentiable():
    t = cv.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    assert (t > 1.5).tolist() == [False, True, True]
    assert (t == cv.tensor(np.array([1.0, 0.0, 3.0]))).tolist() == [True, False, True]
    assert (t <= 2).tolist() == [True, True, False] and (t != 2).tolist() == [True, False, True]
    assert not (t < 2).requires_grad
    assert t.argmax().item() == 2


# ----------------------------------------------------------------- engine
def test_diamond_graph_gradients(rng, torch):
    def f(x, lib):
        y = x * 2
        return (y * y + y).sum() + lib.tanh(y).sum()

    x = rng.standard_normal((3, 2))
    _check_vs_torch(torch, rng, lambda a: f(a, F), lambda a: f(a, torch), x)


def test_same_tensor_twice_in_one_op():
    x = cv.tensor(np.array([3.0]), requires_grad=True)
    (x * x).backward()
    np.testing.assert_allclose(x.grad, [6.0])


def test_backward_twice_raises_unless_retain_graph():
    x = cv.tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time.*retain_graph"):
        y.backward()
    z = (x.exp() * 3).sum()
    x.grad = None
    z.backward(retain_graph=True)
    first = x.grad.copy()
    z.backward()
    np.testing.assert_allclose(x.grad, 2 * first, rtol=1e-15)  # gradients accumulate


def test_gradient_accumulates_across_backward_calls_and_zero_grad():
    x = cv.tensor(np.array([1.0, -2.0]), requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_allclose(x.grad, [3 + 2, 3 - 4])
    x.zero_grad()
    assert x.grad is None


def test_leaf_grad_does_not_alias_the_upstream_gradient():
    x = cv.tensor(np.ones(3), requires_grad=True)
    g = np.ones(3)
    (x + 0).backward(g)
    x.grad[0] = 5
    assert g[0] == 1


def test_backward_errors():
    x = cv.tensor(np.ones((2, 2)), requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match=r"grad can be implicitly created only for scalar.*\(2, 2\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"backward: gradient has shape \(3,\), expected \(2, 2\)"):
        y.backward(np.ones(3))
    with pytest.raises(RuntimeError, match="does not require grad"):
        cv.tensor([1.0]).backward()
    y.backward(cv.tensor(np.ones((2, 2))))  # a Tensor as the explicit gradient is fine
    np.testing.assert_allclose(x.grad, 2)


def test_no_grad_context_and_decorator():
    x = cv.tensor(np.ones(2), requires_grad=True)
    with cv.no_grad():
        assert not cv.is_grad_enabled()
        y = x * 2
        with cv.enable_grad():
            z = x * 2
    assert cv.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf and z.requires_grad

    @cv.no_grad()
    def f(t):
        return t * 3

    assert not f(x).requires_grad and cv.is_grad_enabled()
    with pytest.raises(KeyError), cv.no_grad():
        raise KeyError("boom")
    assert cv.is_grad_enabled()  # restored after an exception


def test_detach_cuts_the_graph():
    x = cv.tensor(np.array([1.0, 2.0]), requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.is_leaf
    np.testing.assert_array_equal(d.data, [2.0, 4.0])
    (x * d).sum().backward()
    np.testing.assert_allclose(x.grad, [2.0, 4.0])  # d is a constant


def test_chain_of_ten_thousand_ops_matches_torch(torch):
    a = np.array([0.3, -0.2, 0.5])
    c, t = _both(torch, a)
    yc, yt = c, t
    for i in range(10_000):
        k = (i % 3)
        if k == 0:
            yc, yt = yc * 0.9999 + 0.0001, yt * 0.9999 + 0.0001
        elif k == 1:
            yc, yt = F.tanh(yc) + yc * 0.5, torch.tanh(yt) + yt * 0.5
        else:
            yc, yt = yc / 1.5, yt / 1.5
    yc.sum().backward()
    yt.sum().backward()
    np.testing.assert_allclose(yc.data, yt.detach().numpy(), rtol=RTOL)
    np.testing.assert_allclose(c.grad, t.grad.numpy(), rtol=1e-8)


def test_ops_on_constants_record_nothing():
    out = cv.tensor(np.ones(2)) * 3 + 1
    assert not out.requires_grad and out._ctx is None


# ------------------------------------------------------------- reductions
@pytest.mark.parametrize("name", ["sum", "mean", "amax", "amin"])
@pytest.mark.parametrize("dim,keepdim", [(None, False), (0, False), (1, True), (-1, False),
                                         ((0, 2), False), ((0, 2), True), ((-1, 0), True)])
def test_reductions_match_torch(torch, rng, name, dim, keepdim):
    x = rng.standard_normal((3, 4, 2))
    tname = name

    def tfn(t):
        if dim is None:
            return getattr(torch, tname)(t)
        return getattr(torch, tname)(t, dim=dim, keepdim=keepdim)

    _check_vs_torch(torch, rng, lambda c: getattr(F, name)(c, dim, keepdim), tfn, x)
    gradcheck(lambda c: getattr(c, name)(dim, keepdim), x)


@pytest.mark.parametrize("name", ["amax", "amin"])
@pytest.mark.parametrize("dim", [None, 0, 1, (0, 1)])
def test_amax_amin_ties_split_gradient_evenly_like_torch(torch, rng, name, dim):
    x = np.array([[1.0, 3.0, 3.0, 0.0], [3.0, -1.0, -1.0, 3.0], [-1.0, -1.0, 3.0, 2.0]])
    if name == "amin":
        x = -x
    tname = name
    _check_vs_torch(torch, rng, lambda c: getattr(F, name)(c, dim),
                    lambda t: getattr(torch, tname)(t) if dim is None
                    else getattr(torch, tname)(t, dim=dim), x)


def test_reduction_bad_input():
    x = cv.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="sum: dim 2 is out of range for a tensor of rank 2"):
        x.sum(2)
    with pytest.raises(ValueError, match="mean: dim -3 is out of range"):
        x.mean(-3)
    with pytest.raises(ValueError, match=r"max: cannot reduce an empty tensor of shape \(0,\)"):
        cv.tensor(np.ones(0)).max()


def test_reductions_keep_float32():
    x = cv.tensor(np.ones((2, 3), np.float32))
    assert all(getattr(x, n)(1).dtype == np.float32 for n in ("sum", "mean", "amax", "amin"))


# --------------------------------------------------------------- shape ops
def test_reshape_view_flatten_permute_transpose_gradcheck(rng):
    x = rng.standard_normal((2, 3, 4))
    gradcheck(lambda a: a.reshape(4, 6) * cv.tensor(np.arange(24.0).reshape(4, 6)), x)
    gradcheck(lambda a: a.view(-1, 2), x)
    gradcheck(lambda a: F.reshape(a, (3, -1)), x)
    gradcheck(lambda a: a.flatten(1), x)
    gradcheck(lambda a: F.flatten(a, 0, 1), x)
    gradcheck(lambda a: a.permute(2, 0, 1), x)
    gradcheck(lambda a: a.permute((-1, 1, 0)), x)
    gradcheck(lambda a: a.transpose(0, 2), x)
    gradcheck(lambda a: a.T, x)


@pytest.mark.parametrize("fn,tfn", [
    (lambda a: a.reshape(6, 4), lambda t: t.reshape(6, 4)),
    (lambda a: a.permute(1, 2, 0), lambda t: t.permute(1, 2, 0)),
    (lambda a: a.transpose(-1, 0), lambda t: t.transpose(-1, 0)),
    (lambda a: a.flatten(), lambda t: t.flatten()),
    (lambda a: a.flatten(1, 2), lambda t: t.flatten(1, 2)),
])
def test_shape_ops_match_torch(torch, rng, fn, tfn):
    _check_vs_torch(torch, rng, fn, tfn, rng.standard_normal((2, 3, 4)))


_INDICES = [
    1, -1, (0, 2), slice(1, None), (slice(None), 1), (Ellipsis, 0), (None, 0),
    (slice(None, None, 2), slice(3, 0, -1)), ([0, 1, 1, 0],), ([1, 1, 0], [2, 2, 0]),
    (slice(None), [0, 0, 2, 2]), (np.array([[1, 1], [0, 1]]),), (np.array([True, False]),),
]


@pytest.mark.parametrize("index", _INDICES)
def test_getitem_gradcheck(rng, index):
    gradcheck(lambda a: a[index], rng.standard_normal((2, 3, 4)))


@pytest.mark.parametrize("index", [i for i in _INDICES if not (
    isinstance(i, tuple) and any(isinstance(s, slice) and (s.step or 1) < 0 for s in i))])
def test_getitem_matches_torch_with_repeated_indices(torch, rng, index):
    def to_torch(i):
        if isinstance(i, tuple):
            return tuple(to_torch(j) for j in i)
        return torch.tensor(i) if isinstance(i, (list, np.ndarray)) else i

    _check_vs_torch(torch, rng, lambda a: a[index], lambda t: t[to_torch(index)],
                    rng.standard_normal((2, 3, 4)))


def test_getitem_with_tensor_indices_and_masks():
    x = cv.tensor(np.arange(6.0), requires_grad=True)
    idx = cv.tensor([1, 1, 4])  # a float32 tensor of whole numbers works as an index
    out = x[idx]
    np.testing.assert_array_equal(out.data, [1, 1, 4])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 2, 0, 0, 1, 0])
    x.grad = None
    x[x > 2.5].sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 0, 0, 1, 1, 1])
    with pytest.raises(IndexError, match=r"getitem: bad index for a tensor of shape \(6,\)"):
        x[10]


@pytest.mark.parametrize("pad,value", [((1, 2), 0.0), ((0, 1, 2, 0), -1.5), ((1, 1, 1, 1, 1, 1), 2.0),
                                       ((0, 0), 0.0)])
def test_pad_matches_torch(torch, rng, pad, value):
    x = rng.standard_normal((2, 3, 4))
    _check_vs_torch(torch, rng, lambda a: F.pad(a, pad, value=value),
                    lambda t: torch.nn.functional.pad(t, pad, value=value), x)
    gradcheck(lambda a: F.pad(a, pad, value=value), x)


def test_pad_bad_input():
    x = cv.tensor(np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"pad: pad must hold an even number.*\(1,\)"):
        F.pad(x, (1,))
    with pytest.raises(ValueError, match="pad: pad must hold"):
        F.pad(x, (1, 1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match="pad: pad must hold"):
        F.pad(x, (-1, 1))
    with pytest.raises(ValueError, match=r"pad: only mode='constant'.*'reflect'"):
        F.pad(x, (1, 1), mode="reflect")


@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_cat_and_stack_match_torch(torch, rng, dim):
    shapes = [(2, 3, 4)] * 3
    if dim in (1, -1, 2):
        shapes = [tuple(s if i != dim % 3 else k for i, s in enumerate((2, 3, 4)))
                  for k in (1, 2, 3)]
    arrays = [rng.standard_normal(s) for s in shapes]
    _check_vs_torch(torch, rng, lambda *a: F.cat(a, dim), lambda *t: torch.cat(t, dim), *arrays)
    same = [rng.standard_normal((2, 3)) for _ in range(3)]
    _check_vs_torch(torch, rng, lambda *a: F.stack(a, dim), lambda *t: torch.stack(t, dim), *same)
    gradcheck(lambda a, b: F.stack([a, b * 2], dim) * 1.5, same[0], same[1])


def test_shape_op_bad_input():
    x = cv.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="reshape: cannot reshape"):
        x.reshape(-1, -1)
    with pytest.raises(ValueError, match=r"permute: axes \(0, 0\) are not a permutation"):
        x.permute(0, 0)
    with pytest.raises(ValueError, match="flatten: start_dim=1 comes after end_dim=0"):
        x.flatten(1, 0)
    with pytest.raises(ValueError, match=r"cat: shapes must match except in dim 0"):
        F.cat([x, cv.tensor(np.ones((2, 4)))])
    with pytest.raises(ValueError, match="cat: expected a non-empty sequence"):
        F.cat([])
    with pytest.raises(ValueError, match="stack: all tensors must have one shape"):
        F.stack([x, cv.tensor(np.ones((3, 2)))])


# ---------------------------------------------------------- matmul / linear
@pytest.mark.parametrize("a_shape,b_shape", [((4,), (4,)), ((3, 4), (4,)), ((4,), (4, 2)),
                                             ((3, 4), (4, 2)), ((2, 3, 4), (4, 5)),
                                             ((3, 4), (2, 4, 5)), ((2, 1, 3, 4), (5, 4, 2)),
                                             ((4,), (2, 4, 3)), ((2, 3, 4), (4,))])
def test_matmul_gradcheck_and_torch(torch, rng, a_shape, b_shape):
    a, b = rng.standard_normal(a_shape), rng.standard_normal(b_shape)
    gradcheck(F.matmul, a, b)
    _check_vs_torch(torch, rng, lambda x, y: x @ y, torch.matmul, a, b)


def test_matmul_with_arrays_and_bad_shapes(rng):
    a = rng.standard_normal((2, 3))
    t = cv.tensor(a, requires_grad=True)
    np.testing.assert_allclose((t @ a.T).data, a @ a.T, rtol=1e-15)
    with pytest.raises(ValueError, match=r"matmul: inner dimensions differ.*\(2, 3\) and \(2, 3\)"):
        t @ t
    with pytest.raises(ValueError, match="matmul: both operands need at least 1 dim"):
        F.matmul(t, cv.tensor(2.0))


@pytest.mark.parametrize("x_shape", [(5,), (3, 5), (2, 3, 5)])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_gradcheck_and_torch(torch, rng, x_shape, bias):
    x, w, b = rng.standard_normal(x_shape), rng.standard_normal((4, 5)), rng.standard_normal(4)
    if bias:
        gradcheck(F.linear, x, w, b)
        _check_vs_torch(torch, rng, F.linear, torch.nn.functional.linear, x, w, b)
    else:
        gradcheck(F.linear, x, w)
        _check_vs_torch(torch, rng, F.linear, torch.nn.functional.linear, x, w)


def test_linear_bad_input():
    x, w = cv.tensor(np.ones((2, 5))), cv.tensor(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"linear: input's last dim must equal in_features=5.*\(2, 3\)"):
        F.linear(cv.tensor(np.ones((2, 3))), w)
    with pytest.raises(ValueError, match=r"linear: weight must be 2-D.*\(5,\)"):
        F.linear(x, cv.tensor(np.ones(5)))
    with pytest.raises(ValueError, match=r"linear: bias must have shape \(4,\), received \(5,\)"):
        F.linear(x, w, cv.tensor(np.ones(5)))
    with pytest.raises(TypeError, match="linear: expected a floating-point input"):
        F.linear(np.ones((2, 5), np.int64), w)
