"""The MNIST-1D replication over seeds: each row's mean and 95% interval next to the paper's
figure, the replication rule, and the paired verdicts on the role of spatial order."""

from __future__ import annotations

import math

from . import stats
from .aggregate import PAPER_SPLITS, paired_verdict, pm
from .paper import METHOD, NOTES, PAPER

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
