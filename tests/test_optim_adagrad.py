"""Adagrad and Adadelta against torch.optim: 100-step float64 trajectories (rtol 1e-10) over
option tables, param groups, state dicts (ours and torch's), and bad input."""

import itertools

import numpy as np
import pytest

from convolve.nn import Parameter
from convolve.optim import Adadelta, Adagrad
from test_optim import (
    STEPS,
    Problem,
    _groups,
    _id,
    _run,
    assert_state_matches_torch,
    run_against_torch,
)


def _adagrad_cases():
    for lr_decay, wd, init, mx, eps in itertools.product(
        (0, 0.05), (0, 0.1), (0, 0.3), (False, True), (1e-10, 1e-3)
    ):
        yield {"lr": 0.1, "lr_decay": lr_decay, "weight_decay": wd,
               "initial_accumulator_value": init, "maximize": mx, "eps": eps}


def _adadelta_cases():
    for rho, wd, mx, eps in itertools.product((0.9, 0.5), (0, 0.1), (False, True), (1e-6, 1e-2)):
        yield {"lr": 1.0, "rho": rho, "weight_decay": wd, "maximize": mx, "eps": eps}


@pytest.mark.parametrize("kwargs", list(_adagrad_cases()), ids=_id)
def test_adagrad_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, Adagrad, torch.optim.Adagrad, kwargs)
    assert_state_matches_torch(*out)


@pytest.mark.parametrize("kwargs", list(_adadelta_cases()), ids=_id)
def test_adadelta_trajectory_matches_torch(torch, kwargs):
    out = run_against_torch(torch, Adadelta, torch.optim.Adadelta, kwargs)
    assert_state_matches_torch(*out)


def test_defaults_match_torch(torch):
    for ours, theirs in ((Adagrad, torch.optim.Adagrad), (Adadelta, torch.optim.Adadelta)):
        opt = ours([Parameter(np.zeros(2))])
        topt = theirs([torch.zeros(2, requires_grad=True)])
        assert opt.defaults == topt.defaults
        out = run_against_torch(torch, ours, theirs, {})
        assert_state_matches_torch(*out)


GROUP_CASES = {
    "Adagrad": (Adagrad, "Adagrad", {"lr": 0.1},
                [([0, 3], {"lr_decay": 0.1, "initial_accumulator_value": 0.5}),
                 ([1, 2], {"weight_decay": 0.2, "lr": 0.05})]),
    "Adadelta": (Adadelta, "Adadelta", {"lr": 0.5},
                 [([2, 0], {"rho": 0.6}), ([1, 3], {"eps": 1e-3, "weight_decay": 0.1})]),
}


@pytest.mark.parametrize("name", list(GROUP_CASES))
def test_param_groups_match_torch(torch, name):
    cls, torch_name, kwargs, spec = GROUP_CASES[name]
    out = run_against_torch(torch, cls, getattr(torch.optim, torch_name), kwargs, spec)
    assert_state_matches_torch(*out)


def test_adagrad_state_exists_before_the_first_step_as_in_torch(torch):
    ps = Problem().ours()
    opt = Adagrad(ps, initial_accumulator_value=0.25)
    topt = torch.optim.Adagrad(Problem().theirs(torch), initial_accumulator_value=0.25)
    assert sorted(opt.state_dict()["state"]) == sorted(topt.state_dict()["state"]) == [0, 1, 2, 3]
    for p in ps:
        np.testing.assert_array_equal(opt.state[p]["sum"], np.full(p.shape, 0.25))
        assert opt.state[p]["step"] == 0.0


@pytest.mark.parametrize(("cls", "kwargs"), [
    (Adagrad, {"lr": 0.1, "lr_decay": 0.01, "initial_accumulator_value": 0.1}),
    (Adadelta, {"lr": 0.7, "rho": 0.8, "weight_decay": 0.01}),
])
def test_state_dict_round_trip_mid_run(cls, kwargs):
    problem = Problem()
    spec = [([0, 1], {}), ([2, 3], {"lr": kwargs["lr"] / 2})]
    ps = problem.ours()
    full = cls(_groups(ps, spec), **kwargs)
    _run(problem, ps, full, range(STEPS))
    ps2 = problem.ours()
    first = cls(_groups(ps2, spec), **kwargs)
    _run(problem, ps2, first, range(STEPS // 2))
    ps3 = [Parameter(p.data.copy()) for p in ps2]
    second = cls(_groups(ps3, spec), **dict(kwargs, lr=123.0))
    second.load_state_dict(first.state_dict())
    assert [g["lr"] for g in second.param_groups] == [g["lr"] for g in first.param_groups]
    _run(problem, ps3, second, range(STEPS // 2, STEPS))
    for p, q in zip(ps, ps3):
        np.testing.assert_array_equal(p.data, q.data)


@pytest.mark.parametrize("name", ["Adagrad", "Adadelta"])
def test_load_torch_state_dict_and_continue(torch, name):
    problem = Problem()
    tps = problem.theirs(torch)
    topt = getattr(torch.optim, name)(tps, lr=0.3, weight_decay=0.01)
    for t in range(30):
        problem.feed(t, tps, torch)
        topt.step()
    ps = [Parameter(tp.detach().numpy().copy()) for tp in tps]
    opt = {"Adagrad": Adagrad, "Adadelta": Adadelta}[name](ps)
    opt.load_state_dict(topt.state_dict())
    assert opt.param_groups[0]["lr"] == 0.3
    for t in range(30, 60):
        problem.feed(t, ps)
        problem.feed(t, tps, torch)
        opt.step()
        topt.step()
    for p, tp in zip(ps, tps):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("cls", "kwargs"), [
    (Adagrad, {"lr": 0.1, "lr_decay": 0.01, "weight_decay": 0.01}),
    (Adadelta, {"lr": 1.0, "rho": 0.8, "weight_decay": 0.01}),
])
def test_float32_matches_torch(torch, cls, kwargs):
    problem = Problem(dtype=np.float32, steps=20)
    run_against_torch(torch, cls, getattr(torch.optim, cls.__name__), kwargs, problem=problem,
                      rtol=1e-5, atol=1e-6, steps=20)


def test_float32_stays_float32():
    p = Parameter(np.ones(3, dtype=np.float32))
    for cls in (Adagrad, Adadelta):
        opt = cls([p])
        p.grad = np.full(3, 0.5, dtype=np.float32)
        opt.step()
        assert p.data.dtype == np.float32
        assert all(v.dtype == np.float32 for v in opt.state[p].values()
                   if isinstance(v, np.ndarray))


@pytest.mark.parametrize(("cls", "kwargs", "exc", "words"), [
    (Adagrad, {"lr": -1.0}, ValueError, "lr"),
    (Adagrad, {"lr_decay": -0.1}, ValueError, "lr_decay"),
    (Adagrad, {"initial_accumulator_value": -1}, ValueError, "initial_accumulator_value"),
    (Adagrad, {"eps": "x"}, TypeError, "eps"),
    (Adagrad, {"maximize": 1}, TypeError, "maximize"),
    (Adagrad, {"fused": True}, ValueError, "fused"),
    (Adadelta, {"rho": 1.5}, ValueError, "rho"),
    (Adadelta, {"weight_decay": -1}, ValueError, "weight_decay"),
    (Adadelta, {"differentiable": True}, ValueError, "differentiable"),
])
def test_bad_options_name_the_argument(cls, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        cls([Parameter(np.zeros(2))], **kwargs)
