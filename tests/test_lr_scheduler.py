"""LR schedulers against torch.optim.lr_scheduler: identical learning-rate (and momentum/beta)
sequences, resuming via last_epoch and state dicts, and bad input."""

import json

import numpy as np
import pytest

from convolve.nn import Parameter
from convolve.optim import SGD, Adam, Optimizer, RMSprop, lr_scheduler
from test_optim import Problem

STEPS = 60
LRS = (0.1, 0.03)


def make_optimizers(torch, name="SGD", lrs=LRS, **kwargs):
    """Ours and torch's optimizer of the same kind, one param group per lr."""
    ours = {"SGD": SGD, "Adam": Adam, "RMSprop": RMSprop}[name]
    opt = ours([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs], **kwargs)
    topt = getattr(torch.optim, name)(
        [
            {"params": [torch.zeros(2, dtype=torch.float64, requires_grad=True)], "lr": lr}
            for lr in lrs
        ],
        **kwargs,
    )
    return opt, topt


def _momenta(opt):
    return [g["betas"] if "betas" in g else g.get("momentum") for g in opt.param_groups]


def assert_same_sequence(sched, tsched, opt, topt, steps):
    assert sched.get_last_lr() == tsched.get_last_lr()
    for step in range(steps):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step + 1}"
        assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in topt.param_groups]
        assert _momenta(opt) == _momenta(topt), f"momentum at step {step + 1}"
        assert sched.last_epoch == tsched.last_epoch


CASES = [
    ("StepLR", {"step_size": 7, "gamma": 0.5}),
    ("StepLR", {"step_size": 1, "gamma": 0.9}),
    ("MultiStepLR", {"milestones": [5, 12, 12, 40], "gamma": 0.3}),
    ("MultiStepLR", {"milestones": (30,)}),
    ("ExponentialLR", {"gamma": 0.93}),
    ("CosineAnnealingLR", {"T_max": 20}),
    ("CosineAnnealingLR", {"T_max": 17, "eta_min": 0.005}),
    ("CosineAnnealingLR", {"T_max": 60, "eta_min": 1e-4}),
    ("OneCycleLR", {"max_lr": 0.5, "total_steps": STEPS}),
    (
        "OneCycleLR",
        {"max_lr": [0.5, 0.2], "epochs": 6, "steps_per_epoch": 10, "anneal_strategy": "linear"},
    ),
    ("OneCycleLR", {"max_lr": 1.0, "total_steps": STEPS, "pct_start": 0.25, "three_phase": True}),
    (
        "OneCycleLR",
        {
            "max_lr": 0.3,
            "total_steps": STEPS,
            "cycle_momentum": False,
            "div_factor": 10.0,
            "final_div_factor": 100.0,
        },
    ),
    (
        "OneCycleLR",
        {
            "max_lr": 0.3,
            "total_steps": STEPS,
            "base_momentum": [0.8, 0.7],
            "max_momentum": 0.9,
            "three_phase": True,
            "anneal_strategy": "linear",
        },
    ),
]
OPTIMIZERS = [("SGD", {"momentum": 0.9}), ("Adam", {}), ("RMSprop", {})]


def _id(case):
    return case[0] + "-" + ",".join(f"{k}={v}" for k, v in case[1].items())


@pytest.mark.parametrize("optimizer", OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_lr_sequence_matches_torch(torch, case, optimizer):
    name, kwargs = case
    opt, topt = make_optimizers(torch, optimizer[0], **optimizer[1])
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert_same_sequence(sched, tsched, opt, topt, STEPS)
    for key in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
        assert [g.get(key) for g in opt.param_groups] == [g.get(key) for g in topt.param_groups]


def test_onecycle_cannot_step_past_total_steps(torch):
    opt, topt = make_optimizers(torch, momentum=0.9)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.5, total_steps=10)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.5, total_steps=10)
    assert_same_sequence(sched, tsched, opt, topt, 10)
    with pytest.raises(ValueError, match="Tried to step 11 times"):
        tsched.step()
    with pytest.raises(ValueError, match="OneCycleLR: tried to step 11 times.*total_steps=10"):
        sched.step()


def test_onecycle_adam_trajectory_matches_torch(torch):
    """The schedule drives lr and beta1 of a real Adam run: parameters follow torch's."""
    problem = Problem()
    ps, tps = problem.ours(), problem.theirs(torch)
    opt, topt = Adam(ps, lr=0.01), torch.optim.Adam(tps, lr=0.01)
    sched = lr_scheduler.OneCycleLR(opt, max_lr=0.05, total_steps=STEPS)
    tsched = torch.optim.lr_scheduler.OneCycleLR(topt, max_lr=0.05, total_steps=STEPS)
    for t in range(STEPS):
        problem.feed(t, ps)
        problem.feed(t, tps, torch)
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        for p, tp in zip(ps, tps):
            np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("StepLR", {"step_size": 3, "gamma": 0.5}),
        ("MultiStepLR", {"milestones": [12, 15]}),
        ("ExponentialLR", {"gamma": 0.9}),
        ("CosineAnnealingLR", {"T_max": 25, "eta_min": 0.001}),
    ],
)
def test_resume_with_last_epoch_matches_torch(torch, name, kwargs):
    opt, topt = make_optimizers(torch)
    first = getattr(lr_scheduler, name)(opt, **kwargs)
    tfirst = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert_same_sequence(first, tfirst, opt, topt, 10)
    sched = getattr(lr_scheduler, name)(opt, last_epoch=10, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, last_epoch=10, **kwargs)
    assert_same_sequence(sched, tsched, opt, topt, 20)


