"""One verdict per claim of the seed text, generated from the measured numbers.

A difference between two test accuracies counts only when it exceeds twice its binomial
standard error, sqrt(p1(1-p1)/n + p2(1-p2)/n) on n test samples; smaller gaps are called
"inconclusive". Each verdict is a dict: claim, status ("supported", "not supported",
"inconclusive", "partly supported", "mixed"), text (one line, with the numbers).
"""

from __future__ import annotations

import math


def _pct(p) -> str:
    return f"{100 * p:.1f}%"


def significant(p1: float, p2: float, n: int) -> bool:
    """Whether accuracies p1 and p2 on n samples each differ by more than 2 standard errors."""
    se = math.sqrt(max(p1 * (1 - p1), 1e-12) / n + max(p2 * (1 - p2), 1e-12) / n)
    return abs(p1 - p2) > 2 * se


def _verdict(claim: str, status: str, text: str) -> dict:
    return {"claim": claim, "status": status, "text": f"{claim}: {status} — {text}"}


def near_chance(models: dict, names, chance: float) -> list[str]:
    """Labels of the named models whose test accuracy is under twice chance level: their
    predictions say little, and a constant predictor is trivially shift-consistent."""
    return [models[n]["label"] for n in names
            if n in models and models[n]["test_accuracy"] < 2 * chance]


def _guard(verdict: dict, models: dict, names, chance: float) -> dict:
    weak = near_chance(models, names, chance)
    if not weak:
        return verdict
    claim = verdict["claim"]
    body = verdict["text"].split(" — ", 1)[1]
    return _verdict(claim, "inconclusive", f"{', '.join(weak)} near chance accuracy, so the "
                                           f"comparison says little; {body}")


def parameter_sharing(models: dict, example: dict, n_test: int) -> dict:
    """Sharing: the CNN against the locally-connected net (same sparsity, no sharing)."""
    cnn, lc = models["cnn"], models["lc"]
    ratio = lc["params"] / cnn["params"]
    text = (f"the CNN has {cnn['params']:,} parameters against {lc['params']:,} for the same "
            f"topology without sharing ({ratio:.1f}x fewer; seed example computed: dense "
            f"{example['dense']:,} vs conv {example['conv']:,}); test accuracy CNN "
            f"{_pct(cnn['test_accuracy'])} vs locally connected {_pct(lc['test_accuracy'])}")
    better = cnn["test_accuracy"] >= lc["test_accuracy"]
    if significant(cnn["test_accuracy"], lc["test_accuracy"], n_test) and not better:
        return _verdict("Parameter sharing", "partly supported",
                        text + ": fewer parameters, but sharing cost accuracy here")
    return _verdict("Parameter sharing", "supported" if ratio > 1 else "not supported", text)


def sparsity(models: dict) -> dict:
    """Sparsity: measured connections per first-layer output unit, CNN/LC against MLP."""
    c, m, lc = (models[k]["connections"] for k in ("cnn", "mlp", "lc"))
    text = (f"a first-layer unit of the CNN depends on {c['mean']:.0f} of {c['inputs']} inputs "
            f"({_pct(c['fraction'])}), the locally-connected net's on {lc['mean']:.0f}, the "
            f"MLP's on {m['mean']:.0f} ({_pct(m['fraction'])}) (measured by backward)")
    ok = c["mean"] < m["mean"] and lc["mean"] < m["mean"]
    return _verdict("Sparsity of connections", "supported" if ok else "not supported", text)


def translation_invariance(models: dict, n_test: int, k: int = 2) -> dict:
    """Invariance: accuracy kept at a k-pixel shift, CNN against MLP, and per-shift detail."""
    cnn, mlp = models["cnn"]["shift"], models["mlp"]["shift"]
    shifts = sorted(int(s) for s in cnn["accuracy"] if int(s) > 0)

    def acc(s: int, m: dict) -> float:
        return m["accuracy"][s] if s in m["accuracy"] else m["accuracy"][str(s)]

    wins = [s for s in shifts if acc(s, cnn) > acc(s, mlp)
            and significant(acc(s, cnn), acc(s, mlp), n_test)]
    losses = [s for s in shifts if acc(s, cnn) < acc(s, mlp)
              and significant(acc(s, cnn), acc(s, mlp), n_test)]
    text = (f"CNN keeps {_pct(acc(k, cnn))} at {k} px vs MLP {_pct(acc(k, mlp))}; consistency "
            f"(two random shifts <= 3 px) CNN {_pct(cnn['consistency'])} vs MLP "
            f"{_pct(mlp['consistency'])}; P(top-1 change, 1 px) CNN "
            f"{_pct(cnn['top1_change']['p_change'])} vs MLP "
            f"{_pct(mlp['top1_change']['p_change'])}")
    if shifts and len(wins) == len(shifts):
        status = "supported"
    elif wins:
        status = "mixed" if losses else "partly supported"
        text += f"; CNN significantly better only at {', '.join(map(str, wins))} px"
    else:
        status = "not supported" if losses else "inconclusive"
        text += "; the CNN is not significantly more shift-robust than the MLP at any shift"
    if losses:
        text += f"; CNN significantly worse at {', '.join(map(str, losses))} px"
    drop = acc(0, cnn) - acc(max(shifts), cnn) if shifts else 0.0
    text += (f". Not invariant in the strict sense: the CNN still loses {100 * drop:.1f} points "
             f"at {max(shifts) if shifts else 0} px")
    return _verdict("Translation invariance", status, text)


