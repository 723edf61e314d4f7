"""Module, Parameter and the containers against PyTorch: registration order, state_dict keys
and shapes, load_state_dict round trips and strictness, modes, dtypes, repr, hooks."""

import numpy as np
import pytest

import convolve as cv
from convolve import nn


def _block(lib):
    return lib.Sequential(lib.Linear(4, 8), lib.BatchNorm1d(8), lib.ReLU(), lib.Dropout(0.2),
                          lib.Linear(8, 3, bias=False))


def _net_class(lib, base):
    """The same custom model written against convolve.nn or torch.nn."""

    class Net(base):
        def __init__(self):
            super().__init__()
            self.scale = lib.Parameter(lib_zeros(lib, 3))
            self.body = _block(lib)
            self.norm = lib.BatchNorm1d(3, affine=False)
            self.heads = lib.ModuleList([lib.Linear(3, 2), lib.Linear(3, 1)])
            self.register_buffer("offset", lib_zeros(lib, 2))

        def forward(self, x):
            h = self.norm(self.body(x) * self.scale)
            return self.heads[0](h)

    return Net


def lib_zeros(lib, n):
    if lib is nn:
        return np.zeros(n, np.float32)
    import torch

    return torch.zeros(n)


@pytest.fixture
def pair(torch):
    return _net_class(nn, nn.Module)(), _net_class(torch.nn, torch.nn.Module)()


# ------------------------------------------------------------------- structure
def test_named_parameters_order_matches_torch(pair):
    ours, ref = pair
    got = [(k, tuple(p.shape)) for k, p in ours.named_parameters()]
    want = [(k, tuple(p.shape)) for k, p in ref.named_parameters()]
    assert got == want
    assert [k for k, _ in ours.named_buffers()] == [k for k, _ in ref.named_buffers()]
    assert [k for k, _ in ours.named_modules()] == [k for k, _ in ref.named_modules()]
    assert [k for k, _ in ours.named_children()] == [k for k, _ in ref.named_children()]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in ours.parameters())


def test_state_dict_keys_and_shapes_match_torch(pair):
    ours, ref = pair
    sd, tsd = ours.state_dict(), ref.state_dict()
    assert list(sd) == list(tsd)
    for k in sd:
        assert sd[k].shape == tuple(tsd[k].shape), k
    assert sd["body.1.num_batches_tracked"].dtype == np.int64


def test_sequential_state_dict_matches_torch(torch):
    ours, ref = _block(nn), _block(torch.nn)
    assert list(ours.state_dict()) == list(ref.state_dict()) == [
        "0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
        "1.num_batches_tracked", "4.weight"]
    assert repr(ours) == repr(ref)


def test_load_state_dict_from_torch_and_back(torch, rng):
    ref = _block(torch.nn).double()
    ref.train()
    for _ in range(2):  # move the running statistics away from their initial values
        ref(torch.randn(6, 4, dtype=torch.float64))
    ours = _block(nn).double()
    missing, unexpected = ours.load_state_dict(ref.state_dict())
    assert missing == [] and unexpected == []
    for k, v in ref.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy(), err_msg=k)
    ours.eval()
    ref.eval()
    x = rng.standard_normal((5, 4))
    np.testing.assert_allclose(ours(cv.tensor(x)).data,
                               ref(torch.tensor(x)).detach().numpy(), rtol=1e-9, atol=1e-12)
    # and back: a fresh torch model loads ours and computes the same thing
    back = _block(torch.nn).double()
    back.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    back.eval()
    np.testing.assert_allclose(back(torch.tensor(x)).detach().numpy(),
                               ours(cv.tensor(x)).data, rtol=1e-9, atol=1e-12)


def test_load_state_dict_keeps_dtype_and_identity():
    m = nn.Linear(2, 3)
    w = m.weight
    m.load_state_dict({"weight": np.ones((3, 2)), "bias": [1.0, 2.0, 3.0]})
    assert m.weight is w and m.weight.dtype == np.float32
    np.testing.assert_array_equal(m.bias.data, [1, 2, 3])


def _snapshot(m):
    return {k: np.array(v) for k, v in m.state_dict().items()}


