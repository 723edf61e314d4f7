"""MNIST-1D replication (Greydanus 2020): logistic regression, MLP and 1-D CNN on the
sequences and on spatially shuffled sequences (one fixed permutation of the 40 positions
per seed, applied to every sequence), next to the paper's table: each row's mean and 95%
interval over seeds, the replication rule, and paired verdicts on the role of spatial order.

The paper's settings (its code, notebooks/train.py and models.py): Adam, lr 1e-2, weight
decay 0, batch 100, 6000 steps taken in a fixed order through the (pre-shuffled) training
set, i.e. 150 epochs of 4,000 samples; PyTorch's default initialisation.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import manual_seed
from . import experiment as ex
from . import measure, stats
from .aggregate import PAPER_SPLITS, paired_verdict, pm
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
METHOD = ("One training run per model, variant and seed; the shuffled variant applies one "
          "random permutation of the positions (drawn from the seed) to that seed's train and "
          "test sequences. No validation data and no model selection: every model trains for "
          "the paper's fixed number of steps on all 4,000 training sequences, and the test "
          "sequences are evaluated once per trained model. A row is 'replicated' when the "
          "paper's figure lies inside our 95% interval over seeds, or within 4 points of our "
          "mean; the report says which.")


def _relevant(settings: dict) -> dict:
    """The shared settings that apply to the replication (no shifts, no size curve)."""
    drop = {"sizes", "size_steps", "shifts", "consistency_max_shift"}
    return {k: v for k, v in settings.items() if k not in drop}


def _first_unit_fn(model):
    """A callable for the model's first weight layer (any Module, not only Sequential)."""
    if hasattr(model, "linear1"):
        return lambda x: model.linear1(model.flatten(x))
    return first_layer(model)


def check_settings(epochs, batch_size, lr, paper: bool) -> None:
    if paper and any(v is not None for v in (epochs, batch_size, lr)):
        raise ValueError("compare: --paper fixes the paper's settings (lr 1e-2, batch 100, "
                         "6000 steps); do not combine it with --epochs, --batch-size or --lr")


def _settings(n_train: int, epochs, batch_size, lr, seed: int, paper: bool) -> ex.Settings:
    check_settings(epochs, batch_size, lr, paper)
    bs = int(batch_size or PAPER_SETTINGS["batch_size"])
    if epochs is None:
        epochs = max(1, round(PAPER_SETTINGS["steps"] / math.ceil(n_train / bs)))
    return ex.Settings(epochs=int(epochs), batch_size=bs,
                       lr=float(lr if lr is not None else PAPER_SETTINGS["lr"]),
                       weight_decay=PAPER_SETTINGS["weight_decay"], seed=int(seed),
                       shuffle=False, sizes=(), size_steps="n/a", shifts=(), val_fraction=0.0,
                       bootstrap=0)


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
                                                report=log, label=label)
    r["train_accuracy"] = ex.accuracy(model, x_tr, split.y_train)
    r["test_accuracy"] = ex.accuracy(model, x_te, split.y_test)
    r["gap"] = r["train_accuracy"] - r["test_accuracy"]
    return r, model


def replicate_seed(split, info: dict, *, epochs=None, batch_size=None, lr=None, seed: int = 0,
                   paper: bool = False, log=print) -> tuple[dict, dict]:
    """One seed: the paper's three models on ordered and shuffled sequences; returns
    (result, trained models). Verdicts come from all seeds (:mod:`convolve.lab.aggregate`)."""
    settings = _settings(len(split.y_train), epochs, batch_size, lr, seed, paper)
    perm = np.random.default_rng(seed).permutation(split.x_train.shape[-1])
    variants = {"regular": (split.x_train, split.x_test),
                "shuffled": (split.x_train[..., perm], split.x_test[..., perm])}
    log(f"MNIST-1D: {info['train_size']} train / {info['test_size']} test")
    runs, trained = {}, {}
    for variant, xs in variants.items():
        for name in SEQUENCE_MODELS:
            key = f"{_KEY[name]}{' (shuffled)' if variant == 'shuffled' else ''}"
            runs[key], trained[key] = _run(name, variant, xs, split, settings, log)
    steps = settings.epochs * math.ceil(info["train_size"] / settings.batch_size)
    is_paper = (settings.lr == PAPER_SETTINGS["lr"] and settings.batch_size == 100
                and steps == PAPER_SETTINGS["steps"] and info["train_size"] == 4000)
    return {"kind": "paper", "data": info,
            "settings": {**_relevant(settings.to_dict()), "steps": steps,
                         "paper_settings": is_paper, "permutation": perm.tolist()},
            "runs": runs}, trained


