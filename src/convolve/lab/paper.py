"""MNIST-1D replication (Greydanus 2020): logistic regression, MLP and 1-D CNN on the
sequences and on spatially shuffled sequences (one fixed permutation of the 40 positions
applied to every sequence), next to the paper's table.

The paper's settings (its code, notebooks/train.py and models.py): Adam, lr 1e-2, weight
decay 0, batch 100, 6000 steps taken in a fixed order through the (pre-shuffled) training
set, i.e. 150 epochs of 4,000 samples; PyTorch's default initialisation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..random import manual_seed
from . import experiment as ex
from . import measure, report, verdicts
from .comparison import environment
from .models import LABELS, SEQUENCE_MODELS, build_sequence_model, first_layer
from .params import count_parameters

PAPER = {"logistic": 0.32, "mlp": 0.68, "cnn": 0.94,
         "logistic (shuffled)": 0.32, "mlp (shuffled)": 0.68, "cnn (shuffled)": 0.56}
PAPER_SETTINGS = {"lr": 1e-2, "batch_size": 100, "steps": 6000, "weight_decay": 0.0}
_KEY = {"logistic": "logistic", "mlp1d": "mlp", "cnn1d": "cnn"}
NOTES = ("Models as in the paper's models.py: logistic = Linear(40, 10); MLP = Linear(40, 100), "
         "ReLU, then h + ReLU(Linear(100, 100)) (the code has this residual connection), then "
         "Linear(100, 10); CNN = Conv1d(1, 25, 5, stride 2, padding 1), Conv1d(25, 25, 3, 2, 1), "
         "Conv1d(25, 25, 3, 2, 1), ReLU after each, Linear(125, 10) (the second and third "
         "kernels are 3, not 5). Paper figures: S. Greydanus, Scaling Down Deep Learning "
         "(MNIST-1D), arXiv:2011.14439, 2020: its benchmark of test accuracies on regular and "
         "spatially shuffled sequences.")
METHOD = ("One training run per model and variant, seeded; the shuffled variant applies one "
          "fixed random permutation of the positions (seeded) to train and test sequences. "
          "Targets: each accuracy within 4 points of the paper's.")


def _relevant(settings: dict) -> dict:
    """The shared settings that apply to the replication (no shifts, no size curve)."""
    drop = {"sizes", "size_steps", "shifts", "consistency_max_shift"}
    return {k: v for k, v in settings.items() if k not in drop}


def _first_unit_fn(model):
    """A callable for the model's first weight layer (any Module, not only Sequential)."""
    if hasattr(model, "linear1"):
        return lambda x: model.linear1(model.flatten(x))
    return first_layer(model)


def _settings(n_train: int, epochs, batch_size, lr, seed: int, paper: bool) -> ex.Settings:
    if paper and any(v is not None for v in (epochs, batch_size, lr)):
        raise ValueError("compare: --paper fixes the paper's settings (lr 1e-2, batch 100, "
                         "6000 steps); do not combine it with --epochs, --batch-size or --lr")
    bs = int(batch_size or PAPER_SETTINGS["batch_size"])
    if epochs is None:
        epochs = max(1, round(PAPER_SETTINGS["steps"] / math.ceil(n_train / bs)))
    return ex.Settings(epochs=int(epochs), batch_size=bs,
                       lr=float(lr if lr is not None else PAPER_SETTINGS["lr"]),
                       weight_decay=PAPER_SETTINGS["weight_decay"], seed=int(seed),
                       shuffle=False, sizes=(), size_steps="n/a", shifts=())


def _run(name, variant, split_x, split, settings, log) -> tuple[dict, object]:
    shape = tuple(split_x[0].shape[1:])
    manual_seed(settings.seed)
    model = build_sequence_model(name, shape, split.num_classes)
    label = f"{_KEY[name]}{' (shuffled)' if variant == 'shuffled' else ''}"
    r = {"label": LABELS[name], "variant": variant, "params": count_parameters(model),
         "connections": measure.connections(_first_unit_fn(model), (1,) + shape,
                                            seed=settings.seed)}
    x_tr, x_te = split_x
    r["history"], r["train_seconds"] = ex.train(model, x_tr, split.y_train, settings,
                                                val=(x_te, split.y_test), report=log,
                                                label=label)
    r["train_accuracy"] = ex.accuracy(model, x_tr, split.y_train)
    r["test_accuracy"] = ex.accuracy(model, x_te, split.y_test)
    r["gap"] = r["train_accuracy"] - r["test_accuracy"]
    return r, model