@pytest.mark.parametrize("case", CASES, ids=[_id(c) for c in CASES])
def test_state_dict_round_trip(case):
    """Save optimizer + scheduler at step 25 (scheduler state through JSON), restore into fresh
    ones, continue: the same lr and momentum sequence as an uninterrupted run."""
    name, kwargs = case

    def fresh():
        opt = SGD([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in LRS], momentum=0.9)
        return opt, getattr(lr_scheduler, name)(opt, **kwargs)

    opt, sched = fresh()
    full = []
    for _ in range(STEPS):
        sched.step()
        full.append((sched.get_last_lr(), _momenta(opt)))
    opt, sched = fresh()
    for _ in range(25):
        sched.step()
    opt_state = opt.state_dict()
    sched_state = json.loads(json.dumps(sched.state_dict()))
    opt, sched = fresh()
    opt.load_state_dict(opt_state)
    sched.load_state_dict(sched_state)
    resumed = []
    for _ in range(25, STEPS):
        sched.step()
        resumed.append((sched.get_last_lr(), _momenta(opt)))
    assert resumed == full[25:]


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        ("MultiStepLR", {"milestones": [4, 9, 9, 20], "gamma": 0.5}),
        ("CosineAnnealingLR", {"T_max": 13, "eta_min": 0.002}),
        ("OneCycleLR", {"max_lr": 0.4, "total_steps": 40, "three_phase": True}),
    ],
)
def test_load_torch_scheduler_state_dict(torch, name, kwargs):
    """A PyTorch scheduler's state dict (MultiStepLR's Counter included) loads into ours."""
    opt, topt = make_optimizers(torch, momentum=0.9)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for _ in range(10):
        topt.step()
        tsched.step()
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    opt.load_state_dict({"state": {}, "param_groups": topt.state_dict()["param_groups"]})
    sched.load_state_dict(tsched.state_dict())
    assert_same_sequence(sched, tsched, opt, topt, 25)


def test_state_dict_has_torch_keys(torch):
    opt, topt = make_optimizers(torch)
    sd = lr_scheduler.CosineAnnealingLR(opt, T_max=5).state_dict()
    tsd = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=5).state_dict()
    assert set(sd) <= set(tsd)
    assert {k: sd[k] for k in ("T_max", "eta_min", "base_lrs", "last_epoch", "_last_lr")} == {
        k: tsd[k] for k in ("T_max", "eta_min", "base_lrs", "last_epoch", "_last_lr")
    }


# ---------------------------------------------------------------- bad input
class _NoMomentum(Optimizer):
    def __init__(self, params):
        super().__init__(params, {"lr": 0.1})


def _opt():
    return SGD([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in LRS], momentum=0.9)


BAD = [
    (lambda: lr_scheduler.StepLR(object(), 3), TypeError, "StepLR: expected an Optimizer"),
    (lambda: lr_scheduler.StepLR(_opt(), 0), ValueError, "StepLR: expected step_size >= 1"),
    (
        lambda: lr_scheduler.StepLR(_opt(), 2.5),
        TypeError,
        "StepLR: expected step_size to be an int",
    ),
    (
        lambda: lr_scheduler.StepLR(_opt(), 2, last_epoch=5),
        ValueError,
        r"StepLR: param_groups\[0\] has no 'initial_lr'",
    ),
    (lambda: lr_scheduler.MultiStepLR(_opt(), 5), TypeError, "MultiStepLR: expected milestones"),
    (lambda: lr_scheduler.MultiStepLR(_opt(), [1, "a"]), TypeError, r"milestones\[i\]='a'"),
    (lambda: lr_scheduler.ExponentialLR(_opt(), "x"), TypeError, "ExponentialLR: expected gamma"),
    (lambda: lr_scheduler.CosineAnnealingLR(_opt(), 0), ValueError, "T_max > 0, received T_max=0"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), 0.1), ValueError, "either total_steps or"),
    (lambda: lr_scheduler.OneCycleLR(_opt(), 0.1, total_steps=0), ValueError, "total_steps >= 1"),
    (
        lambda: lr_scheduler.OneCycleLR(_opt(), 0.1, epochs=0, steps_per_epoch=3),
        ValueError,
        "epochs >= 1",
    ),
    (lambda: lr_scheduler.OneCycleLR(_opt(), 0.1, 10, pct_start=1.5), ValueError, "pct_start=1.5"),
    (
        lambda: lr_scheduler.OneCycleLR(_opt(), 0.1, 10, anneal_strategy="exp"),
        ValueError,
        "anneal_strategy must be 'cos' or 'linear', received 'exp'",
    ),
    (
        lambda: lr_scheduler.OneCycleLR(_opt(), [0.1, 0.2, 0.3], 10),
        ValueError,
        r"max_lr must have one value per param group \(2\), received 3",
    ),
    (
        lambda: lr_scheduler.OneCycleLR(_NoMomentum([Parameter(np.zeros(2))]), 0.1, 10),
        ValueError,
        "cycle_momentum=True needs an optimizer with momentum or betas, received _NoMomentum",
    ),
]


@pytest.mark.parametrize(("make", "exc", "match"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_arguments(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


def test_bad_load_state_dict_changes_nothing():
    sched = lr_scheduler.StepLR(_opt(), 3)
    before = sched.state_dict()
    with pytest.raises(TypeError, match="StepLR.load_state_dict: expected a dict"):
        sched.load_state_dict([1])
    cosine = lr_scheduler.CosineAnnealingLR(_opt(), T_max=4).state_dict()
    with pytest.raises(ValueError, match=r"unknown entries \['T_max', 'eta_min'\]"):
        sched.load_state_dict(cosine)
    with pytest.raises(ValueError, match="state has 3 base_lrs, the optimizer has 2"):
        sched.load_state_dict(dict(before, base_lrs=[0.1, 0.1, 0.1]))
    assert sched.state_dict() == before
