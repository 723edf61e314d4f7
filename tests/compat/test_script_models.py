"""The compat scripts' own model definitions, built under convolve and under PyTorch 2.13,
started from the same weights (PyTorch's state dict loaded into convolve) and trained on the
same batches with the script's optimizer, in float64: the losses agree step by step.

The scripts' accuracies can only agree within seed noise (the two libraries draw different
initial weights, shuffles and masks for the same seed); this pins the part that must be
exact: layers, losses, optimizers and state dicts as the scripts use them. The definitions
are taken from the script files themselves (imports, classes, functions and the named
assignments), so a change to a script is tested here too."""

import ast

import numpy as np
import pytest
from compat_harness import SCRIPTS, rewrite_imports

import convolve

# script, the expression that builds its model, input shape, optimizer, loss, train mode
# (the MNIST net is stepped in eval mode: its dropout masks cannot be drawn identically)
MODELS = [
    ("mnist_example.py", "Net()", (8, 1, 28, 28), "optim.Adadelta(params, lr=1.0)",
     "F.nll_loss(out, y)", False),
    ("cifar_tutorial.py", "Net()", (8, 3, 32, 32), "optim.SGD(params, lr=0.01, momentum=0.9)",
     "nn.CrossEntropyLoss()(out, y)", True),
    ("lenet_d2l.py", "net", (8, 1, 28, 28), "torch.optim.SGD(params, lr=0.3)",
     "nn.CrossEntropyLoss()(out, y)", True),
    ("resnet_cifar.py", "ResNet18(width=4)", (8, 3, 32, 32),
     "optim.SGD(params, lr=0.1, momentum=0.9, weight_decay=5e-4)",
     "nn.CrossEntropyLoss()(out, y)", True),
]
STEPS = 8


def _definitions(source: str, build: str) -> dict:
    """Run a script's imports (torchvision's left out), classes, functions and, when the
    model is a variable (``build`` is a bare name), its assignment; return the namespace."""
    keep = []
    for node in ast.parse(source).body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
            if not any("torchvision" in n or "transforms" in n for n in names):
                keep.append(node)
        elif isinstance(node, (ast.ClassDef, ast.FunctionDef)) or (
                isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == build):
            keep.append(node)
    namespace = {"__name__": "compat_model"}
    exec(compile(ast.Module(keep, []), "<script definitions>", "exec"), namespace)  # noqa: S102
    return namespace


def _losses(namespace, spec, state=None):
    _, build, shape, optimizer, loss, train = spec
    lib = namespace["torch"]
    model = eval(build, namespace)
    if state is not None:
        model.load_state_dict(state)
    model.double().train(train)
    opt = eval(optimizer, {**namespace, "params": model.parameters()})
    rng = np.random.default_rng(0)
    losses = []
    for _ in range(STEPS):
        x = lib.from_numpy(rng.normal(size=shape))
        y = lib.from_numpy(rng.integers(0, 10, size=shape[0]))
        opt.zero_grad()
        value = eval(loss, {**namespace, "out": model(x), "y": y})
        value.backward()
        opt.step()
        losses.append(value.item())
    return losses, model


@pytest.mark.parametrize("spec", MODELS, ids=[m[0] for m in MODELS])
def test_script_model_trains_step_for_step_like_torch(spec, torch):
    source = (SCRIPTS / spec[0]).read_text()
    torch.manual_seed(0)
    theirs = _definitions(source, spec[1])
    reference_model = eval(spec[1], theirs)
    state = {k: v.detach().numpy().copy() for k, v in reference_model.state_dict().items()}
    expected, trained = _losses(theirs, spec, {k: torch.from_numpy(v) for k, v in state.items()})
    ours = _definitions(rewrite_imports(source), spec[1])
    assert ours["torch"] is convolve
    got, model = _losses(ours, spec, state)
    np.testing.assert_allclose(got, expected, rtol=1e-9, atol=0)
    final = {k: np.asarray(v) for k, v in model.state_dict().items()}
    assert sorted(final) == sorted(trained.state_dict())
    for key, value in trained.state_dict().items():
        np.testing.assert_allclose(final[key], value.numpy(), rtol=1e-7, atol=1e-9, err_msg=key)