def test_strict_errors_leave_module_unchanged(rng):
    m = _block(nn)
    before = _snapshot(m)
    good = {k: rng.standard_normal(v.shape) for k, v in before.items()}
    missing = {k: v for k, v in good.items() if k != "1.running_var"}
    with pytest.raises(KeyError, match=r"missing keys \['1.running_var'\]"):
        m.load_state_dict(missing)
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        m.load_state_dict(dict(good, extra=np.zeros(1)))
    bad_shape = dict(good)
    bad_shape["4.weight"] = np.zeros((8, 3))  # the last key: every other key was fine
    with pytest.raises(ValueError, match=r"'4.weight' has shape \(8, 3\), expected \(3, 8\)"):
        m.load_state_dict(bad_shape)
    after = _snapshot(m)
    for k in before:
        np.testing.assert_array_equal(after[k], before[k], err_msg=k)


def test_non_strict_load_reports_and_loads_the_rest(rng):
    m = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    new_w = rng.standard_normal((2, 2))
    missing, unexpected = m.load_state_dict({"0.weight": new_w, "zzz": np.zeros(2)},
                                            strict=False)
    assert missing == ["0.bias", "1.weight", "1.bias"] and unexpected == ["zzz"]
    np.testing.assert_allclose(m[0].weight.data, new_w.astype(np.float32))


# ---------------------------------------------------------------- registration
def test_registration_rules():
    m = nn.Module()
    m.w = nn.Parameter(np.ones(2, np.float32))
    m.sub = nn.Linear(2, 2)
    m.plain = cv.tensor([1.0])  # a plain Tensor is not a parameter
    m.register_buffer("buf", np.arange(3.0))
    m.register_parameter("none_param", None)
    assert [k for k, _ in m.named_parameters()] == ["w", "sub.weight", "sub.bias"]
    assert list(m.state_dict()) == ["w", "buf", "sub.weight", "sub.bias"]
    assert isinstance(m.buf, cv.Tensor) and m.none_param is None
    m.w = nn.Parameter(np.zeros(2, np.float32))  # re-assignment replaces in place in the order
    assert next(k for k, _ in m.named_parameters()) == "w"
    del m.sub
    assert [k for k, _ in m.named_parameters()] == ["w"]
    with pytest.raises(AttributeError, match="has no attribute 'missing'"):
        _ = m.missing
    with pytest.raises(TypeError, match=r"register_parameter: 'p' must be a Parameter or None"):
        m.register_parameter("p", cv.tensor([1.0]))
    with pytest.raises(TypeError, match=r"add_module: 'x' must be a Module"):
        m.add_module("x", 3)


def test_reassignment_keeps_registration_order_like_torch(torch):
    def build(lib, tensor, param):
        m = lib.Module()
        m.a, m.b = param(tensor(1.0)), param(tensor(1.0))
        m.l1, m.l2 = lib.Linear(1, 1), lib.Linear(1, 1)
        m.register_buffer("x", tensor(1.0))
        m.register_buffer("y", tensor(1.0))
        m.a, m.l1, m.x = param(tensor(2.0)), lib.Linear(1, 1), tensor(3.0)
        return m

    ours = build(nn, lambda v: np.full(2, v, np.float32), nn.Parameter)
    ref = build(torch.nn, lambda v: torch.full((2,), v), torch.nn.Parameter)
    assert list(ours.state_dict()) == list(ref.state_dict())
    np.testing.assert_array_equal(ours.state_dict()["x"], 3.0)
    np.testing.assert_array_equal(ours.a.data, 2.0)


def test_shared_parameter_is_listed_once(torch):
    lin = nn.Linear(3, 3)
    m = nn.Sequential(lin, nn.ReLU(), lin)
    tlin = torch.nn.Linear(3, 3)
    t = torch.nn.Sequential(tlin, torch.nn.ReLU(), tlin)
    assert [k for k, _ in m.named_parameters()] == [k for k, _ in t.named_parameters()]
    assert len(list(m.parameters())) == 2


def test_setattr_before_super_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.x = 1

    with pytest.raises(AttributeError, match=r"Bad: call super\(\).__init__\(\)"):
        Bad()


# ------------------------------------------------------------ modes and dtypes
def test_train_eval_propagate(pair):
    ours, ref = pair
    ours.eval()
    ref.eval()
    assert [m.training for m in ours.modules()] == [m.training for m in ref.modules()]
    assert not any(m.training for m in ours.modules())
    assert ours.train() is ours and all(m.training for m in ours.modules())
    ours.body.eval()
    assert ours.training and not ours.body[1].training
    with pytest.raises(TypeError, match="train: mode must be a bool"):
        ours.train("no")


def test_zero_grad_and_gradients_flow(rng):
    m = _block(nn)
    out = m(cv.tensor(rng.standard_normal((4, 4)).astype(np.float32)))
    out.sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())


