"""Optimizers against torch.optim: 100-step trajectories from identical parameters and
gradients (float64, rtol 1e-10) for every option combination, state dicts, bad input."""

import itertools
import json

import numpy as np
import pytest

from convolve.nn import Parameter
from convolve.optim import (
    SGD,
    Adam,
    AdamW,
    RMSprop,
    optimizer_state_from_arrays,
    optimizer_state_to_arrays,
)
from convolve.tensor import Tensor

SHAPES = [(3, 4), (5,), (2, 3, 2), (4,)]  # the last one gets no gradient every third step
STEPS = 100
RTOL, ATOL = 1e-10, 1e-12


class Problem:
    """A noisy quadratic: grad_i(p) = sign * c_i * (p - target_i) + noise[t, i].

    With sign = -1 it is the gradient of a concave function, so maximize=True converges too.
    """

    def __init__(self, seed=0, steps=STEPS, dtype=np.float64, sign=1.0):
        rng = np.random.default_rng(seed)
        self.init = [rng.normal(size=s).astype(dtype) for s in SHAPES]
        self.target = [rng.normal(size=s).astype(dtype) for s in SHAPES]
        self.curv = [rng.uniform(0.5, 2.0, size=s).astype(dtype) for s in SHAPES]
        self.noise = [
            [0.1 * rng.normal(size=s).astype(dtype) for s in SHAPES] for _ in range(steps)
        ]
        self.sign = sign

    def grad(self, t, i, value):
        if i == len(SHAPES) - 1 and t % 3 == 2:
            return None
        return self.sign * self.curv[i] * (value - self.target[i]) + self.noise[t][i]

    def ours(self):
        return [Parameter(v.copy()) for v in self.init]

    def theirs(self, torch):
        return [torch.tensor(v.copy(), requires_grad=True) for v in self.init]

    def feed(self, t, params, torch=None):
        for i, p in enumerate(params):
            value = p.data if torch is None else p.detach().numpy()
            g = self.grad(t, i, value)
            if torch is None:
                p.grad = g
            else:
                p.grad = None if g is None else torch.from_numpy(g)


def _groups(params, spec):
    """spec: None (one list of params) or [(indices, options), ...] for param groups."""
    if spec is None:
        return params
    return [{"params": [params[i] for i in idx], **opts} for idx, opts in spec]


def run_against_torch(
    torch, ours_cls, torch_cls, kwargs, spec=None, problem=None, rtol=RTOL, atol=ATOL, steps=STEPS
):
    """Step both optimizers on the same problem; compare every parameter after every step."""
    problem = problem or Problem(sign=-1.0 if kwargs.get("maximize") else 1.0)
    ps, tps = problem.ours(), problem.theirs(torch)
    opt = ours_cls(_groups(ps, spec), **kwargs)
    topt = torch_cls(_groups(tps, spec), **kwargs)
    for t in range(steps):
        problem.feed(t, ps)
        problem.feed(t, tps, torch)
        opt.step()
        topt.step()
        for i, (p, tp) in enumerate(zip(ps, tps)):
            np.testing.assert_allclose(
                p.data,
                tp.detach().numpy(),
                rtol=rtol,
                atol=atol,
                err_msg=f"param {i} after step {t + 1}",
            )
    return opt, topt, ps, tps


def assert_state_matches_torch(opt, topt, ps, tps):
    """Same per-parameter state names, step counts and buffers as torch."""
    for p, tp in zip(ps, tps):
        ours, theirs = opt.state.get(p, {}), topt.state.get(tp, {})
        assert sorted(ours) == sorted(theirs)
        for key, value in theirs.items():
            if key == "step":
                assert ours[key] == value.item()
            else:
                np.testing.assert_allclose(ours[key], value.numpy(), rtol=1e-9, atol=ATOL)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for g, tg in zip(sd["param_groups"], tsd["param_groups"]):
        assert g["params"] == tg["params"]
        assert {k: v for k, v in g.items() if k != "params"}.items() <= tg.items()


# ---------------------------------------------------------------- option tables
def _sgd_cases():
    for m, d, n, wd, mx in itertools.product(
        (0, 0.9), (0, 0.3), (False, True), (0, 0.05), (False, True)
    ):
        if n and (m == 0 or d != 0):
            continue
        yield {
            "lr": 0.05,
            "momentum": m,
            "dampening": d,
            "nesterov": n,
            "weight_decay": wd,
            "maximize": mx,
        }


