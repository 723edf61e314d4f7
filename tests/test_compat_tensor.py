"""PyTorch compatibility of tensors: dtype inference and promotion, top-level constructors,
and the Tensor methods training scripts use, each compared against torch 2.13."""

import operator

import numpy as np
import pytest

import convolve as cv


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


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # torch's __array__ lacks copy=
@pytest.mark.filterwarnings("ignore::UserWarning")  # torch: "To copy construct from a tensor"
@pytest.mark.parametrize("dtype", ["float64", "int32", "bool"])
def test_tensor_of_a_torch_tensor_keeps_its_dtype(torch, dtype):
    t = torch.tensor([1, 0], dtype=getattr(torch, dtype))
    _same_dtype(cv.tensor(t).dtype, torch.tensor(t).dtype)


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
    "pybool": True,
}
PAIRS = [("f32", "f64"), ("i64", "f32"), ("i64", "pyfloat"), ("i64", "pyint"), ("i32", "i64"),
         ("u8", "pyint"), ("u8", "i32"), ("b", "pyint"), ("b", "i64"), ("f32", "f64_0d"),
         ("i64", "f64_0d"), ("i32", "i64_0d"), ("f32", "i64"), ("pyfloat", "i64"),
         ("f64_0d", "f32"), ("b", "pyfloat"), ("f32_0d", "f64_0d"), ("i64_0d", "pyfloat"),
         ("f64", "pyint"), ("u8", "b"), ("b", "pybool"), ("u8", "pybool"), ("f32", "pybool"),
         ("i64", "pybool")]
OPS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
       "truediv": operator.truediv, "eq": operator.eq, "lt": operator.lt, "ge": operator.ge}


def _make(lib, value):
    return value if isinstance(value, (bool, int, float)) else lib.tensor(value)


CASES = [(op, pair) for op in OPS for pair in PAIRS
         if not (op == "sub" and ("b" in pair or "pybool" in pair))]  # PyTorch refuses bool -


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


def test_comparisons_give_bool_tensors_like_torch(torch):
    for lib in (cv, torch):
        a = lib.tensor([1.0, 2.0, 3.0])
        results = (a == 2, a != 2, a < 2, a >= lib.tensor([1, 5, 0]), a.eq(1), a.ne(1))
        assert [str(r.dtype).removeprefix("torch.") for r in results] == ["bool"] * 6
        assert [r.tolist() for r in results[:4]] == [[False, True, False], [True, False, True],
                                                     [True, False, False], [True, False, True]]


def _pair(torch, x, requires_grad=False):
    return (cv.tensor(x, requires_grad=requires_grad),
            torch.tensor(x, requires_grad=requires_grad))


# ---------------------------------------------------------------- methods, against torch
X = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 7 - 1.5
METHODS = {  # name -> (call on a tensor, input array)
    "size": (lambda t: t.size(), X),
    "size1": (lambda t: t.size(1), X),
    "size-1": (lambda t: t.size(-1), X),
    "shape": (lambda t: t.shape, X),
    "dim": (lambda t: t.dim(), X),
    "ndimension": (lambda t: t.ndimension(), X),
    "numel": (lambda t: t.numel(), X),
    "item": (lambda t: t.sum().item(), X),
    "tolist": (lambda t: t.tolist(), X[0]),
    "float()": (lambda t: float(t[0, 0, 1]), X),
    "int()": (lambda t: int(t[1, 2, 3]), X),
    "bool()": (lambda t: bool(t[0, 0, 0]), X),
    "index": (lambda t: [10, 20, 30][t.long()[1, 0, 0]], np.abs(X)),
    "long": (lambda t: t.long(), X * 3),
    "int": (lambda t: t.int(), X * 3),
    "bool": (lambda t: t.bool(), X.round()),
    "float": (lambda t: t.float(), X),
    "double": (lambda t: t.float().double(), X),
    "half": (lambda t: t.half(), X),
    "type(long)": (lambda t: t.type(_lib(t).long), X),
    "type()": (lambda t: t.type(), X),
    "type(str)": (lambda t: t.type("torch.LongTensor"), X * 3),
    "unsqueeze0": (lambda t: t.unsqueeze(0), X),
    "unsqueeze-1": (lambda t: t.unsqueeze(-1), X),
    "squeeze": (lambda t: t.unsqueeze(1).squeeze(), X),
    "squeeze1": (lambda t: t.unsqueeze(1).squeeze(1), X),
    "squeeze0-noop": (lambda t: t.squeeze(0), X),
    "permute": (lambda t: t.permute(2, 0, 1), X),
    "permute-tuple": (lambda t: t.permute((1, 2, 0)), X),
    "contiguous": (lambda t: t.permute(2, 0, 1).contiguous(), X),
    "t": (lambda t: t[0].t(), X),
    "t-1d": (lambda t: t[0, 0].t(), X),
    "view-1": (lambda t: t.view(-1, 4), X),
    "view-size": (lambda t: t.view(t.size(0), -1), X),
    "view_as": (lambda t: t.view_as(t.flatten().view(3, 2)), X[0, :2, :3]),
    "clone": (lambda t: t.clone(), X),
    "detach": (lambda t: t.detach(), X),
    "mean(dim)": (lambda t: t.mean(1), X),
    "argmax-axis": (lambda t: t.argmax(axis=1), X),
    "sum-axis": (lambda t: _lib(t).sum(t, axis=-1), X),
    "max-axis": (lambda t: t.max(axis=0)[1], X),
    "mean-axis-keep": (lambda t: t.mean(axis=1, keepdim=True), X),
    "mean(dim,keep)": (lambda t: t.mean(dim=-1, keepdim=True), X),
    "sum-item": (lambda t: (t > 0).sum().item(), X),
    "eq": (lambda t: t.eq(t[:, :1]), X.round()),
    "ne": (lambda t: t.ne(t[:, :1]), X.round()),
    "==": (lambda t: t == t[:, 0:1], X.round()),
    "and-or-not": (lambda t: ((t > 0) & (t < 1)) | ~(t != 0), X.round()),
    "any-all": (lambda t: [(t > 0).any().item(), (t > -9).all().item()], X),
    "eq-scalar": (lambda t: t.long().eq(1).sum().item(), X * 2),
    "lt-gt": (lambda t: t.lt(0.5) | t.gt(1), X),
    "numpy": (lambda t: t.numpy(), X),
    "arith": (lambda t: t.add(1).sub(t, alpha=2).mul(3).div(t.add(9)).pow(2).neg(), X),
    "matmul": (lambda t: t[0].matmul(t[1].t()).mm(t[0]), X),
    "softmax": (lambda t: t.softmax(dim=1), X),
    "log_softmax": (lambda t: t.log_softmax(-1), X),
    "cpu-numpy": (lambda t: t.detach().cpu().numpy(), X),
    "format": (lambda t: f"{t.sum():.3f}", X),
}


