"""LambdaLR, MultiplicativeLR, ConstantLR, LinearLR, SequentialLR and ReduceLROnPlateau
against torch.optim.lr_scheduler: identical lr sequences over option tables, state dicts
(through JSON, and PyTorch's own), and bad input."""

import itertools
import json

import numpy as np
import pytest

from convolve.optim import lr_scheduler
from test_lr_scheduler import STEPS, assert_same_sequence, make_optimizers


class Warmup:
    """A callable with state: its __dict__ travels in the state dict, as in PyTorch."""

    def __init__(self, n):
        self.n = n

    def __call__(self, e):
        return min(1.0, (e + 1) / self.n)


def _lambdas(kind):
    return {
        "decay": lambda e: 0.95**e,
        "pair": [lambda e: 0.9 ** (e // 3), lambda e: 1.0 / (1 + e)],
        "warmup": Warmup(7),
        "mult-const": lambda e: 0.9,
        "mult-linear": lambda e: 1 - 0.01 * e,
        "mult-pair": (lambda e: 0.97, lambda e: 1.02 if e < 10 else 0.8),
    }[kind]


LAMBDA_CASES = [("LambdaLR", "decay"), ("LambdaLR", "pair"), ("LambdaLR", "warmup"),
                ("MultiplicativeLR", "mult-const"), ("MultiplicativeLR", "mult-linear"),
                ("MultiplicativeLR", "mult-pair")]


@pytest.mark.parametrize(("name", "kind"), LAMBDA_CASES)
def test_lambda_schedulers_match_torch(torch, name, kind):
    opt, topt = make_optimizers(torch, momentum=0.9)
    sched = getattr(lr_scheduler, name)(opt, _lambdas(kind))
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, _lambdas(kind))
    assert_same_sequence(sched, tsched, opt, topt, STEPS)


CASES = [
    ("ConstantLR", {}),
    ("ConstantLR", {"factor": 0.5, "total_iters": 12}),
    ("ConstantLR", {"factor": 1.0, "total_iters": 0}),
    ("LinearLR", {}),
    ("LinearLR", {"start_factor": 0.1, "end_factor": 0.9, "total_iters": 20}),
    ("LinearLR", {"start_factor": 1.0, "end_factor": 0.0, "total_iters": 45}),
]


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_factor_schedulers_match_torch(torch, case, optimizer):
    name, kwargs = case
    opt, topt = make_optimizers(torch, optimizer)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert_same_sequence(sched, tsched, opt, topt, STEPS)


SEQUENCES = {
    "warmup-exp": ([("LinearLR", {"start_factor": 0.1, "total_iters": 5}),
                    ("ExponentialLR", {"gamma": 0.9})], [5]),
    "const-cos-step": ([("ConstantLR", {"factor": 0.2, "total_iters": 4}),
                        ("CosineAnnealingLR", {"T_max": 20, "eta_min": 0.001}),
                        ("StepLR", {"step_size": 5, "gamma": 0.5})], [4, 30]),
    "multistep-lambda": ([("MultiStepLR", {"milestones": [3, 6], "gamma": 0.5}),
                          ("LambdaLR", {"lr_lambda": lambda e: 0.9**e}),
                          ("LinearLR", {"start_factor": 0.5, "total_iters": 10})], [10, 25]),
    "single": ([("ExponentialLR", {"gamma": 0.95})], []),
}


def _sequential(module, opt, spec):
    parts, milestones = spec
    inner = [getattr(module, name)(opt, **kwargs) for name, kwargs in parts]
    return module.SequentialLR(opt, inner, milestones)


@pytest.mark.parametrize("key", list(SEQUENCES))
def test_sequential_matches_torch(torch, key):
    opt, topt = make_optimizers(torch, momentum=0.9)
    sched = _sequential(lr_scheduler, opt, SEQUENCES[key])
    tsched = _sequential(torch.optim.lr_scheduler, topt, SEQUENCES[key])
    assert_same_sequence(sched, tsched, opt, topt, STEPS)


def _metrics(seed, steps=STEPS):
    """A loss that falls, then plateaus with noise, with repeated values now and then."""
    rng = np.random.default_rng(seed)
    values = np.maximum(1.0 / (1 + np.arange(steps) / 5), 0.3) + 0.02 * rng.normal(size=steps)
    values[10:13] = values[10]
    return [float(v) for v in values]


def _plateau_cases():
    for mode, tmode, patience, cooldown, min_lr, eps in itertools.product(
        ("min", "max"), ("rel", "abs"), (0, 3), (0, 2), (0, [0.01, 0.004]), (1e-8, 0.002)
    ):
        yield {"mode": mode, "threshold_mode": tmode, "patience": patience, "cooldown": cooldown,
               "min_lr": min_lr, "eps": eps, "factor": 0.5, "threshold": 0.01}


@pytest.mark.parametrize("kwargs", list(_plateau_cases()),
                         ids=lambda k: ",".join(f"{a}={b}" for a, b in k.items()))
def test_plateau_matches_torch(torch, kwargs):
    opt, topt = make_optimizers(torch)
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    sign = -1.0 if kwargs["mode"] == "max" else 1.0
    lrs = []
    for step, m in enumerate(_metrics(1)):
        sched.step(sign * m)
        tsched.step(torch.tensor(sign * m, dtype=torch.float64))
        assert sched.get_last_lr() == tsched.get_last_lr(), f"step {step + 1}"
        assert (sched.num_bad_epochs, sched.cooldown_counter, sched.best) == \
            (tsched.num_bad_epochs, tsched.cooldown_counter, tsched.best)
        lrs.append(sched.get_last_lr()[0])
    assert len(set(lrs)) > 1  # the table exercises reductions, not just the initial lr


def test_plateau_defaults_and_a_convolve_tensor_metric(torch):
    import convolve as cv

    opt, topt = make_optimizers(torch)
    sched = lr_scheduler.ReduceLROnPlateau(opt)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt)
    for m in [1.0] * 30:
        sched.step(cv.tensor(np.array(m)))
        tsched.step(m)
        assert sched.get_last_lr() == tsched.get_last_lr()
    assert sched.get_last_lr() != [0.1, 0.03]