def equivariance(models: dict) -> dict:
    """The mechanism: the first conv layer commutes with shifts, the LC layer does not."""
    c, lc = models["cnn"]["equivariance"]["error"], models["lc"]["equivariance"]["error"]
    text = (f"first-layer equivariance error (shift 1 px, interior) CNN {c:.2e} vs locally "
            f"connected {lc:.2f}; the MLP's first layer has no spatial map (n/a)")
    return _verdict("Shift equivariance of the conv layer", "supported" if c < 1e-4 < lc
                    else "not supported", text)


def antialiasing(models: dict, n_test: int) -> dict | None:
    """Zhang's claim: blurring before subsampling makes the CNN more shift-consistent."""
    if "cnn_blur" not in models:
        return None
    a, b = models["cnn"]["shift"], models["cnn_blur"]["shift"]
    text = (f"consistency CNN {_pct(a['consistency'])} vs CNN + BlurPool "
            f"{_pct(b['consistency'])}; P(top-1 change, 1 px) {_pct(a['top1_change']['p_change'])}"
            f" vs {_pct(b['top1_change']['p_change'])}")
    if not significant(a["consistency"], b["consistency"], n_test):
        status = "inconclusive"
    else:
        status = "supported" if b["consistency"] > a["consistency"] else "not supported"
    return _verdict("Antialiased pooling (Zhang 2019)", status, text)


def overfitting(models: dict, n_test: int) -> dict:
    """Less overfitting: train-test gap and test accuracy of CNN and LC against the MLP."""
    cnn, lc, mlp = models["cnn"], models["lc"], models["mlp"]
    text = (f"train-test gap CNN {100 * cnn['gap']:.1f} points, locally connected "
            f"{100 * lc['gap']:.1f}, MLP {100 * mlp['gap']:.1f}; test accuracy CNN "
            f"{_pct(cnn['test_accuracy'])} vs MLP {_pct(mlp['test_accuracy'])}")
    se = cnn.get("sample_efficiency") or {}
    ms = mlp.get("sample_efficiency") or {}
    if se and ms:
        n = min(int(s) for s in se)
        a, b = se.get(n, se.get(str(n))), ms.get(n, ms.get(str(n)))
        text += f"; with {n} training images CNN {_pct(a)} vs MLP {_pct(b)}"
    smaller_gap = cnn["gap"] < mlp["gap"] - 0.01
    better_test = cnn["test_accuracy"] > mlp["test_accuracy"] and \
        significant(cnn["test_accuracy"], mlp["test_accuracy"], n_test)
    if smaller_gap and better_test:
        status = "supported"
    elif smaller_gap or better_test:
        status = "partly supported"
    else:
        status = "not supported"
    if lc["gap"] >= mlp["gap"] - 0.01:
        text += ". Sparsity alone (locally connected) did not shrink the gap"
    else:
        text += (f". Sparsity alone (locally connected) shrank the gap from "
                 f"{100 * mlp['gap']:.1f} to {100 * lc['gap']:.1f} points, sharing (CNN) to "
                 f"{100 * cnn['gap']:.1f}")
    return _verdict("Less overfitting", status, text)


def all_verdicts(models: dict, example: dict, n_test: int, num_classes: int = 10) -> list[dict]:
    """The verdicts in the seed's order; claims about accuracy or robustness become
    "inconclusive" when a model they compare is near chance."""
    chance = 1.0 / num_classes
    out = [_guard(parameter_sharing(models, example, n_test), models, ("cnn", "lc"), chance),
           sparsity(models),
           _guard(translation_invariance(models, n_test), models, ("cnn", "mlp"), chance),
           equivariance(models)]
    if "cnn_blur" in models:
        out.append(_guard(antialiasing(models, n_test), models, ("cnn", "cnn_blur"), chance))
    out.append(_guard(overfitting(models, n_test), models, ("cnn", "mlp"), chance))
    return out


def paper_verdict(ours: dict, paper: dict, tolerance: float = 0.04) -> list[dict]:
    """MNIST-1D: each of our accuracies against the paper's, within ``tolerance``."""
    out = []
    for key, ref in paper.items():
        got = ours.get(key)
        if got is None:
            continue
        diff = got - ref
        status = "replicated" if abs(diff) <= tolerance else "not replicated"
        out.append({"claim": key, "status": status,
                    "text": f"{key}: ours {_pct(got)} vs paper {_pct(ref)} "
                            f"({100 * diff:+.1f} points): {status}"})
    return out
