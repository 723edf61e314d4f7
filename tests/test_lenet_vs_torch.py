"""A convolve LeNet-5 and a torch LeNet-5 with the same state dict agree on logits, loss and
every gradient (float64), and state dicts round-trip both ways."""

import numpy as np
import pytest

import convolve as cv
from convolve import nn


def convolve_lenet(pool="max"):
    Pool = nn.MaxPool2d if pool == "max" else nn.AvgPool2d
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), Pool(2),
        nn.Conv2d(6, 16, 5), nn.ReLU(), Pool(2),
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
        nn.Linear(120, 84), nn.ReLU(),
        nn.Linear(84, 10),
    )


def torch_lenet(torch, pool="max"):
    tnn = torch.nn
    Pool = tnn.MaxPool2d if pool == "max" else tnn.AvgPool2d
    return tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.ReLU(), Pool(2),
        tnn.Conv2d(6, 16, 5), tnn.ReLU(), Pool(2),
        tnn.Flatten(),
        tnn.Linear(16 * 5 * 5, 120), tnn.ReLU(),
        tnn.Linear(120, 84), tnn.ReLU(),
        tnn.Linear(84, 10),
    )


@pytest.mark.parametrize("pool", ["max", "avg"])
def test_lenet_logits_loss_and_gradients_match_torch(torch, pool):
    torch.manual_seed(0)
    tmodel = torch_lenet(torch, pool).double()
    model = convolve_lenet(pool).double()
    assert list(model.state_dict()) == list(tmodel.state_dict())
    model.load_state_dict(tmodel.state_dict())

    rng = np.random.default_rng(1)
    x = rng.standard_normal((8, 1, 28, 28))
    y = rng.integers(0, 10, size=8)

    logits = model(cv.tensor(x))
    loss = cv.functional.cross_entropy(logits, y)
    loss.backward()

    tlogits = tmodel(torch.from_numpy(x))
    tloss = torch.nn.functional.cross_entropy(tlogits, torch.from_numpy(y))
    tloss.backward()

    np.testing.assert_allclose(logits.data, tlogits.detach().numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-9)
    tgrads = dict(tmodel.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad, tgrads[name].grad.numpy(), rtol=1e-9, atol=1e-12,
                                   err_msg=name)


def test_state_dict_round_trips_both_ways(torch):
    cv.manual_seed(3)
    model = convolve_lenet()
    tmodel = torch_lenet(torch)
    tmodel.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    back = convolve_lenet()
    back.load_state_dict(tmodel.state_dict())
    for (k, a), (k2, b) in zip(model.state_dict().items(), back.state_dict().items()):
        assert k == k2
        np.testing.assert_array_equal(a, b)
        assert b.dtype == np.float32
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    with cv.no_grad():
        ours = back(cv.tensor(x)).data
    theirs = tmodel(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-5)
