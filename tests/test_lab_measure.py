"""The lab's measurement functions on tiny models whose answers can be worked out by hand."""

import math

import numpy as np
import pytest

import convolve as cv
from convolve import nn
from convolve.lab import aggregate, measure, params
from convolve.lab.shifts import directions, shift, shift_each
from convolve.summary import summary


def _conv(cin, cout, k, padding=0, mode="zeros", seed=0):
    cv.manual_seed(seed)
    return nn.Conv2d(cin, cout, k, padding=padding, padding_mode=mode)


# ------------------------------------------------------------------ shifting
def _naive_shift(img, dy, dx):
    out = np.zeros_like(img)
    h, w = img.shape[-2:]
    for i in range(h):
        for j in range(w):
            if 0 <= i - dy < h and 0 <= j - dx < w:
                out[..., i, j] = img[..., i - dy, j - dx]
    return out


@pytest.mark.parametrize("dy,dx", [(0, 0), (1, 0), (0, -2), (3, 2), (-4, -1), (9, 0)])
def test_shift_matches_a_loop_with_zero_fill(rng, dy, dx):
    x = rng.standard_normal((3, 2, 7, 8))
    np.testing.assert_array_equal(shift(x, dy, dx), _naive_shift(x, dy, dx))
    np.testing.assert_array_equal(shift(x, dy, dx, mode="circular"),
                                  np.roll(x, (dy, dx), axis=(2, 3)))


def test_shift_each_equals_one_shift_per_sample(rng):
    x = rng.standard_normal((6, 2, 9, 9))
    dy, dx = rng.integers(-3, 4, size=6), rng.integers(-3, 4, size=6)
    for mode in ("zero", "circular"):
        got = shift_each(x, dy, dx, mode=mode)
        for n in range(6):
            np.testing.assert_array_equal(got[n], shift(x[n:n + 1], dy[n], dx[n], mode)[0])
    seq = rng.standard_normal((4, 1, 12))
    got = shift_each(seq, 0, [1, -2, 0, 3])
    for n, s in enumerate([1, -2, 0, 3]):
        np.testing.assert_array_equal(got[n], shift(seq[n:n + 1], 0, s)[0])


def test_shift_rejects_bad_input():
    with pytest.raises(ValueError, match="mode"):
        shift(np.zeros((1, 1, 4, 4)), 1, 1, mode="reflect")
    with pytest.raises(ValueError, match="shape"):
        shift(np.zeros((4, 4)), 1, 1)
    with pytest.raises(ValueError, match="dy"):
        shift(np.zeros((1, 1, 5)), 1, 1)


# --------------------------------------------------------------- connections
def test_conv3x3_has_nine_connections_per_input_channel_away_from_borders():
    layer = _conv(2, 4, 3, padding=1)
    c = measure.connections(layer, (1, 2, 8, 8), n_units=40, region="center")
    assert c["counts"] == [18] * 40
    assert c["per_input_channel"] == 9
    assert c["inputs"] == 128 and c["fraction"] == 18 / 128


def test_conv_gradient_support_is_the_window_and_clipped_at_the_border(rng):
    layer = _conv(1, 2, 3, padding=1)
    x = rng.standard_normal((1, 1, 8, 8)).astype(np.float32)
    units = [(1, 4, 5), (0, 0, 0), (0, 7, 3)]
    g = measure.input_gradients(layer, x, units)
    for (o, i, j), gi in zip(units, g):
        expected = np.zeros((8, 8), bool)
        expected[max(i - 1, 0):i + 2, max(j - 1, 0):j + 2] = True
        np.testing.assert_array_equal(gi[0] != 0, expected)
        w = layer.weight.data[o, 0]  # the gradient is the kernel itself, placed at the window
        np.testing.assert_allclose(gi[0, i, j], w[1, 1])


def test_dense_layer_connects_to_every_input():
    cv.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 6 * 6, 7))
    c = measure.connections(model, (1, 3, 6, 6), n_units=7)
    assert c["counts"] == [108] * 7 and c["fraction"] == 1.0


def test_locally_connected_layer_is_as_sparse_as_the_conv():
    cv.manual_seed(0)
    layer = nn.LocallyConnected2d(2, 3, (8, 8), 3, padding=1)
    c = measure.connections(layer, (1, 2, 8, 8), n_units=20)
    assert c["counts"] == [18] * 20


# --------------------------------------------------------------- equivariance
@pytest.mark.parametrize("s", [1, 2, 3])
def test_circular_conv_is_exactly_equivariant_to_circular_shifts(rng, s):
    layer = _conv(2, 3, 3, padding=1, mode="circular").double()
    x = rng.standard_normal((2, 2, 9, 9))
    assert measure.equivariance_error(layer, x, s, mode="circular", margin=0) < 1e-12


def test_zero_padded_conv_is_equivariant_only_away_from_the_border(rng):
    layer = _conv(1, 2, 5, padding=2).double()
    x = rng.standard_normal((2, 1, 12, 12))
    assert measure.equivariance_error(layer, x, 1) < 1e-12  # default margin drops the border
    assert measure.equivariance_error(layer, x, 1, margin=0) > 1e-3


def test_locally_connected_layer_is_not_equivariant(rng):
    cv.manual_seed(0)
    layer = nn.LocallyConnected2d(1, 2, (12, 12), 3, padding=1).double()
    x = rng.standard_normal((2, 1, 12, 12))
    assert measure.equivariance_error(layer, x, 1) > 0.3


def test_equivariance_needs_a_spatial_output(rng):
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))
    with pytest.raises(ValueError, match="no spatial map"):
        measure.equivariance_error(model, rng.standard_normal((1, 1, 4, 4)), 1)