def _run_plateau(sched, metrics):
    for m in metrics:
        sched.step(m)
    return sched.get_last_lr()


def test_plateau_state_dict_json_and_from_torch(torch):
    kwargs = {"patience": 2, "cooldown": 1, "factor": 0.5}
    metrics = _metrics(2)
    opt, topt = make_optimizers(torch)
    full = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    expected = [full.step(m) or full.get_last_lr() for m in metrics]
    for source in ("ours", "torch"):
        opt, topt = make_optimizers(torch)
        first = (lr_scheduler.ReduceLROnPlateau(opt, **kwargs) if source == "ours"
                 else torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs))
        _run_plateau(first, metrics[:25])
        state = json.loads(json.dumps(first.state_dict()))
        groups = (opt if source == "ours" else topt).state_dict()["param_groups"]
        opt2, _ = make_optimizers(torch)
        opt2.load_state_dict({"state": {}, "param_groups": groups})
        second = lr_scheduler.ReduceLROnPlateau(opt2, patience=50)
        second.load_state_dict(state)
        resumed = [second.step(m) or second.get_last_lr() for m in metrics[25:]]
        assert resumed == expected[25:], source


def _fresh(name, kwargs):
    opt, _ = make_optimizers_ours()
    if name == "SequentialLR":
        return opt, _sequential(lr_scheduler, opt, kwargs)
    if name in ("LambdaLR", "MultiplicativeLR"):
        return opt, getattr(lr_scheduler, name)(opt, _lambdas(kwargs))
    return opt, getattr(lr_scheduler, name)(opt, **kwargs)


def make_optimizers_ours():
    from convolve.nn import Parameter
    from convolve.optim import SGD

    return SGD([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in (0.1, 0.03)]), None


ROUND_TRIP = [("LambdaLR", "warmup"), ("MultiplicativeLR", "mult-pair"),
              ("ConstantLR", {"factor": 0.5, "total_iters": 30}),
              ("LinearLR", {"start_factor": 0.2, "total_iters": 40}),
              ("SequentialLR", SEQUENCES["const-cos-step"]),
              ("SequentialLR", SEQUENCES["warmup-exp"])]


