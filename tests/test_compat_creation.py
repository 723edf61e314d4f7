"""PyTorch compatibility of the top-level constructors and functions (zeros, full, arange,
linspace, rand*, from_numpy, as_tensor, where, cat/stack/flatten, grad modes), against
torch 2.13: dtypes, shapes, values and the accepted call forms."""

import numpy as np
import pytest

import convolve as cv

DETERMINISTIC = {  # name -> call on the library (convolve or torch)
    "zeros-ints": lambda lib: lib.zeros(2, 3),
    "zeros-tuple": lambda lib: lib.zeros((2, 3)),
    "zeros-list": lambda lib: lib.zeros([4]),
    "zeros-size-kw": lambda lib: lib.zeros(size=(2, 1)),
    "zeros-dtype": lambda lib: lib.zeros(2, dtype=lib.int64),
    "zeros-device": lambda lib: lib.zeros(2, device="cpu"),
    "zeros-Size": lambda lib: lib.zeros(lib.ones(3, 2).size()),
    "ones": lambda lib: lib.ones(3, dtype=lib.float64),
    "ones-bool": lambda lib: lib.ones(2, dtype=lib.bool),
    "empty-shape": lambda lib: lib.empty(2, 3).shape,
    "full-int": lambda lib: lib.full((2, 2), 7),
    "full-float": lambda lib: lib.full((3,), 0.5),
    "full-bool": lambda lib: lib.full((2,), True),
    "full-dtype": lambda lib: lib.full((2,), 3, dtype=lib.float64),
    "eye": lambda lib: lib.eye(3),
    "eye-rect": lambda lib: lib.eye(2, 3, dtype=lib.int64),
    "arange-end": lambda lib: lib.arange(5),
    "arange-start-end": lambda lib: lib.arange(2, 9, 3),
    "arange-float-step": lambda lib: lib.arange(0, 1, 0.1),
    "arange-float-end": lambda lib: lib.arange(5.0),
    "arange-negative": lambda lib: lib.arange(5, -3, -2),
    "arange-dtype": lambda lib: lib.arange(4, dtype=lib.float64),
    "linspace": lambda lib: lib.linspace(0, 1, 7),
    "linspace-neg": lambda lib: lib.linspace(-3.5, 2.25, 12),
    "linspace-one": lambda lib: lib.linspace(2, 5, 1),
    "linspace-dtype": lambda lib: lib.linspace(0, 10, 5, dtype=lib.float64),
    "zeros_like": lambda lib: lib.zeros_like(lib.arange(3)),
    "ones_like-dtype": lambda lib: lib.ones_like(lib.arange(3), dtype=lib.float32),
    "full_like": lambda lib: lib.full_like(lib.ones(2, 2), 4),
    "cat": lambda lib: lib.cat([lib.arange(3), lib.arange(2)]),
    "cat-dim1": lambda lib: lib.cat((lib.ones(2, 1), lib.zeros(2, 2)), dim=1),
    "concat": lambda lib: lib.concat([lib.ones(1), lib.zeros(1)]),
    "stack": lambda lib: lib.stack([lib.arange(3), lib.arange(3)], dim=1),
    "flatten": lambda lib: lib.flatten(lib.ones(2, 3, 4), 1),
    "flatten-range": lambda lib: lib.flatten(lib.ones(2, 3, 4, 5), 1, 2),
    "where": lambda lib: lib.where(lib.arange(4) > 1, lib.arange(4), lib.zeros(4)),
    "where-scalars": lambda lib: lib.where(lib.arange(4) > 1, lib.arange(4), 0.5),
    "where-int": lambda lib: lib.where(lib.arange(4) > 1, 1, -1),
    "where-one-arg": lambda lib: lib.where(lib.eye(3) > 0),
    "from_numpy-int": lambda lib: lib.from_numpy(np.arange(3, dtype=np.int32)),
    "as_tensor": lambda lib: lib.as_tensor([1, 2]),
    "as_tensor-dtype": lambda lib: lib.as_tensor(np.arange(3), dtype=lib.float32),
    "numel": lambda lib: lib.numel(lib.ones(2, 5)),
    "is_tensor": lambda lib: (lib.is_tensor(lib.ones(1)), lib.is_tensor(np.ones(1))),
    "sum-fn": lambda lib: lib.sum(lib.arange(6).view(2, 3), 1),
    "argmax-fn": lambda lib: lib.argmax(lib.tensor([[1.0, 5.0], [7.0, 0.0]]), dim=1),
    "exp-fn": lambda lib: lib.exp(lib.arange(3.0)),
    "clamp-fn": lambda lib: lib.clamp(lib.arange(5.0), min=1, max=3),
    "softmax-fn": lambda lib: lib.softmax(lib.arange(4.0).view(2, 2), dim=1),
    "unsqueeze-fn": lambda lib: lib.unsqueeze(lib.ones(2, 3), 1),
    "squeeze-fn": lambda lib: lib.squeeze(lib.ones(2, 1, 3)),
    "get_default_dtype": lambda lib: str(lib.get_default_dtype()).removeprefix("torch."),
}