def _adam_cases():
    for ams, wd, mx, betas in itertools.product(
        (False, True), (0, 0.1), (False, True), ((0.9, 0.999), (0.3, 0.8))
    ):
        yield {"lr": 0.01, "betas": betas, "amsgrad": ams, "weight_decay": wd, "maximize": mx}


def _adamw_cases():
    for ams, mx, betas in itertools.product(
        (False, True), (False, True), ((0.9, 0.999), (0.3, 0.8))
    ):
        yield {"lr": 0.01, "betas": betas, "amsgrad": ams, "weight_decay": 0.05, "maximize": mx}


def _rmsprop_cases():
    for c, m, wd, mx, alpha in itertools.product(
        (False, True), (0, 0.6), (0, 0.1), (False, True), (0.99, 0.3)
    ):
        yield {
            "lr": 0.01,
            "alpha": alpha,
            "centered": c,
            "momentum": m,
            "weight_decay": wd,
            "maximize": mx,
        }


def _id(case):
    return ",".join(f"{k}={v}" for k, v in case.items() if k != "lr")


@pytest.mark.parametrize("kwargs", list(_sgd_cases()), ids=_id)
def test_sgd_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, SGD, torch.optim.SGD, kwargs)
    assert_state_matches_torch(*out)


@pytest.mark.parametrize("kwargs", list(_adam_cases()), ids=_id)
def test_adam_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, Adam, torch.optim.Adam, kwargs)
    assert_state_matches_torch(*out)


@pytest.mark.parametrize("kwargs", list(_adamw_cases()), ids=_id)
def test_adamw_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, AdamW, torch.optim.AdamW, kwargs)
    assert_state_matches_torch(*out)


def test_adam_decoupled_weight_decay_flag_matches_torch(torch):
    kwargs = {"lr": 0.01, "weight_decay": 0.1, "decoupled_weight_decay": True}
    out = run_against_torch(torch, Adam, torch.optim.Adam, kwargs)
    assert_state_matches_torch(*out)


@pytest.mark.parametrize("kwargs", list(_rmsprop_cases()), ids=_id)
def test_rmsprop_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, RMSprop, torch.optim.RMSprop, kwargs)
    assert_state_matches_torch(*out)


GROUP_CASES = {
    "SGD": (
        SGD,
        "SGD",
        {"lr": 0.05, "momentum": 0.9},
        [
            ([0, 1], {}),
            ([2, 3], {"lr": 0.02, "momentum": 0.5, "dampening": 0.2, "weight_decay": 0.1}),
        ],
    ),
    "SGD-nesterov": (
        SGD,
        "SGD",
        {"lr": 0.05},
        [([0], {"momentum": 0.8, "nesterov": True}), ([1, 2, 3], {})],
    ),
    "Adam": (
        Adam,
        "Adam",
        {"lr": 0.01},
        [([0, 3], {"amsgrad": True, "betas": (0.5, 0.9)}), ([1, 2], {"weight_decay": 0.2})],
    ),
    "AdamW": (
        AdamW,
        "AdamW",
        {"lr": 0.01},
        [([0], {"weight_decay": 0.3, "lr": 0.03}), ([1, 2, 3], {"amsgrad": True})],
    ),
    "RMSprop": (
        RMSprop,
        "RMSprop",
        {"lr": 0.01},
        [([2, 0], {"centered": True, "momentum": 0.5}), ([1, 3], {"alpha": 0.9, "eps": 1e-3})],
    ),
}


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_param_groups_match_torch(torch, name):
    cls, torch_name, kwargs, spec = GROUP_CASES[name]
    out = run_against_torch(torch, cls, getattr(torch.optim, torch_name), kwargs, spec)
    assert_state_matches_torch(*out)
    assert [g["lr"] for g in out[0].param_groups] == [g["lr"] for g in out[1].param_groups]


