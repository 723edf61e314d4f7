"""torch <-> convolve conversion: random nested stacks and the named models round-trip with
equal float64 outputs, parameters and buffers keep their values and dtypes, unsupported
layers are named, and a LeNet-5 trained in torch predicts identically in convolve."""

import os
import sys

import numpy as np
import pytest

import convolve as cv
from convolve import models, nn
from convolve.interop import from_torch, to_torch
from layer_stacks import build, random_stack, randomize_batch_norm

MODES = ("zeros", "reflect", "replicate", "circular")


def ours(model, x):
    with cv.no_grad():
        return model(cv.tensor(x)).data


def theirs(torch, tmodel, x):
    with torch.no_grad():
        return tmodel(torch.from_numpy(x)).numpy()


def assert_same_state(torch_model, model):
    """Same keys, values and dtypes in both state dicts."""
    tstate, state = torch_model.state_dict(), model.state_dict()
    assert list(tstate) == list(state)
    for key, value in state.items():
        t = tstate[key].numpy()
        assert t.dtype == value.dtype, key
        np.testing.assert_array_equal(t, value, err_msg=key)


STACKS = [(s, (2, 2, 1, 0)[s % 4]) for s in range(16)]


@pytest.mark.parametrize("seed,nd", STACKS)
def test_random_torch_stacks_round_trip_in_float64(torch, seed, nd):
    input_shape, spec = random_stack(100 + seed, nd, modes=MODES, sample_norms=True)
    torch.manual_seed(seed)
    tmodel = build(torch.nn, spec).double()
    randomize_batch_norm(tmodel, np.random.default_rng(seed))
    tmodel.eval()
    model = from_torch(tmodel)
    assert_same_state(tmodel, model)
    x = np.random.default_rng(seed).standard_normal((5, *input_shape))
    expected = theirs(torch, tmodel, x)
    np.testing.assert_allclose(ours(model, x), expected, rtol=1e-10, atol=1e-12)
    back = to_torch(model)
    assert repr(back) == repr(tmodel)
    assert_same_state(back, model)
    np.testing.assert_allclose(theirs(torch, back, x), expected, rtol=1e-10, atol=1e-12)


def test_random_torch_stacks_cover_every_shared_layer():
    from convolve.interop import SUPPORTED_LAYERS

    seen = set()

    def walk(spec):
        for e in spec:
            walk(e) if isinstance(e, list) else seen.add(e[0])

    for seed, nd in STACKS:
        walk(random_stack(100 + seed, nd, modes=MODES, sample_norms=True)[1])
    expected = {n for n in SUPPORTED_LAYERS if hasattr(nn, n)} - {"Identity"}
    assert expected <= seen, f"never generated: {sorted(expected - seen)}"


# lenet5_lc has no torch layer; the ResNets are not Sequential (to_torch raises for them)
@pytest.mark.parametrize("name", [n for n in models.available_models()
                                  if n != "lenet5_lc" and not n.startswith("resnet")])
def test_named_models_round_trip_through_torch(torch, name):
    cv.manual_seed(0)
    model = models.get_model(name, input_shape=(1, 12, 12) if name == "mlp" else None).double()
    randomize_batch_norm(model, np.random.default_rng(0))
    model.eval()
    tmodel = to_torch(model)
    assert_same_state(tmodel, model)
    x = np.random.default_rng(1).standard_normal((3, *model.spec["input_shape"]))
    expected = ours(model, x)
    np.testing.assert_allclose(theirs(torch, tmodel, x), expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ours(from_torch(tmodel), x), expected, rtol=1e-10, atol=1e-12)


def test_dtypes_flags_and_buffers_carry_over(torch):
    tnn = torch.nn
    tmodel = tnn.Sequential(tnn.Linear(3, 4), tnn.Sequential(tnn.BatchNorm1d(4), tnn.ReLU()))
    torch.manual_seed(0)
    tmodel[0].bias.requires_grad_(False)
    tmodel(torch.randn(6, 3))  # train mode: updates the running stats and the counter
    tmodel[1].eval()
    model = from_torch(tmodel)
    assert model.training and not model[1].training and not model[1][0].training
    assert model[0].weight.requires_grad and not model[0].bias.requires_grad
    assert model[0].weight.dtype == np.float32
    assert model[1][0].num_batches_tracked.data.dtype == np.int64
    assert_same_state(tmodel, model)
    back = to_torch(model)
    assert back.training and not back[1].training and not back[1][0].training
    assert back[0].weight.requires_grad and not back[0].bias.requires_grad
    assert int(back[1][0].num_batches_tracked) == 1
    assert back[1][0].running_mean.dtype == torch.float32
    model.double()
    assert to_torch(model)[0].weight.dtype == torch.float64


