"""Aggregating the trials of a sweep (one per seed) into the report's result.

Every metric becomes ``{"mean", "ci95": [low, high], "per_seed": [...]}`` (95% Student-t
interval over seeds, :mod:`convolve.lab.stats`); every claim comparing two models becomes a
paired verdict: the per-seed difference, its mean and 95% interval, and the rule of
:data:`convolve.lab.stats.RULE`. MNIST-1D runs are set against the paper's table
(:mod:`convolve.lab.paper`). Sparsity of connections and shift equivariance are properties
of the layers, the same on every seed: their verdicts ("supported" / "not supported") come
from the measured structure.
"""

from __future__ import annotations

import math

from . import stats
from .params import parameter_growth, worked_example

SPLITS = {"train": "training data minus the validation part: the models' weights are fit "
                   "on it (and the sample-efficiency subsets are drawn from it)",
          "validation": "a stratified part of the training data (val_fraction, drawn per "
                        "seed): the learning curves. No setting, epoch or model is selected "
                        "on any split: epochs and hyperparameters are fixed in advance",
          "test": "evaluated once per trained model, after training: every figure and "
                  "verdict in the report; never used to choose anything"}
PAPER_SPLITS = {"train": "all 4,000 training sequences (the paper's setting)",
                "validation": "none: fixed number of steps, nothing is selected",
                "test": "evaluated once per trained model, after training"}
STRUCTURE = ("label", "params", "mult_adds", "connections", "receptive_field",
             "receptive_field_measured", "receptive_field_note", "dense_equivalent", "layers",
             "equivariance")
# (claim, model a, model b, metric path, claimed direction of a - b)
CLAIMS = (("Parameter sharing (CNN vs locally connected: test accuracy)", "cnn", "lc",
           ("test_accuracy",), 1),
          ("Convolution vs dense (CNN vs MLP: test accuracy)", "cnn", "mlp",
           ("test_accuracy",), 1),
          ("Translation invariance (CNN vs MLP: accuracy at a 2 px shift)", "cnn", "mlp",
           ("shift_accuracy", "2"), 1),
          ("Translation invariance (CNN vs MLP: consistency)", "cnn", "mlp",
           ("consistency",), 1),
          ("Antialiased pooling, Zhang 2019 (CNN + BlurPool vs CNN: consistency)", "cnn_blur",
           "cnn", ("consistency",), 1),
          ("Less overfitting (CNN vs MLP: train-test gap, smaller is better)", "cnn", "mlp",
           ("gap",), -1))


# ------------------------------------------- properties of the layers (same on every seed)
def _pct(p) -> str:
    return f"{100 * p:.1f}%"


def _verdict(claim: str, status: str, text: str) -> dict:
    return {"claim": claim, "status": status, "text": f"{claim}: {status} — {text}"}


def sparsity(models: dict) -> dict:
    """Sparsity: measured connections per first-layer output unit, CNN/LC against MLP."""
    c, m, lc = (models[k]["connections"] for k in ("cnn", "mlp", "lc"))
    text = (f"a first-layer unit of the CNN depends on {c['mean']:.0f} of {c['inputs']} inputs "
            f"({_pct(c['fraction'])}), the locally-connected net's on {lc['mean']:.0f}, the "
            f"MLP's on {m['mean']:.0f} ({_pct(m['fraction'])}) (measured by backward)")
    ok = c["mean"] < m["mean"] and lc["mean"] < m["mean"]
    return _verdict("Sparsity of connections", "supported" if ok else "not supported", text)


def equivariance(models: dict) -> dict:
    """The mechanism: the first conv layer commutes with shifts, the LC layer does not."""
    c, lc = models["cnn"]["equivariance"]["error"], models["lc"]["equivariance"]["error"]
    text = (f"first-layer equivariance error (shift 1 px, interior) CNN {c:.2e} vs locally "
            f"connected {lc:.2f}; the MLP's first layer has no spatial map (n/a)")
    return _verdict("Shift equivariance of the conv layer", "supported" if c < 1e-4 < lc
                    else "not supported", text)


# ------------------------------------------------------------------ over seeds
def pm(s: dict, scale: float = 100.0, digits: int = 1) -> str:
    """'95.1 [94.6, 95.6]': a summary's mean and 95% interval, in points by default."""
    lo, hi = s["ci95"]
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return f"{scale * s['mean']:.{digits}f} (one seed: no interval)"
    return f"{scale * s['mean']:.{digits}f} [{scale * lo:.{digits}f}, {scale * hi:.{digits}f}]"


def _per_seed_metrics(r: dict) -> dict:
    """One model's metrics in one seed, keyed by their path in the report."""
    s = r["shift"]
    m = {("train_accuracy",): r["train_accuracy"], ("test_accuracy",): r["test_accuracy"],
         ("gap",): r["gap"], ("consistency",): s["consistency"],
         ("p_top1_change",): s["top1_change"]["p_change"], ("mac",): s["top1_change"]["mac"],
         ("train_seconds",): r["train_seconds"]}
    m.update({("shift_accuracy", str(k)): v for k, v in s["accuracy"].items()})
    m.update({("sample_efficiency", str(n)): v
              for n, v in (r.get("sample_efficiency") or {}).items()})
    if r["equivariance"]["error"] is not None:
        m[("equivariance_error",)] = r["equivariance"]["error"]
    return m


def _nest(flat: dict) -> dict:
    out: dict = {}
    for path, value in flat.items():
        node = out
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = value
    return out