# ---------------------------------------------------------- receptive fields
def test_measured_receptive_field_matches_the_analytic_one():
    cv.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(3, 4, 3))
    # conv3: 3; pool 2 (jump 1): 3 + 1 = 4, jump 2; conv3: 4 + 2 * 2 = 8
    assert measure.receptive_field_measured(net, (1, 1, 20, 20), n_inputs=16) == [8, 8]
    assert summary(net, (1, 20, 20)).rows[-1].rf_size == (8, 8)


# ------------------------------------------------------ invariance measures
class Constant:
    """Ignores its input: logits (N, 3) = [0, 2, 1]."""

    def __call__(self, x):
        return np.tile(np.array([0.0, 2.0, 1.0]), (x.shape[0], 1))


class ColumnParity:
    """Two classes: the brightness on even columns against odd columns, scaled by v."""

    def __init__(self, v):
        self.v = v

    def __call__(self, x):
        d = np.asarray(x.data)
        return self.v * np.stack([d[..., ::2].sum(axis=(1, 2, 3)),
                                  d[..., 1::2].sum(axis=(1, 2, 3))], axis=1)


def _dots(n, size=16, seed=0):
    """n images with one bright pixel at least 4 px from every border; labels: column parity."""
    r = np.random.default_rng(seed)
    rows, cols = r.integers(4, size - 4, size=n), r.integers(4, size - 4, size=n)
    x = np.zeros((n, 1, size, size), np.float32)
    x[np.arange(n), 0, rows, cols] = 1.0
    return x, cols % 2


def test_a_model_that_ignores_its_input_is_perfectly_consistent():
    x, _ = _dots(50)
    assert measure.consistency(Constant(), x) == 1.0
    t = measure.top1_change(Constant(), x)
    assert t["p_change"] == 0.0 and t["mac"] == 0.0
    acc = measure.accuracy_under_shift(Constant(), x, np.ones(50, int))
    assert acc == {k: 1.0 for k in range(5)}


def test_a_parity_classifier_flips_on_horizontal_one_pixel_shifts():
    v = 1.5
    x, y = _dots(40)
    t = measure.top1_change(ColumnParity(v), x)
    # 2 of the 4 directions (left, right) flip every prediction; the probability of the
    # original top class goes from s(v) to s(-v), a change of tanh(v/2); vertical: no change
    assert t["p_change"] == 0.5
    assert math.isclose(t["mac"], math.tanh(v / 2) / 2, rel_tol=1e-9)
    acc = measure.accuracy_under_shift(ColumnParity(v), x, y)
    assert acc == {0: 1.0, 1: 0.5, 2: 1.0, 3: 0.5, 4: 1.0}


def test_consistency_of_the_parity_classifier_is_the_chance_that_two_shifts_agree_in_parity():
    x, _ = _dots(3000, seed=1)
    got = measure.consistency(ColumnParity(1.0), x, max_shift=3, seed=0)
    odd, even = 4 / 7, 3 / 7  # of the 7 horizontal offsets -3..3: 4 odd, 3 even
    p = odd ** 2 + even ** 2
    assert abs(got - p) < 4 * math.sqrt(p * (1 - p) / 3000)


def test_directions():
    assert directions(0, 4) == [(0, 0)]
    assert sorted(directions(2, 4)) == sorted([(2, 0), (-2, 0), (0, 2), (0, -2)])
    assert sorted(directions(1, 3)) == [(0, -1), (0, 1)]


# ------------------------------------------------------------------ parameters
def test_the_seeds_worked_example_is_computed_from_layers():
    e = params.worked_example()
    n_in, n_out = 3 * 32 * 32, 6 * 28 * 28
    assert e["dense"] == n_in * n_out + n_out
    assert e["conv"] == 6 * 3 * 5 * 5 + 6
    assert e["locally_connected"] == n_out * 3 * 5 * 5 + n_out
    assert e["counts"]["dense"]["source"] == "instantiated"


def test_parameter_growth_formulas_agree_with_instantiated_layers():
    g = params.parameter_growth(sizes=(8, 12, 16), max_instantiate=10**7)
    for row in g["rows"]:
        assert set(row["instantiated"]) == {"dense", "locally_connected", "conv"}
        assert row["conv"] == 456
    g = params.parameter_growth(sizes=(64, 128), max_instantiate=10**6)
    assert math.isclose(params.growth_exponent(g["rows"], "dense"),
                        math.log(g["rows"][1]["dense"] / g["rows"][0]["dense"]) / math.log(2))
    assert g["rows"][1]["instantiated"] == ["conv"]


# -------------------------------------------------------------------- verdicts
def test_gradient_measurements_leave_parameter_grads_alone():
    layer = _conv(1, 2, 3, padding=1)
    assert layer.weight.grad is None
    measure.connections(layer, (1, 1, 6, 6), n_units=3)
    assert layer.weight.grad is None and layer.bias.grad is None


def test_layer_verdicts_follow_the_measured_connections_and_equivariance():
    def m(conn, eq):
        return {"connections": {"mean": conn, "inputs": 784, "fraction": conn / 784},
                "equivariance": {"error": eq}}

    models = {"mlp": m(784, None), "lc": m(25, 1.4), "cnn": m(25, 0.0)}
    assert aggregate.sparsity(models)["status"] == "supported"
    assert aggregate.equivariance(models)["status"] == "supported"
    models["cnn"] = m(784, 0.5)
    assert aggregate.sparsity(models)["status"] == "not supported"
    assert aggregate.equivariance(models)["status"] == "not supported"