# ------------------------------------------------------------------ over seeds
TOLERANCE = 0.04
REPLICATION_RULE = ("A row is 'replicated' when the paper's figure lies inside our 95% "
                    "interval over seeds, or within 4 points of our mean; the row says which.")


def replication_row(key: str, ours: dict, ref: float, tolerance: float = TOLERANCE) -> dict:
    """One row of the table: status 'replicated' or 'not replicated' and how it was decided."""
    lo, hi = ours["ci95"]
    has_ci = not (lo is None or hi is None or math.isnan(lo) or math.isnan(hi))
    dist = ours["mean"] - ref
    if has_ci and lo <= ref <= hi:
        status, how = "replicated", "the paper's figure lies inside our 95% interval"
    elif abs(dist) <= tolerance:
        status, how = "replicated", (f"within {100 * tolerance:.0f} points of our mean "
                                     f"(outside our interval)" if has_ci else
                                     f"within {100 * tolerance:.0f} points of our mean")
    else:
        status, how = "not replicated", (f"{100 * abs(dist):.1f} points from our mean and "
                                         f"outside our interval")
    return {"claim": key, "status": status, "how": how, "paper": ref, "ours": ours,
            "text": f"{key}: ours {pm(ours)}% vs paper {100 * ref:.0f}% "
                    f"({100 * dist:+.1f} points): {status}, {how}"}


def _runs(trials: list) -> dict:
    first = trials[0]["result"]["runs"]
    runs = {}
    for key, r in first.items():
        per = [t["result"]["runs"][key] for t in trials]
        runs[key] = {"label": r["label"], "variant": r["variant"], "params": r["params"],
                     "connections": r["connections"],
                     "metrics": {m: stats.summary([p[m] for p in per])
                                 for m in ("train_accuracy", "test_accuracy", "gap",
                                           "train_seconds")}}
    return runs


def structure_verdicts(runs: dict) -> list[dict]:
    """The paper's point as paired verdicts: the CNN needs spatial order; it beats the MLP."""
    labels = {k: k for k in runs}
    acc = {k: r["metrics"]["test_accuracy"] for k, r in runs.items()}
    out = [paired_verdict("The conv prior needs spatial structure (CNN ordered vs shuffled: "
                          "test accuracy)", "cnn", "cnn (shuffled)", acc["cnn"],
                          acc["cnn (shuffled)"], 1, labels),
           paired_verdict("Convolution vs dense on ordered sequences (CNN vs MLP: test "
                          "accuracy)", "cnn", "mlp", acc["cnn"], acc["mlp"], 1, labels)]
    d = stats.paired(acc["mlp"]["per_seed"], acc["mlp (shuffled)"]["per_seed"])
    out[0]["text"] += (f". For comparison, shuffling changes the MLP by {pm(d)} points (it "
                       f"cannot see the order)")
    return out


def aggregate_paper(trials: list, workers: int) -> dict:
    first = trials[0]["result"]
    runs = _runs(trials)
    ours = {k: r["metrics"]["test_accuracy"] for k, r in runs.items()}
    rows = [replication_row(k, ours[k], ref) for k, ref in PAPER.items() if k in ours]
    settings = {k: v for k, v in first["settings"].items() if k not in ("permutation", "seed")}
    if not settings["paper_settings"]:
        note = (f" (not the paper's settings: {settings['steps']} steps, batch "
                f"{settings['batch_size']}, lr {settings['lr']:g}; only a run with --paper "
                f"tests the replication)")
        rows = [dict(r, text=r["text"] + note) for r in rows]
    return {"kind": "paper", "data": first["data"], "seeds": [t["seed"] for t in trials],
            "workers": workers, "settings": settings, "splits": PAPER_SPLITS,
            "statistics": {"interval": "95% Student-t interval over seeds",
                           "rule": stats.RULE, "replication_rule": REPLICATION_RULE},
            "paper": PAPER, "ours": ours, "runs": runs, "replication": rows,
            "verdicts": rows + structure_verdicts(runs), "notes": NOTES, "method": METHOD,
            "per_seed": [{"seed": t["seed"],
                          "permutation": t["result"]["settings"]["permutation"],
                          "histories": {k: r["history"]
                                        for k, r in t["result"]["runs"].items()}}
                         for t in trials]}