FLOAT32_CASES = [
    (SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (Adam, "Adam", {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    (AdamW, "AdamW", {"lr": 0.01, "betas": (0.3, 0.8)}),
    (RMSprop, "RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
]


@pytest.mark.parametrize(("cls", "torch_name", "kwargs"), FLOAT32_CASES)
def test_float32_stays_float32_and_matches_torch(torch, cls, torch_name, kwargs):
    problem = Problem(dtype=np.float32, steps=20)
    opt, _, ps, _ = run_against_torch(
        torch,
        cls,
        getattr(torch.optim, torch_name),
        kwargs,
        problem=problem,
        rtol=1e-5,
        atol=1e-6,
        steps=20,
    )
    for p in ps:
        assert p.data.dtype == np.float32
        for v in opt.state[p].values():
            assert not isinstance(v, np.ndarray) or v.dtype == np.float32


# ---------------------------------------------------------------- in place, zero_grad
def test_step_updates_in_place_and_skips_params_without_grad():
    ps = Problem().ours()
    arrays = [p.data for p in ps]
    before = [a.copy() for a in arrays]
    opt = Adam(ps, lr=0.1)
    ps[0].grad = np.ones(SHAPES[0])
    opt.step()
    assert all(p.data is a for p, a in zip(ps, arrays))
    assert not np.array_equal(ps[0].data, before[0])
    for p, b in zip(ps[1:], before[1:]):
        np.testing.assert_array_equal(p.data, b)
        assert p not in opt.state


def test_zero_grad():
    ps = Problem().ours()
    opt = SGD(ps, lr=0.1)
    for p in ps:
        p.grad = np.ones(p.shape)
    grads = [p.grad for p in ps]
    opt.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.any() for p, g in zip(ps, grads))
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_step_closure_returns_loss():
    p = Parameter(np.array([1.0, 2.0]))
    opt = SGD([p], lr=0.5)

    def closure():
        p.grad = 2 * p.data
        return float((p.data**2).sum())

    assert opt.step(closure) == 5.0
    np.testing.assert_array_equal(p.data, [0.0, 0.0])


# ---------------------------------------------------------------- state dicts
ROUND_TRIP_CASES = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    (SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.5}),
    (Adam, {"lr": 0.01, "amsgrad": True, "weight_decay": 0.01}),
    (AdamW, {"lr": 0.01, "betas": (0.8, 0.9)}),
    (RMSprop, {"lr": 0.01, "centered": True, "momentum": 0.5}),
]


def _run(problem, ps, opt, steps):
    for t in steps:
        problem.feed(t, ps)
        opt.step()


@pytest.mark.parametrize("via_arrays", [False, True], ids=["state_dict", "arrays+json"])
@pytest.mark.parametrize(("cls", "kwargs"), ROUND_TRIP_CASES)
def test_state_dict_round_trip_mid_run(cls, kwargs, via_arrays):
    problem = Problem()
    ps = problem.ours()
    spec = [([0, 1], {}), ([2, 3], {"lr": kwargs["lr"] / 2})]
    full = cls(_groups(ps, spec), **kwargs)
    _run(problem, ps, full, range(STEPS))

    ps2 = problem.ours()
    first = cls(_groups(ps2, spec), **kwargs)
    _run(problem, ps2, first, range(STEPS // 2))
    sd = first.state_dict()
    if via_arrays:
        arrays, meta = optimizer_state_to_arrays(sd)
        assert all(isinstance(a, np.ndarray) for a in arrays.values())
        sd = optimizer_state_from_arrays(arrays, json.loads(json.dumps(meta)))
    ps3 = [Parameter(p.data.copy()) for p in ps2]
    second = cls(_groups(ps3, spec), **dict(kwargs, lr=123.0))
    second.load_state_dict(sd)
    assert [g["lr"] for g in second.param_groups] == [g["lr"] for g in first.param_groups]
    _run(problem, ps3, second, range(STEPS // 2, STEPS))
    for p, q in zip(ps, ps3):
        np.testing.assert_array_equal(p.data, q.data)


def test_state_dict_is_a_copy():
    problem = Problem()
    ps = problem.ours()
    opt = Adam(ps, lr=0.01)
    _run(problem, ps, opt, range(3))
    sd = opt.state_dict()
    sd["state"][0]["exp_avg"][...] = 99.0
    sd["param_groups"][0]["lr"] = 5.0
    assert not (opt.state[ps[0]]["exp_avg"] == 99.0).any()
    assert opt.param_groups[0]["lr"] == 0.01


def test_load_torch_state_dict_and_continue(torch):
    """A torch.optim.Adam state dict (tensors) loads into ours; both continue identically."""
    problem = Problem()
    tps = problem.theirs(torch)
    topt = torch.optim.Adam(tps, lr=0.01, amsgrad=True)
    for t in range(30):
        problem.feed(t, tps, torch)
        topt.step()
    ps = [Parameter(tp.detach().numpy().copy()) for tp in tps]
    opt = Adam(ps)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["amsgrad"] is True and opt.param_groups[0]["lr"] == 0.01
    for t in range(30, 60):
        problem.feed(t, ps)
        problem.feed(t, tps, torch)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=RTOL, atol=ATOL)


def _snapshot(opt):
    arrays, meta = optimizer_state_to_arrays(opt.state_dict())
    return {k: v.copy() for k, v in arrays.items()}, json.dumps(meta, sort_keys=True)


def _assert_same_snapshot(a, b):
    assert a[1] == b[1] and a[0].keys() == b[0].keys()
    for k in a[0]:
        np.testing.assert_array_equal(a[0][k], b[0][k])


def _corrupt(kind, sd):
    if kind == "groups":
        sd["param_groups"].append(dict(sd["param_groups"][0], params=[]))
    elif kind == "params":
        sd["param_groups"][0]["params"] = sd["param_groups"][0]["params"][:-1]
    elif kind == "shape":
        sd["state"][1]["exp_avg_sq"] = np.zeros((7,))
    elif kind == "index":
        sd["state"][17] = sd["state"][0]
    elif kind == "option":
        sd["param_groups"][0]["betas"] = (1.5, 0.9)
    elif kind == "structure":
        del sd["param_groups"]
    return sd


@pytest.mark.parametrize(
    ("kind", "match"),
    [
        ("groups", "2 parameter groups"),
        ("params", "parameter group 0 has 3 parameters"),
        ("shape", r"exp_avg_sq.*shape \(7,\).*\(5,\)"),
        ("index", "unknown parameter index 17"),
        ("option", r"betas\[0\].*1\.5"),
        ("structure", "'state' and 'param_groups'"),
    ],
)
def test_load_state_dict_validates_before_changing_anything(kind, match):
    problem = Problem()
    ps = problem.ours()
    opt = Adam(ps, lr=0.01)
    _run(problem, ps, opt, range(4))
    before = _snapshot(opt)
    bad = _corrupt(kind, opt.state_dict())
    other = Adam(problem.ours(), lr=0.5)
    _run(problem, other.param_groups[0]["params"], other, range(2))
    other_before = _snapshot(other)
    with pytest.raises(ValueError, match=match):
        other.load_state_dict(bad)
    _assert_same_snapshot(_snapshot(other), other_before)
    _assert_same_snapshot(_snapshot(opt), before)


def test_state_arrays_format_errors():
    p = Parameter(np.zeros(3))
    arrays, meta = optimizer_state_to_arrays(SGD([p]).state_dict())
    with pytest.raises(ValueError, match="format"):
        optimizer_state_from_arrays(arrays, {"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="malformed key 'momentum'"):
        optimizer_state_from_arrays({"momentum": np.zeros(3)}, meta)


# ---------------------------------------------------------------- bad input
def _p():
    return Parameter(np.zeros(3))


BAD_OPTIONS = [
    (SGD, {"lr": -0.1}, ValueError, ["SGD", "lr", "-0.1"]),
    (SGD, {"lr": "0.1"}, TypeError, ["SGD", "lr", "'0.1'"]),
    (SGD, {"momentum": -0.5}, ValueError, ["SGD", "momentum", "-0.5"]),
    (SGD, {"weight_decay": -1e-3}, ValueError, ["SGD", "weight_decay", "-0.001"]),
    (SGD, {"nesterov": True}, ValueError, ["SGD", "nesterov", "momentum=0"]),
    (
        SGD,
        {"nesterov": True, "momentum": 0.9, "dampening": 0.1},
        ValueError,
        ["SGD", "nesterov", "dampening=0.1"],
    ),
    (SGD, {"maximize": "no"}, TypeError, ["SGD", "maximize", "'no'"]),
    (Adam, {"lr": float("nan")}, ValueError, ["Adam", "lr", "nan"]),
    (Adam, {"betas": (1.0, 0.999)}, ValueError, ["Adam", "betas[0]", "1.0"]),
    (Adam, {"betas": (0.9, -0.1)}, ValueError, ["Adam", "betas[1]", "-0.1"]),
    (Adam, {"betas": 0.9}, TypeError, ["Adam", "betas", "0.9"]),
    (Adam, {"eps": -1e-8}, ValueError, ["Adam", "eps", "-1e-08"]),
    (Adam, {"weight_decay": -0.1}, ValueError, ["Adam", "weight_decay", "-0.1"]),
    (Adam, {"amsgrad": None}, TypeError, ["Adam", "amsgrad", "None"]),
    (AdamW, {"lr": -1}, ValueError, ["AdamW", "lr", "-1"]),
    (AdamW, {"betas": (0.9, 1.0)}, ValueError, ["AdamW", "betas[1]", "1.0"]),
    (RMSprop, {"alpha": -0.5}, ValueError, ["RMSprop", "alpha", "-0.5"]),
    (RMSprop, {"momentum": -0.9}, ValueError, ["RMSprop", "momentum", "-0.9"]),
    (RMSprop, {"eps": -1.0}, ValueError, ["RMSprop", "eps", "-1.0"]),
    (RMSprop, {"weight_decay": -2}, ValueError, ["RMSprop", "weight_decay", "-2"]),
    (RMSprop, {"centered": "yes"}, TypeError, ["RMSprop", "centered", "'yes'"]),
]


@pytest.mark.parametrize(
    ("cls", "kwargs", "exc", "parts"),
    BAD_OPTIONS,
    ids=[f"{c.__name__}-{_id(k)}" for c, k, _, _ in BAD_OPTIONS],
)
def test_bad_options(cls, kwargs, exc, parts):
    with pytest.raises(exc) as info:
        cls([_p()], **kwargs)
    for part in parts:
        assert part in str(info.value)
    with pytest.raises(exc) as info:  # the same check applies to a param group's own options
        cls([{"params": [_p()]}, {"params": [_p()], **kwargs}])
    assert parts[1] in str(info.value)


def test_bad_params():
    p = _p()
    with pytest.raises(ValueError, match="SGD: optimizer got an empty parameter list"):
        SGD([])
    with pytest.raises(TypeError, match="Adam: params must be an ordered iterable.*Parameter"):
        Adam(p)
    with pytest.raises(TypeError, match="RMSprop: params must be an ordered iterable.*set"):
        RMSprop({p})
    with pytest.raises(
        TypeError, match=r"SGD: can only optimize Tensors, but params\[1\] is ndarray"
    ):
        SGD([p, np.zeros(3)])
    with pytest.raises(TypeError, match="SGD: params must be an iterable.*int"):
        SGD(3)
    with pytest.raises(ValueError, match="SGD: some parameters appear in more than one group"):
        SGD([{"params": [p]}, {"params": [p]}])
    with pytest.raises(ValueError, match="SGD: a parameter group contains a parameter twice"):
        SGD([p, p])
    with pytest.raises(ValueError, match="Adam: can't optimize a non-leaf Tensor"):
        Adam([p * 2.0])
    with pytest.raises(TypeError, match="Adam: can only optimize floating Tensors.*int64"):
        Adam([Tensor(np.arange(3), dtype=np.int64)])
    with pytest.raises(TypeError, match="SGD: param_group must be a dict, received list"):
        SGD([p]).add_param_group([_p()])
    with pytest.raises(ValueError, match="SGD: param_group must have a 'params' entry"):
        SGD([p]).add_param_group({"lr": 0.1})


def test_bad_grad_shape():
    p = _p()
    opt = Adam([p])
    p.grad = np.ones(4)
    with pytest.raises(ValueError, match=r"Adam: gradient of shape \(4,\) does not match .*\(3,\)"):
        opt.step()


def test_add_param_group_uses_defaults():
    p, q = _p(), _p()
    opt = SGD([p], lr=0.1, momentum=0.9)
    opt.add_param_group({"params": q, "lr": 0.01})
    assert len(opt.param_groups[1]["params"]) == 1 and opt.param_groups[1]["params"][0] is q
    assert opt.param_groups[1]["lr"] == 0.01 and opt.param_groups[1]["momentum"] == 0.9
