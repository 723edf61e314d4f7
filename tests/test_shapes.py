"""Shape rules (convolve.shapes) against real forward passes: seeded random layer stacks of
every layer type, the named models and the description planner; summary's computed rows
equal the rows of a traced forward pass."""

import importlib

import numpy as np
import pytest

import convolve as cv
from convolve import models, nn, shapes, zoo
from convolve.errors import SpecError
from convolve.summary import summary
from layer_stacks import build, random_stack

summary_module = importlib.import_module("convolve.summary")  # the package exports the function


def leaves(model):
    return [m for _, m in model.named_modules() if next(m.children(), None) is None]


@pytest.mark.parametrize("nd", [0, 1, 2])
@pytest.mark.parametrize("seed", range(25))
def test_shape_rules_match_a_forward_pass(nd, seed):
    cv.manual_seed(seed)
    shape, spec = random_stack(seed, nd, extra=True, modes=("zeros", "reflect", "circular"))
    model = build(nn, spec).eval()
    traced = summary_module._rows(summary_module._trace(model, shape), shape)
    assert summary(model, shape).rows == traced
    if summary_module._leaves(model) is None:  # a layer without a shape rule: traced
        return
    computed = summary_module._rows(summary_module._computed(model, shape), shape)
    assert computed == traced
    for m, row in zip(leaves(model), computed):
        if type(m).__name__ in shapes.KNOWN:
            a = shapes.module_args(m)
            own = sum(p.data.size for p in m._parameters.values() if p is not None)
            assert shapes.param_count(type(m).__name__, a, row.input_shape,
                                      row.output_shape) == own


@pytest.mark.parametrize("name", [n for n in models.available_models() if n not in zoo.ZOO])
def test_planned_descriptions_match_the_built_model(name):  # zoo networks are not layer lists
    shape = (1, 40) if name == "cnn1d" else (3, 32, 32) if name == "vgg_small" else (1, 28, 28)
    spec = models.model_spec(name, shape)
    _, planned = models.plan_model(spec)
    model = models.build_model(spec)
    with cv.no_grad():
        out = model.eval()(cv.tensor(np.zeros((2, *shape), np.float32)))
    assert planned[-1]["out_shape"] == tuple(out.shape[1:])
    assert sum(p["params"] for p in planned) == sum(p.data.size for p in model.parameters())
    assert summary(spec).to_dict() == summary(model, shape).to_dict()


def test_planner_rejects_what_the_layers_reject():
    with pytest.raises(SpecError, match=r"layer 1 \(conv2d\) cannot take input of shape "
                                        r"\(4, 2, 2\).*empty"):
        models.plan_model([{"type": "conv2d", "out_channels": 4, "kernel_size": 3, "padding": 1},
                           {"type": "conv2d", "out_channels": 4, "kernel_size": 5}], (1, 2, 2))
    with pytest.raises(SpecError, match="padding='same' is not supported for strided"):
        models.plan_model([{"type": "conv2d", "out_channels": 4, "kernel_size": 3,
                            "padding": "same", "stride": 2}], (1, 8, 8))
    with pytest.raises(SpecError, match="needs a flat input"):
        models.plan_model([{"type": "linear", "out_features": 3}], (1, 8, 8))


def test_summary_of_a_model_with_unknown_layers_traces_it():
    class Double(nn.Module):
        def forward(self, x):
            return x * 2

    model = nn.Sequential(nn.Conv2d(1, 2, 3), Double(), nn.Flatten())
    assert summary_module._leaves(model) is None
    s = summary(model, (1, 6, 6))
    assert [r.output_shape for r in s.rows] == [(2, 4, 4), (2, 4, 4), (32,)]


def test_a_layer_without_rules_is_built_to_plan_it(monkeypatch):
    """A layer type the shape rules do not know (a new one) is built and run on one sample."""
    monkeypatch.setitem(models.LAYER_TYPES, "double", ("Double", {}))

    class Double(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], -1)

    monkeypatch.setattr(nn, "Double", Double, raising=False)
    _, planned = models.plan_model([{"type": "conv2d", "out_channels": 2, "kernel_size": 3},
                                    {"type": "double"}], (1, 5, 5))
    assert planned[1]["out_shape"] == (18,) and planned[1]["params"] == 0
    assert summary([{"type": "double"}], (2, 3, 3)).rows[0].output_shape == (18,)


@pytest.mark.parametrize("size", [float("inf"), 0, [2, 0], [2, 2, 2], True, "x"])
def test_adaptive_output_size_checked_by_the_planner(size):
    """Found by scripts/fuzz_parsers.py: an infinite output_size raised OverflowError."""
    with pytest.raises(SpecError, match="output_size"):
        models.build_model([{"type": "adaptiveavgpool2d", "output_size": size}], (6, 3, 6))