def _structure_verdict(ours: dict, n: int) -> dict:
    """The paper's point, computed: the CNN's edge over the MLP needs spatial structure."""
    a, b = ours["cnn"] - ours["mlp"], ours["cnn (shuffled)"] - ours["mlp (shuffled)"]
    drop = ours["cnn"] - ours["cnn (shuffled)"]
    mlp_same = not verdicts.significant(ours["mlp"], ours["mlp (shuffled)"], n)
    ok = drop > 0 and verdicts.significant(ours["cnn"], ours["cnn (shuffled)"], n) and mlp_same
    text = (f"the CNN leads the MLP by {100 * a:+.1f} points on ordered sequences and by "
            f"{100 * b:+.1f} on shuffled ones; shuffling costs the CNN {100 * drop:.1f} points "
            f"and the MLP {100 * (ours['mlp'] - ours['mlp (shuffled)']):.1f}")
    return {"claim": "The conv prior needs spatial structure",
            "status": "supported" if ok else "not supported",
            "text": f"The conv prior needs spatial structure: "
                    f"{'supported' if ok else 'not supported'} — {text}"}


def _mark(vs: list, is_paper: bool, steps: int, settings) -> list:
    """Flag replication verdicts from runs whose settings are not the paper's."""
    if is_paper:
        return vs
    note = (f" (not the paper's settings: {steps} steps, batch {settings.batch_size}, "
            f"lr {settings.lr:g}; only a run with --paper settings tests the replication)")
    return [dict(v, text=v["text"] + note) for v in vs]


def replicate(split, info: dict, *, epochs=None, batch_size=None, lr=None, seed: int = 0,
              out=None, paper: bool = False, write: bool = True, log=print) -> dict:
    """Train the paper's three models on ordered and shuffled sequences; report and return."""
    settings = _settings(len(split.y_train), epochs, batch_size, lr, seed, paper)
    perm = np.random.default_rng(seed).permutation(split.x_train.shape[-1])
    variants = {"regular": (split.x_train, split.x_test),
                "shuffled": (split.x_train[..., perm], split.x_test[..., perm])}
    log(f"MNIST-1D: {info['train_size']} train / {info['test_size']} test; settings "
        f"{_relevant(settings.to_dict())}")
    runs, trained = {}, {}
    for variant, xs in variants.items():
        for name in SEQUENCE_MODELS:
            key = f"{_KEY[name]}{' (shuffled)' if variant == 'shuffled' else ''}"
            runs[key], trained[key] = _run(name, variant, xs, split, settings, log)
    ours = {k: r["test_accuracy"] for k, r in runs.items()}
    steps = settings.epochs * math.ceil(info["train_size"] / settings.batch_size)
    is_paper = (settings.lr == PAPER_SETTINGS["lr"] and settings.batch_size == 100
                and steps == PAPER_SETTINGS["steps"] and info["train_size"] == 4000)
    result = {"kind": "paper", "data": info,
              "settings": {**_relevant(settings.to_dict()), "steps": steps,
                           "paper_settings": is_paper, "permutation": perm.tolist()},
              "paper": PAPER, "ours": ours, "runs": runs,
              "verdicts": _mark(verdicts.paper_verdict(ours, PAPER), is_paper, steps, settings)
              + [_structure_verdict(ours, info["test_size"])],
              "notes": NOTES, "method": METHOD, "environment": environment()}
    result["wall_seconds"] = log.elapsed if hasattr(log, "elapsed") else None
    _print(result)
    if write:
        result["files"] = _write(result, trained, split, Path(out))
    return result


def _print(result: dict) -> None:
    rows = [[k, report.pct(result["paper"][k], 0), report.pct(result["ours"][k]),
             f"{100 * (result['ours'][k] - result['paper'][k]):+.1f}",
             f"{result['runs'][k]['params']:,}"] for k in result["paper"]]
    report.print_table("MNIST-1D: convolve against Greydanus (2020)",
                       ["model", "paper", "convolve", "diff", "params"], rows)
    for v in result["verdicts"]:
        print(v["text"])


def _write(result: dict, trained: dict, split, out: Path) -> dict:
    from . import plots
    from .html_sections import paper_sections

    out.mkdir(parents=True, exist_ok=True)
    seq = {k: m for k, m in trained.items() if k in ("logistic", "cnn")}
    figs = {"paper": plots.paper_bars(result["ours"], result["paper"]),
            "learning_curves": plots.learning_curves({k: r["history"]
                                                      for k, r in result["runs"].items()}),
            "filters": plots.filters(seq),
            "feature_maps": plots.feature_maps({"cnn": trained["cnn"]}, split.x_test[0])}
    (out / "figures").mkdir(exist_ok=True)
    for name, png in figs.items():
        report.atomic_write(out / "figures" / f"{name}.png", png)
    result["figures"] = sorted(figs)
    report.write_json(result, out / "report.json")
    report.write_html("convolve compare: MNIST-1D replication", paper_sections(result, figs),
                      out / "report.html")
    return {"json": str(out / "report.json"), "html": str(out / "report.html"),
            "figures": sorted(str(out / "figures" / f"{n}.png") for n in figs)}