def _plain(v):
    if isinstance(v, tuple) and v and hasattr(v[0], "numpy"):
        return tuple(_plain(x) for x in v)
    if hasattr(v, "numpy"):
        arr = v.detach().numpy()
        return str(arr.dtype), arr.shape, arr.tolist()
    return v if not isinstance(v, tuple) else tuple(v)


@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_constructors_and_functions_match_torch(torch, name):
    ours, theirs = DETERMINISTIC[name](cv), DETERMINISTIC[name](torch)
    po, pt = _plain(ours), _plain(theirs)
    if isinstance(po, tuple) and len(po) == 3 and isinstance(po[0], str):
        assert po[:2] == pt[:2]
        np.testing.assert_allclose(np.array(po[2], np.float64), np.array(pt[2], np.float64),
                                   rtol=1e-6, atol=1e-7)
    else:
        assert po == pt


RANDOM = {
    "rand": lambda lib: lib.rand(3, 4),
    "rand-tuple": lambda lib: lib.rand((3, 4), dtype=lib.float64),
    "randn": lambda lib: lib.randn(2, 3),
    "randn-grad": lambda lib: lib.randn(5, requires_grad=True),
    "randint-high": lambda lib: lib.randint(10, (4, 3)),
    "randint-low-high": lambda lib: lib.randint(-3, 3, (20,)),
    "randint-size-kw": lambda lib: lib.randint(0, 2, size=(2, 2)),
    "randint-dtype": lambda lib: lib.randint(5, (3,), dtype=lib.int32),
    "rand_like": lambda lib: lib.rand_like(lib.ones(2, 2, dtype=lib.float64)),
    "randn_like": lambda lib: lib.randn_like(lib.ones(3)),
    "randperm": lambda lib: lib.randperm(7),
}


@pytest.mark.parametrize("name", list(RANDOM))
def test_random_constructors_match_torch_in_dtype_shape_and_range(torch, name):
    cv.manual_seed(3)
    ours, theirs = RANDOM[name](cv), RANDOM[name](torch)
    assert str(theirs.dtype) == f"torch.{ours.dtype}" and ours.shape == tuple(theirs.shape)
    assert ours.requires_grad == theirs.requires_grad
    if name.startswith("randint"):
        low = -3 if "low-high" in name else 0
        high = {"randint-high": 10, "randint-low-high": 3, "randint-size-kw": 2}.get(name, 5)
        assert low <= ours.numpy().min() and ours.numpy().max() < high
    elif name.startswith("rand") and "randn" not in name and name != "randperm":
        assert 0 <= ours.numpy().min() and ours.numpy().max() < 1
    if name == "randperm":
        assert sorted(ours.tolist()) == list(range(7))
    cv.manual_seed(3)
    np.testing.assert_array_equal(RANDOM[name](cv).numpy(), ours.numpy())  # seeded


def test_random_draws_are_distributed_as_named():
    cv.manual_seed(0)
    u, z, k = cv.rand(20000).numpy(), cv.randn(20000).numpy(), cv.randint(3, 7, (20000,))
    assert abs(u.mean() - 0.5) < 0.01 and abs(z.std() - 1) < 0.02
    assert sorted(np.unique(k.numpy()).tolist()) == [3, 4, 5, 6]


def test_from_numpy_and_as_tensor_share_memory_like_torch(torch):
    for lib in (cv, torch):
        a = np.zeros(3, np.float32)
        t, u = lib.from_numpy(a), lib.as_tensor(a)
        a[0] = 7
        assert t[0].item() == 7 and u[0].item() == 7
        c = lib.tensor(a)
        a[1] = 8
        assert c[1].item() == 0
        x = lib.ones(2)
        assert lib.as_tensor(x) is x


