"""convolve.summary: shapes, parameter counts, mult-adds, dense equivalents (LeNet-5 by hand,
the seed's 3x32x32 example) and receptive fields checked against gradient support."""

import numpy as np
import pytest

import convolve as cv
from convolve import models, nn
from convolve.summary import Summary, summary


def conv_params(cin, cout, k, bias=True):
    return cout * cin * k * k + (cout if bias else 0)


def linear_params(fin, fout):
    return fout * fin + fout


def dense_equiv(in_shape, out_shape):
    n_in, n_out = int(np.prod(in_shape)), int(np.prod(out_shape))
    return n_in * n_out + n_out


def test_seed_example_conv_vs_dense():
    """3x32x32 -> 6x28x28 with 5x5 filters: 456 parameters against 14,455,392."""
    cv.manual_seed(0)
    s = summary(nn.Sequential(nn.Conv2d(3, 6, 5)), (3, 32, 32))
    row = s.rows[0]
    assert row.output_shape == (6, 28, 28)
    assert row.params == conv_params(3, 6, 5) == 456
    assert row.dense_params == (3 * 32 * 32) * (6 * 28 * 28) + 6 * 28 * 28 == 14_455_392
    assert row.mult_adds == 6 * 28 * 28 * 3 * 5 * 5
    text = str(s)
    assert "14,455,392" in text and "456" in text


def test_lenet5_by_hand():
    model = models.lenet5((1, 28, 28), 10)
    s = summary(model, (1, 28, 28))
    shapes = [(6, 28, 28), (6, 28, 28), (6, 14, 14), (16, 10, 10), (16, 10, 10), (16, 5, 5),
              (400,), (120,), (120,), (84,), (84,), (10,)]
    assert [r.output_shape for r in s.rows] == shapes
    expected = {"0": conv_params(1, 6, 5), "3": conv_params(6, 16, 5),
                "7": linear_params(400, 120), "9": linear_params(120, 84),
                "11": linear_params(84, 10)}
    assert {r.name: r.params for r in s.rows if r.params} == expected
    assert s.total_params == sum(expected.values()) == sum(p.data.size
                                                           for p in model.parameters())
    assert s["0"].mult_adds == 6 * 28 * 28 * 1 * 25
    assert s["3"].mult_adds == 16 * 10 * 10 * 6 * 25
    assert s["7"].mult_adds == 400 * 120
    assert s.total_mult_adds == 6 * 28 * 28 * 25 + 16 * 100 * 150 + 400 * 120 + 120 * 84 + 84 * 10
    assert s["0"].dense_params == dense_equiv((1, 28, 28), (6, 28, 28))
    assert s["3"].dense_params == dense_equiv((6, 14, 14), (16, 10, 10))
    assert s["7"].dense_params is None
    # receptive field: conv 5 (r=5, j=1), pool 2 (r=6, j=2), conv 5 (r=6+4*2, j=2),
    # pool 2 (r=14+1*2, j=4), then flatten: the whole input
    rf = [(r.rf_size, r.rf_jump) for r in s.rows[:6]]
    assert rf == [((5, 5), (1, 1)), ((5, 5), (1, 1)), ((6, 6), (2, 2)),
                  ((14, 14), (2, 2)), ((14, 14), (2, 2)), ((16, 16), (4, 4))]
    assert s.rows[6].rf_size is None and "all" in str(s)
    assert s.output_shape == (10,) and s.input_shape == (1, 28, 28)


def _gradient_support(model, in_shape, unit):
    """Extent and start (rows) of the input pixels that output unit ``unit`` depends on."""
    x = cv.tensor(np.ones((1,) + in_shape), requires_grad=True)
    out = model(x)
    mask = np.zeros(out.shape)
    mask[(0, 0) + unit] = 1.0
    (out * cv.tensor(mask)).sum().backward()
    rows = np.nonzero(np.abs(x.grad[0]).sum(axis=(0, 2)))[0]
    return rows.max() - rows.min() + 1, rows.min()


@pytest.mark.parametrize("layers", [
    lambda: [nn.Conv2d(1, 2, 3), nn.AvgPool2d(2), nn.Conv2d(2, 2, 3, dilation=2),
             nn.Conv2d(2, 1, 3, stride=2)],
    lambda: [nn.Conv2d(1, 2, 5, stride=2, padding=2), nn.ReLU(), nn.Conv2d(2, 1, 3, stride=3)],
    lambda: [nn.AvgPool2d(3, stride=1), nn.Conv2d(1, 1, 4, stride=2), nn.AvgPool2d(2)],
])
def test_receptive_field_matches_gradient_support(layers):
    """Weights of 1 and an input of ones: a unit's gradient is nonzero exactly on its
    receptive field, and neighbouring units' fields start ``jump`` pixels apart."""
    cv.manual_seed(0)
    model = nn.Sequential(*layers()).double()
    for p in model.parameters():
        p.data[...] = 1.0
    in_shape = (1, 40, 40)
    s = summary(model, in_shape)
    last = s.rows[-1]
    c = tuple(n // 2 for n in last.output_shape[1:])
    size, start = _gradient_support(model, in_shape, c)
    size2, start2 = _gradient_support(model, in_shape, (c[0] + 1, c[1]))
    assert last.rf_size[0] == size
    assert last.rf_jump[0] == start2 - start
    assert size2 == size


def test_locally_connected_and_1d_and_plain_text(monkeypatch):
    cv.manual_seed(0)
    lc = nn.LocallyConnected2d(3, 4, (10, 10), 3)
    s = summary(nn.Sequential(lc), (3, 10, 10))
    row = s.rows[0]
    assert row.output_shape == (4, 8, 8)
    assert row.params == sum(p.data.size for p in lc.parameters())
    assert row.dense_params == dense_equiv((3, 10, 10), (4, 8, 8))
    assert row.mult_adds == 4 * 8 * 8 * 3 * 9

    s1 = summary(models.cnn1d((1, 40), 10), (1, 40))
    assert [r.output_shape for r in s1.rows if r.type == "Conv1d"] == [(25, 19), (25, 9),
                                                                       (25, 4)]
    assert s1.rows[4].rf_size == (5 + 4 * 2 + 4 * 4,) and s1.rows[4].rf_jump == (8,)
    assert s1.total_params == sum(p.data.size for p in models.cnn1d((1, 40)).parameters())

    import builtins
    real_import = builtins.__import__

    def no_rich(name, *args, **kwargs):
        if name.startswith("rich"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_rich)
    text = str(s1)
    assert "Conv1d" in text and f"{s1.total_params:,}" in text and "Params" in text


def test_summary_object_api_and_errors():
    s = cv.summary(models.mlp((1, 8, 8), 10, hidden=(16,)), "1x8x8")
    assert isinstance(s, Summary)
    d = s.to_dict()
    assert d["total_params"] == linear_params(64, 16) + linear_params(16, 10)
    assert [r["name"] for r in d["rows"]] == ["0", "1", "2", "3"]
    assert s.rows[1].rf_size is None  # dense units see everything
    with pytest.raises(KeyError, match="no layer named"):
        s["nope"]
    with pytest.raises(ValueError, match="summary: input_shape"):
        cv.summary(models.mlp((1, 8, 8)), "1xAx8")
