"""The idioms the compat scripts are made of, one expression each, evaluated with
``torch`` bound to convolve and to PyTorch 2.13 on the same float64 data: same values
(rtol 1e-9), same dtypes, same Python types (an ``.item()`` of an int sum is an int).

A training script that "runs" can still be silently wrong (``_, pred = out.max(1)`` on a
max that returned values only unpacks a batch of two into two rows); these pin the exact
results the scripts rely on, without the cost of training."""

import numpy as np
import pytest

import convolve

IDIOMS = [
    # accuracy counting, as the four scripts write it
    "torch.max(x.data, 1)[1]",
    "x.max(1)[0]",
    "(torch.max(x, 1)[1] == y).sum().item()",
    "x.max(1)[1].eq(y).sum().item()",
    "x.argmax(dim=1, keepdim=True).eq(y.view_as(x.argmax(dim=1, keepdim=True))).sum().item()",
    "float((x.argmax(axis=1).type(y.dtype) == y).type(y.dtype).sum())",
    "[int(a == b) for a, b in zip(y, x.argmax(1))]",
    "[('a', 'b', 'c', 'd')[label] for label in y]",
    "100 * (x.argmax(1) == y).sum().item() // y.size(0)",
    # losses and their item()
    "F.nll_loss(F.log_softmax(x, dim=1), y, reduction='sum').item()",
    "F.nll_loss(F.log_softmax(x, dim=1), y).item()",
    "nn.CrossEntropyLoss()(x, y).item()",
    "float(nn.CrossEntropyLoss()(x, y) * x.shape[0])",
    # shapes and sizes
    "x.size(0)", "tuple(x.size())", "y.numel()", "len(x)", "tuple(x4.shape)",
    "torch.flatten(x4, 1)", "x4.view(x4.size(0), -1)", "F.avg_pool2d(x4, 2)",
    "F.max_pool2d(x4, 2)", "x4.permute(0, 2, 3, 1).contiguous()",
    # conversions
    "y.dtype == torch.int64", "x.dtype == torch.float64", "y.float().dtype == torch.float32",
    "x.long()", "int(y.sum())", "bool(y[0] == y[0])", "y.tolist()", "x.detach().numpy()",
    "torch.from_numpy(a)", "torch.tensor(a.tolist()).dtype == torch.float32",
    "torch.tensor([1, 2]).dtype == torch.int64", "(x - 0.5) / 0.25",
]


def _normalise(value):
    """A comparable form: arrays as float64 arrays plus dtype name; scalars keep their type."""
    if isinstance(value, (list, tuple)):
        return type(value).__name__, [_normalise(v) for v in value]
    if hasattr(value, "detach"):  # a tensor of either library
        arr = np.asarray(value.detach().numpy())
        return "tensor", str(arr.dtype), arr.shape, arr.astype(np.float64)
    if isinstance(value, np.ndarray):
        return "ndarray", str(value.dtype), value.shape, value.astype(np.float64)
    return type(value).__name__, value


def _evaluate(lib, expression: str):
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 4))
    env = {"torch": lib, "nn": lib.nn, "F": lib.nn.functional, "a": a,
           "x": lib.from_numpy(a.copy()), "y": lib.from_numpy(np.array([0, 3, 1, 1, 2, 3])),
           "x4": lib.from_numpy(rng.normal(size=(2, 3, 4, 4)))}
    return _normalise(eval(expression, env))


def _assert_same(ours, theirs, where):
    assert type(ours) is type(theirs), where
    if isinstance(ours, tuple) and ours and ours[0] in ("tensor", "ndarray"):
        assert ours[:3] == theirs[:3], (where, ours[:3], theirs[:3])
        np.testing.assert_allclose(ours[3], theirs[3], rtol=1e-9, atol=0, err_msg=where)
    elif isinstance(ours, (tuple, list)):
        assert len(ours) == len(theirs), where
        for o, t in zip(ours, theirs):
            _assert_same(o, t, where)
    elif isinstance(ours, float):
        assert ours == pytest.approx(theirs, rel=1e-9), where
    else:
        assert ours == theirs, where


@pytest.mark.parametrize("expression", IDIOMS)
def test_idiom_gives_what_torch_gives(expression, torch):
    _assert_same(_evaluate(convolve, expression), _evaluate(torch, expression), expression)


def _model(lib):
    return lib.nn.Sequential(lib.nn.Conv2d(1, 2, 3), lib.nn.BatchNorm2d(2), lib.nn.Flatten(),
                             lib.nn.Linear(2, 3))


@pytest.mark.parametrize("call", ["train()", "eval()", "train(False)", "float()",
                                  "to('cpu')", "to(torch.device('cpu'))", "cpu()",
                                  "apply(lambda m: None)", "requires_grad_(False)"])
def test_module_calls_return_the_module_as_in_torch(call, torch):
    for lib in (convolve, torch):
        model = _model(lib)
        assert eval(f"model.{call}", {"model": model, "torch": lib}) is model


def test_module_idioms_match_torch(torch):
    for lib in (convolve, torch):
        model = _model(lib)
        seen = []
        model.apply(lambda m, seen=seen: seen.append(type(m).__name__))
        assert seen == ["Conv2d", "BatchNorm2d", "Flatten", "Linear", "Sequential"]
        assert [type(m).__name__ for m in model] == seen[:-1]
        assert next(iter(model.parameters())).device == lib.device("cpu")
        assert model.eval().training is False and model[1].training is False
        assert model.train().training is True and model[1].training is True
        optimizer = lib.optim.SGD(model.parameters(), lr=0.1)
        model(lib.ones(2, 1, 3, 3)).sum().backward()
        optimizer.zero_grad(set_to_none=True)
        assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize(("ours", "theirs"), [
    ("y.sum().item()", "float(y.sum())"),          # int vs float
    ("x.max(1)[0]", "x.max(1)[1]"),                # values vs indices
    ("y.float()", "y.double()"),                   # dtype
    ("x", "x * (1 + 1e-8)"),                       # values beyond rtol 1e-9
    ("tuple(x.size())", "list(x.size())"),         # tuple vs list
])
def test_the_comparison_tells_different_results_apart(ours, theirs, torch):
    with pytest.raises(AssertionError):
        _assert_same(_evaluate(convolve, ours), _evaluate(torch, theirs), ours)