def test_to_float64_casts_parameters_and_float_buffers(rng):
    m = _block(nn)
    m(cv.tensor(rng.standard_normal((4, 4)).astype(np.float32))).sum().backward()
    assert m.to(np.float64) is m
    for k, v in m.state_dict().items():
        assert v.dtype == (np.int64 if k.endswith("num_batches_tracked") else np.float64), k
    assert all(p.grad.dtype == np.float64 for p in m.parameters())
    out = m(cv.tensor(rng.standard_normal((4, 4))))
    assert out.dtype == np.float64
    m.float()
    assert m[0].weight.dtype == np.float32
    with pytest.raises(TypeError, match="to: expected a floating dtype, received int32"):
        m.to(np.int32)


def test_requires_grad_switch():
    m = nn.Linear(2, 2)
    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    out = m(cv.tensor(np.ones((1, 2), np.float32)))
    assert not out.requires_grad


# --------------------------------------------------------------------- repr
def test_repr_matches_torch(pair, torch):
    ours, ref = pair
    assert repr(ours) == repr(ref)
    assert repr(nn.Sequential()) == repr(torch.nn.Sequential())


# -------------------------------------------------------------- Sequential
def test_sequential_indexing_slicing_append(torch, rng):
    ours, ref = _block(nn), _block(torch.nn)
    assert len(ours) == len(ref) == 5
    assert ours[0] is next(iter(ours)) and ours[-1] is list(ours)[4]
    sub, tsub = ours[1:3], ref[1:3]
    assert isinstance(sub, nn.Sequential)
    assert repr(sub) == repr(tsub)
    assert sub[0] is ours[1]  # slicing shares the modules
    assert list(sub.state_dict()) == list(tsub.state_dict())
    ours.append(nn.Sigmoid())
    ref.append(torch.nn.Sigmoid())
    assert repr(ours) == repr(ref)
    with pytest.raises(IndexError, match=r"Sequential: index 10 out of range for 6 modules"):
        ours[10]
    x = rng.standard_normal((3, 4)).astype(np.float32)
    ours.eval()
    manual = cv.tensor(x)
    for layer in ours:
        manual = layer(manual)
    np.testing.assert_array_equal(ours(cv.tensor(x)).data, manual.data)


def test_sequential_from_ordered_dict_keeps_names(torch):
    from collections import OrderedDict

    spec = [("fc", "Linear", (2, 3)), ("act", "Tanh", ())]
    ours = nn.Sequential(OrderedDict((n, getattr(nn, c)(*a)) for n, c, a in spec))
    ref = torch.nn.Sequential(OrderedDict((n, getattr(torch.nn, c)(*a)) for n, c, a in spec))
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["fc.weight", "fc.bias"]
    assert repr(ours) == repr(ref)


def test_module_list():
    ml = nn.ModuleList([nn.Linear(2, 2)])
    ml.append(nn.Linear(2, 3))
    assert len(ml) == 2 and ml[-1].out_features == 3
    assert [k for k, _ in ml.named_parameters()] == ["0.weight", "0.bias", "1.weight", "1.bias"]


# -------------------------------------------------------------------- hooks
def test_forward_hooks_see_inputs_and_may_replace_output(rng):
    m = nn.Linear(3, 2)
    seen = []

    def record(module, inputs, output):
        seen.append((module, inputs, output))

    def double(module, inputs, output):
        return output * 2

    h1 = m.register_forward_hook(record)
    x = cv.tensor(rng.standard_normal((4, 3)).astype(np.float32))
    out = m(x)
    assert len(seen) == 1 and seen[0][0] is m and seen[0][1][0] is x and seen[0][2] is out
    h2 = m.register_forward_hook(double)
    np.testing.assert_allclose(m(x).data, 2 * out.data, rtol=1e-6)
    assert len(seen) == 2
    h2.remove()
    np.testing.assert_allclose(m(x).data, out.data, rtol=1e-6)
    h1.remove()
    m(x)
    assert len(seen) == 3


def test_forward_hook_on_submodule_runs_inside_sequential(rng):
    seq = nn.Sequential(nn.Linear(3, 3), nn.ReLU())
    shapes = []
    seq[0].register_forward_hook(lambda mod, inp, out: shapes.append(out.shape))
    seq(cv.tensor(rng.standard_normal((2, 3)).astype(np.float32)))
    assert shapes == [(2, 3)]