def test_converted_tensors_are_copies(torch):
    tmodel = torch.nn.Sequential(torch.nn.Linear(2, 2))
    model = from_torch(tmodel)
    model[0].weight.data[...] = 7.0
    assert not torch.any(tmodel[0].weight == 7.0)
    back = to_torch(model)
    with torch.no_grad():
        back[0].weight.fill_(3.0)
    assert np.all(model[0].weight.data == 7.0)


def test_from_torch_leaves_convolve_rng_alone(torch):
    cv.manual_seed(5)
    expected = nn.Linear(3, 3).weight.data.copy()
    cv.manual_seed(5)
    from_torch(torch.nn.Sequential(torch.nn.Linear(30, 30), torch.nn.Conv2d(2, 3, 3)))
    np.testing.assert_array_equal(nn.Linear(3, 3).weight.data, expected)


def test_unsupported_layers_are_named(torch):
    tnn = torch.nn
    with pytest.raises(TypeError, match=r"from_torch: layer 1 \(Conv3d\) is not supported"):
        from_torch(tnn.Sequential(tnn.Linear(2, 2), tnn.Conv3d(1, 1, 1)))
    with pytest.raises(TypeError, match=r"from_torch: layer 0\.1 \(LSTM\) is not supported"):
        from_torch(tnn.Sequential(tnn.Sequential(tnn.ReLU(), tnn.LSTM(2, 2))))
    with pytest.raises(TypeError, match=r"layer 0 \(Bilinear\)"):
        from_torch(tnn.Bilinear(2, 2, 2))
    look_alike = type("Linear", (tnn.Linear,), {"forward": lambda self, x: 2 * x})
    with pytest.raises(TypeError, match=r"layer 0 \(Linear\) is not supported"):
        from_torch(tnn.Sequential(look_alike(2, 2)))
    lc = nn.LocallyConnected2d(1, 2, (6, 6), 3)
    with pytest.raises(TypeError, match=r"to_torch: layer 1 \(LocallyConnected2d\)"):
        to_torch(nn.Sequential(nn.ReLU(), lc))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch(nn.Sequential())
    with pytest.raises(TypeError, match="convolve.nn.Module"):
        to_torch(tnn.Sequential())


def test_missing_torch_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    with pytest.raises(ImportError, match=r"convolve\[torch\]"):
        from_torch(object())
    with pytest.raises(ImportError, match=r"convolve\[torch\]"):
        to_torch(nn.Sequential())


# ------------------------------------------------------------- trained in torch, run here
def _mnist5k():
    try:
        from convolve.data import load_mnist5k

        return load_mnist5k()
    except ModuleNotFoundError as err:
        if os.environ.get("CI"):
            pytest.fail(f"mnist5k is required in CI: {err}")
        pytest.skip(f"mnist5k unavailable: {err}")


def _torch_lenet5(tnn):
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), tnn.MaxPool2d(2), tnn.Flatten(),
        tnn.Linear(400, 120), tnn.ReLU(), tnn.Linear(120, 84), tnn.ReLU(), tnn.Linear(84, 10))


def test_lenet5_trained_in_torch_predicts_identically_in_convolve(torch):
    split = _mnist5k()
    torch.manual_seed(0)
    tmodel = _torch_lenet5(torch.nn)
    opt = torch.optim.Adam(tmodel.parameters(), lr=2e-3)
    x, y = torch.from_numpy(split.x_train), torch.from_numpy(split.y_train)
    gen = torch.Generator().manual_seed(0)
    for _epoch in range(2):
        for idx in torch.randperm(len(x), generator=gen).split(64):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(tmodel(x[idx]), y[idx]).backward()
            opt.step()
    tmodel.eval()
    torch_pred = theirs(torch, tmodel, split.x_test).argmax(1)
    torch_acc = float(np.mean(torch_pred == split.y_test))
    assert torch_acc > 0.85  # it really trained (2 epochs reach ~0.91; chance is 0.1)

    model = from_torch(tmodel)
    pred = np.concatenate([ours(model, xb).argmax(1) for xb in np.split(split.x_test, 4)])
    assert float(np.mean(pred == split.y_test)) == torch_acc
    np.testing.assert_array_equal(pred, torch_pred)