def _lib(t):
    return cv if isinstance(t, cv.Tensor) else __import__("torch")


def _plain(v):
    """Comparable plain values from our or torch's results."""
    if hasattr(v, "detach") and hasattr(v, "numpy"):
        arr = v.detach().numpy()
        return ("tensor", str(arr.dtype), arr.shape, arr.tolist())
    if isinstance(v, np.ndarray):
        return ("tensor", str(v.dtype), v.shape, v.tolist())
    if isinstance(v, tuple):
        return tuple(v)
    return (type(v).__name__, v)


@pytest.mark.parametrize("name", list(METHODS))
def test_tensor_methods_match_torch(torch, name):
    fn, x = METHODS[name]
    ours, theirs = fn(cv.tensor(x)), fn(torch.tensor(x))
    po, pt = _plain(ours), _plain(theirs)
    if po[0] == "tensor":
        assert po[1:3] == pt[1:3], (po[1:3], pt[1:3])
        np.testing.assert_allclose(np.array(po[3], dtype=np.float64),
                                   np.array(pt[3], dtype=np.float64), rtol=1e-12)
    else:
        assert po == pt


def test_size_is_a_tuple_with_numel(torch):
    s, ts = cv.ones(2, 3, 4).size(), torch.ones(2, 3, 4).size()
    assert isinstance(s, tuple) and s == tuple(ts) and s.numel() == ts.numel()
    assert s[1:] == (3, 4) and isinstance(s[1:], cv.Size) and str(s) == "(2, 3, 4)"
    assert repr(s) == "convolve.Size([2, 3, 4])"
    assert cv.zeros(s).shape == s


CONVERSION_ERRORS = [  # (call, PyTorch's error type)
    (float, ValueError), (int, ValueError), (bool, RuntimeError),
    (lambda t: t.item(), RuntimeError), (lambda t: t.__index__(), TypeError),
]


@pytest.mark.parametrize(("call", "error"), CONVERSION_ERRORS)
def test_converting_several_elements_to_a_number_fails_like_torch(torch, call, error):
    with pytest.raises(error):
        call(torch.ones(2))
    with pytest.raises(error, match=r"shape \(2,\)"):
        call(cv.ones(2))


def test_index_of_a_float_tensor_fails_like_torch(torch):
    with pytest.raises(TypeError):
        [1, 2][torch.tensor(1.0)]
    with pytest.raises(TypeError, match="only one-element integer tensors"):
        [1, 2][cv.tensor(1.0)]


def test_detach_shares_and_clone_copies_like_torch(torch):
    for lib in (cv, torch):
        x = lib.tensor([1.0, 2.0], requires_grad=True)
        d, c = x.detach(), x.clone()
        assert not d.requires_grad and c.requires_grad
        d[0] = 5.0
        assert x[0].item() == 5.0 and c[0].item() == 1.0


def test_writes_in_place_follow_torch(torch):
    for lib in (cv, torch):
        x = lib.zeros(3)
        x[1] = 2.0
        x[lib.tensor([0, 2])] = lib.tensor([1.0, 3.0])
        assert x.tolist() == [1.0, 2.0, 3.0]
        w = lib.ones(2, requires_grad=True)
        with pytest.raises(RuntimeError):
            w[0] = 3.0
        with lib.no_grad():
            w[0] = 3.0
            w.fill_(4.0)
        assert w.tolist() == [4.0, 4.0]