def model_metrics(per_seed: list[dict]) -> dict:
    """Nested metrics of one model over seeds, each a :func:`stats.summary`; consistency and
    shift accuracies also carry each seed's bootstrap interval over test images."""
    flats = [_per_seed_metrics(r) for r in per_seed]
    flat = {p: stats.summary([f[p] for f in flats]) for p in flats[0]
            if all(p in f for f in flats)}
    boots = [r["shift"].get("bootstrap_ci95") for r in per_seed]
    if all(boots):
        flat[("consistency",)]["bootstrap_ci95_per_seed"] = [b["consistency"] for b in boots]
        for k in boots[0]["accuracy"]:
            flat[("shift_accuracy", str(k))]["bootstrap_ci95_per_seed"] = [
                b["accuracy"][k] for b in boots]
    return _nest(flat)


def _get(metrics: dict, path) -> dict | None:
    for key in path:
        metrics = metrics.get(key) if isinstance(metrics, dict) else None
    return metrics if isinstance(metrics, dict) and "per_seed" in metrics else None


def paired_verdict(claim: str, a: str, b: str, sa: dict, sb: dict, direction: int,
                   labels: dict) -> dict:
    """The verdict of :data:`stats.RULE` on per-seed values of models a and b."""
    d = stats.paired(sa["per_seed"], sb["per_seed"])
    status = stats.verdict(d, direction)
    text = (f"{claim}: {status} — {labels[a]} {pm(sa)} vs {labels[b]} {pm(sb)}; "
            f"difference {pm(d)} points over {d['n']} seeds")
    if status == stats.INCONCLUSIVE:
        text += ("; with one seed there is no interval" if d["n"] < 2 else
                 f"; minimum detectable effect at 80% power: {100 * d['mde80']:.1f} points")
    return {"claim": claim, "status": status, "a": a, "b": b,
            "direction": "a > b" if direction > 0 else "a < b", "difference": d,
            "text": text}


def image_verdicts(models: dict, classes: int) -> list[dict]:
    """The paired verdicts, plus sparsity and equivariance (properties of the layers)."""
    labels = {k: m["label"] for k, m in models.items()}
    out = []
    for claim, a, b, path, direction in CLAIMS:
        if a not in models or b not in models:
            continue
        sa, sb = _get(models[a]["metrics"], path), _get(models[b]["metrics"], path)
        if sa is None or sb is None:
            continue
        v = paired_verdict(claim, a, b, sa, sb, direction, labels)
        weak = [labels[k] for k in (a, b)
                if models[k]["metrics"]["test_accuracy"]["mean"] < 2.0 / classes]
        if weak:
            head = f"{claim}: {v['status']} —"
            v["status"] = stats.INCONCLUSIVE
            v["text"] = v["text"].replace(head, f"{claim}: {stats.INCONCLUSIVE} —", 1) + (
                f"; {', '.join(weak)} near chance accuracy (under twice chance), so the "
                f"comparison says little")
        out.append(v)
    curves = [models[k]["metrics"].get("sample_efficiency") for k in ("cnn", "mlp")
              if k in models]
    if len(curves) == 2 and all(curves):
        n = min(curves[0], key=int)
        out.append(paired_verdict(f"Sample efficiency (CNN vs MLP: test accuracy with {n} "
                                  f"training images)", "cnn", "mlp", curves[0][n],
                                  curves[1][n], 1, labels))
    if {"cnn", "lc"} <= set(models):
        ratio = models["lc"]["params"] / models["cnn"]["params"]
        out[0]["text"] += (f". Parameters: CNN {models['cnn']['params']:,} vs locally "
                           f"connected {models['lc']['params']:,} ({ratio:.1f}x fewer)")
    if {"cnn", "lc", "mlp"} <= set(models):
        out += [sparsity(models), equivariance(models)]
    return out


def aggregate_images(trials: list, workers: int) -> dict:
    results = [t["result"] for t in trials]
    first = results[0]
    models = {}
    for name, r in first["models"].items():
        models[name] = {k: r[k] for k in STRUCTURE if k in r}
        models[name]["metrics"] = model_metrics([res["models"][name] for res in results])
    settings = dict(first["settings"], seed=None, time_budget=(
        "default: 3 seeds, 6 epochs, sample-efficiency sizes 250, 1000, 2000 + the full "
        "training part (trimmed from 250..4000 in five sizes), to keep the default run "
        "near its 5-minute budget on 2 cores; the README gives measured times"))
    return {"kind": "compare", "data": first["data"], "seeds": [t["seed"] for t in trials],
            "workers": workers, "settings": settings, "splits": SPLITS,
            "statistics": {"interval": "95% Student-t interval over seeds",
                           "bootstrap": "percentile, over test images within a seed",
                           "rule": stats.RULE},
            "worked_example": worked_example(), "parameter_growth": parameter_growth(),
            "models": models,
            "verdicts": image_verdicts(models, first["data"]["num_classes"]),
            "per_seed": [{"seed": t["seed"], "histories": {k: m["history"] for k, m in
                                                          t["result"]["models"].items()}}
                         for t in trials]}


def aggregate(trials: list, info: dict, workers: int) -> dict:
    """The report's result from the trials (images or the MNIST-1D replication)."""
    if trials[0]["result"]["kind"] == "paper":
        from .paper import aggregate_paper

        return aggregate_paper(trials, workers)
    return aggregate_images(trials, workers)