def test_where_passes_gradients_like_torch(torch):
    c = np.array([True, False, True])
    a, b = np.array([1.0, 2.0, 3.0]), np.array([[4.0, 5.0, 6.0], [7.0, 8.0, 9.0]])
    oa, ob = cv.tensor(a, requires_grad=True), cv.tensor(b, requires_grad=True)
    ta, tb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    (cv.where(cv.tensor(c), oa, ob) * cv.tensor(b)).sum().backward()
    (torch.where(torch.tensor(c), ta, tb) * torch.tensor(b)).sum().backward()
    np.testing.assert_array_equal(oa.grad, ta.grad.numpy())
    np.testing.assert_array_equal(ob.grad, tb.grad.numpy())


BAD = [
    (lambda lib: lib.zeros(-1), (RuntimeError, ValueError), "size entries must be >= 0"),
    (lambda lib: lib.zeros(2.5), TypeError, "size must be ints"),
    (lambda lib: lib.randint(5, 2, (3,)), RuntimeError, "expected low < high"),
    (lambda lib: lib.rand(2, dtype=lib.int64), RuntimeError, "dtype must be floating"),
    (lambda lib: lib.arange(0, 5, -1), RuntimeError, "step=-1 must be non-zero and go"),
    (lambda lib: lib.from_numpy([1, 2]), TypeError, "expected an np.ndarray, received list"),
    (lambda lib: lib.where(lib.arange(3), 1, 0), RuntimeError, "condition must be a bool"),
]


@pytest.mark.parametrize(("call", "error", "message"), BAD)
def test_bad_constructor_arguments_fail_like_torch_naming_them(torch, call, error, message):
    with pytest.raises(error):
        call(torch)
    with pytest.raises(error, match=message):
        call(cv)


GRAD_MODES = {
    "no_grad": lambda lib: lib.no_grad(),
    "enable_grad-in-no_grad": lambda lib: lib.enable_grad(),
    "inference_mode": lambda lib: lib.inference_mode(),
    "inference_mode-False": lambda lib: lib.inference_mode(False),
    "set_grad_enabled-False": lambda lib: lib.set_grad_enabled(False),
    "set_grad_enabled-True": lambda lib: lib.set_grad_enabled(True),
}


@pytest.mark.parametrize("outer", [True, False])
@pytest.mark.parametrize("name", list(GRAD_MODES))
def test_grad_modes_as_context_managers_match_torch(torch, name, outer):
    states = []
    for lib in (cv, torch):
        lib.set_grad_enabled(outer)
        try:
            with GRAD_MODES[name](lib):
                inside = (lib.ones(1, requires_grad=True) * 2).requires_grad
            states.append((inside, lib.is_grad_enabled()))
        finally:
            lib.set_grad_enabled(True)
    assert states[0] == states[1]


@pytest.mark.parametrize("name", list(GRAD_MODES))
def test_grad_modes_as_decorators_match_torch(torch, name):
    results = []
    for lib in (cv, torch):
        @GRAD_MODES[name](lib)
        def f(lib=lib):
            return (lib.ones(1, requires_grad=True) * 2).requires_grad

        results.append((lib.is_grad_enabled(), f(), lib.is_grad_enabled()))
        lib.set_grad_enabled(True)
    assert results[0] == results[1]


@pytest.mark.parametrize("name", ["no_grad", "enable_grad", "inference_mode"])
def test_grad_modes_as_bare_decorators_match_torch(torch, name):
    results = []
    for lib in (cv, torch):
        with lib.no_grad():
            @getattr(lib, name)
            def f(lib=lib):
                return lib.is_grad_enabled()

            results.append((f(), lib.is_grad_enabled(), f.__name__))
    assert results[0] == results[1]


def test_set_grad_enabled_as_a_call_switches_at_once(torch):
    for lib in (cv, torch):
        lib.set_grad_enabled(False)
        try:
            assert not lib.is_grad_enabled()
            assert not (lib.ones(1, requires_grad=True) * 2).requires_grad
        finally:
            lib.set_grad_enabled(True)
        assert lib.is_grad_enabled()