def test_clone_and_view_as_pass_gradients(torch):
    x, tx = _pair(torch, X, requires_grad=True)
    (x.clone().view_as(cv.ones(6, 4)) * 3).sum().backward()
    (tx.clone().view_as(torch.ones(6, 4)) * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())


@pytest.mark.parametrize(("call", "error"), [
    (lambda t: t.unsqueeze(4), IndexError), (lambda t: t.squeeze(3), IndexError),
    (lambda t: t.size(3), IndexError), (lambda t: t.t(), ValueError),
])
def test_bad_dims_fail_like_torch(torch, call, error):
    with pytest.raises(RuntimeError if error is ValueError else error):
        call(torch.tensor(X))
    with pytest.raises(error, match=r"out of range|rank <= 2"):
        call(cv.tensor(X))


# ---------------------------------------------------------------- nn.Flatten's dims
@pytest.mark.parametrize("dims", [(1, -1), (0, 1), (2, 3), (-3, -2), (0, 0), (1, 3)])
def test_flatten_dims_against_torch(torch, dims):
    x = np.zeros((2, 3, 4, 5))
    theirs = torch.nn.Flatten(*dims)(torch.tensor(x))
    assert cv.nn.Flatten(*dims)(cv.tensor(x)).shape == tuple(theirs.shape)
    assert cv.flatten(cv.tensor(x), *dims).shape == tuple(torch.flatten(torch.tensor(x), *dims).shape)


def test_flatten_start_after_end_is_refused(torch):
    with pytest.raises(RuntimeError, match="start_dim cannot come after end_dim"):
        torch.flatten(torch.zeros(2, 3, 4), 2, 1)
    with pytest.raises(ValueError, match=r"flatten: start_dim=2 comes after end_dim=1"):
        cv.flatten(cv.zeros(2, 3, 4), 2, 1)


@pytest.mark.parametrize("dims", [(2, -1), (0, 5), (-3, -1), (1, 3)])
def test_flatten_dims_outside_the_rank_fail_naming_them(torch, dims):
    x = np.zeros((4, 3))
    with pytest.raises(IndexError):
        torch.nn.Flatten(*dims)(torch.tensor(x))
    with pytest.raises(IndexError, match=r"Flatten: (start|end)_dim=-?\d is out of range "
                                         r"\[-2, 1\] for an input of shape \(4, 3\)"):
        cv.nn.Flatten(*dims)(cv.tensor(x))


# ---------------------------------------------------------------- names not provided
@pytest.mark.parametrize("name", ["jit", "compile", "hub", "LongTensor", "set_default_dtype"])
def test_torch_names_not_provided_say_what_to_use(name):
    with pytest.raises(AttributeError, match=rf"convolve.{name}: not provided \(.*(use|export|"
                                             r"build|eagerly|pass)"):
        getattr(cv, name)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_thing'"):
        cv.no_such_thing  # noqa: B018


IN_PLACE = {
    "add_": lambda t: t.add_(1.5),
    "add_-alpha": lambda t: t.add_(t.clone(), alpha=2),
    "sub_": lambda t: t.sub_(0.5),
    "mul_": lambda t: t.mul_(3),
    "div_": lambda t: t.div_(4),
    "copy_": lambda t: t.copy_(t.clone() * 2),
    "clamp_": lambda t: t.clamp_(min=-0.5, max=0.5),
    "zero_": lambda t: t.zero_(),
    "fill_": lambda t: t.fill_(7),
}


@pytest.mark.parametrize("name", list(IN_PLACE))
def test_in_place_ops_match_torch(torch, name):
    ours, theirs = cv.tensor(X), torch.tensor(X)
    assert IN_PLACE[name](ours) is ours and IN_PLACE[name](theirs) is theirs
    np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError):
        IN_PLACE[name](torch.tensor(X, requires_grad=True))
    with pytest.raises(RuntimeError, match=f"{name.split('-')[0]}: cannot write in place into a tensor that "
                                           "requires grad"):
        IN_PLACE[name](cv.tensor(X, requires_grad=True))


def test_in_place_cannot_turn_an_integer_tensor_floating(torch):
    with pytest.raises(RuntimeError):
        torch.tensor([1, 2]).add_(0.5)
    with pytest.raises(TypeError):
        cv.tensor([1, 2]).add_(0.5)


@pytest.mark.parametrize("name", ["normal_", "data_ptr", "grad_fn", "register_hook"])
def test_tensor_attributes_not_provided_say_what_to_use(name):
    with pytest.raises(AttributeError, match=rf"Tensor.{name}: not provided \(.*(use|check|with)"):
        getattr(cv.ones(2), name)
    with pytest.raises(AttributeError, match="'Tensor' object has no attribute 'no_such'"):
        cv.ones(2).no_such  # noqa: B018
    assert getattr(cv.ones(2), "no_such", 3) == 3