@pytest.mark.parametrize("case", ROUND_TRIP, ids=[f"{c[0]}-{i}" for i, c in enumerate(ROUND_TRIP)])
def test_state_dict_round_trip_through_json(case):
    name, kwargs = case
    opt, sched = _fresh(name, kwargs)
    full = [sched.step() or sched.get_last_lr() for _ in range(STEPS)]
    opt, sched = _fresh(name, kwargs)
    for _ in range(25):
        sched.step()
    opt_state, state = opt.state_dict(), json.loads(json.dumps(sched.state_dict()))
    opt, sched = _fresh(name, kwargs)
    if name == "LambdaLR":
        sched.lr_lambdas[0].n = 99  # restored from the state dict
    opt.load_state_dict(opt_state)
    sched.load_state_dict(state)
    assert [sched.step() or sched.get_last_lr() for _ in range(25, STEPS)] == full[25:]


def test_lambda_state_dict_holds_callable_attributes_like_torch(torch):
    opt, topt = make_optimizers(torch)
    ours = lr_scheduler.LambdaLR(opt, [Warmup(3), lambda e: 1.0]).state_dict()
    theirs = torch.optim.lr_scheduler.LambdaLR(topt, [Warmup(3), lambda e: 1.0]).state_dict()
    assert ours["lr_lambdas"] == theirs["lr_lambdas"] == [{"n": 3}, None]


@pytest.mark.parametrize(("build", "exc", "words"), [
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), ValueError, "2 lr_lambdas"),
    (lambda o: lr_scheduler.MultiplicativeLR(o, 0.9), TypeError, "lr_lambda must be callable"),
    (lambda o: lr_scheduler.ConstantLR(o, factor=1.5), ValueError, "factor"),
    (lambda o: lr_scheduler.LinearLR(o, start_factor=0), ValueError, "start_factor"),
    (lambda o: lr_scheduler.LinearLR(o, end_factor=2.0), ValueError, "end_factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="up"), ValueError, "mode='up'"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="x"), ValueError,
     "threshold_mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), ValueError, "factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "2 min_lrs"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), ValueError, "patience"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ConstantLR(o)], [3]), ValueError,
     "milestones"),
    (lambda o: lr_scheduler.SequentialLR(o, [lr_scheduler.ReduceLROnPlateau(o)], []),
     TypeError, "ReduceLROnPlateau"),
])
def test_bad_input_names_the_argument(build, exc, words):
    opt, _ = make_optimizers_ours()
    with pytest.raises(exc, match=words):
        build(opt)


def test_plateau_step_needs_a_number():
    opt, _ = make_optimizers_ours()
    with pytest.raises(TypeError, match="metrics must be a number"):
        lr_scheduler.ReduceLROnPlateau(opt).step("low")


@pytest.mark.parametrize("name", ["LinearLR", "LambdaLR", "ConstantLR", "SequentialLR"])
def test_load_torch_scheduler_state_dict(torch, name):
    """A PyTorch scheduler's state dict loads into ours; both then continue identically."""
    def build(module, opt):
        if name == "SequentialLR":
            return _sequential(module, opt, SEQUENCES["warmup-exp"])
        if name == "LambdaLR":
            return module.LambdaLR(opt, Warmup(9))
        return getattr(module, name)(opt, total_iters=12)

    opt, topt = make_optimizers(torch, momentum=0.9)
    tsched = build(torch.optim.lr_scheduler, topt)
    for _ in range(7):
        topt.step()
        tsched.step()
    sched = build(lr_scheduler, opt)
    opt.load_state_dict({"state": {}, "param_groups": topt.state_dict()["param_groups"]})
    sched.load_state_dict(tsched.state_dict())
    assert_same_sequence(sched, tsched, opt, topt, 20)


@pytest.mark.parametrize(("name", "kwargs"), [
    ("StepLR", {"step_size": 3, "gamma": 0.5}), ("ExponentialLR", {"gamma": 0.9}),
    ("MultiStepLR", {"milestones": [2, 5, 5]}), ("CosineAnnealingLR", {"T_max": 7}),
    ("LinearLR", {"total_iters": 6}), ("ConstantLR", {"total_iters": 4}),
])
def test_deprecated_step_with_epoch_matches_torch(torch, name, kwargs):
    opt, topt = make_optimizers(torch)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    for epoch in (3, 1, 8, 5, 5, 12, 0):
        topt.step()
        with pytest.warns(UserWarning, match="deprecated"):
            sched.step(epoch)
        with pytest.warns(UserWarning, match="deprecated"):
            tsched.step(epoch)
        assert sched.get_last_lr() == tsched.get_last_lr(), f"epoch {epoch}"
        assert sched.last_epoch == tsched.last_epoch == epoch
