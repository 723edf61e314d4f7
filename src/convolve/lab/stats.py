"""Statistics over seeds for the lab: intervals, paired differences and the verdict rule.

Pure functions on lists of numbers (no training, no I/O), so they can be checked by hand.

* :func:`t_interval`: mean and two-sided 95% Student-t confidence interval over seeds,
  mean +- t(0.975, n-1) * s / sqrt(n) with s the sample standard deviation (ddof=1).
* :func:`paired`: per-seed differences a - b of two models trained on the same seeds, and
  their t-interval (a paired t-interval).
* :func:`verdict`: "supported" when the interval of the difference excludes zero in the
  claimed direction, "contradicted" when it excludes zero the other way, otherwise
  "inconclusive at this sample size" (see :data:`RULE`).
* :func:`min_detectable`: the smallest true mean difference that a paired t-test with this
  many seeds and this spread would detect with 80% power at two-sided alpha 0.05.
* :func:`bootstrap_ci`: percentile bootstrap interval of a mean over items (test images).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as _st

LEVEL = 0.95
RULE = ("Verdict rule: for each claim, the per-seed difference between the two models "
        "(trained on the same seeds) gets a paired 95% Student-t interval, mean +- "
        "t(0.975, n-1) * sd / sqrt(n) over the n seeds. 'supported' when the interval "
        "excludes zero in the claimed direction; 'contradicted' when it excludes zero in the "
        "other direction; otherwise 'inconclusive at this sample size', reported with the "
        "minimum detectable effect (MDE): the true mean difference a paired t-test with this "
        "many seeds and this standard deviation would detect with 80% power at two-sided "
        "alpha 0.05, (t(0.975, n-1) + t(0.80, n-1)) * sd / sqrt(n).")
SUPPORTED, CONTRADICTED, INCONCLUSIVE = ("supported", "contradicted",
                                         "inconclusive at this sample size")


def _values(values, name: str = "values") -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).ravel()
    if v.size == 0 or not np.all(np.isfinite(v)):
        raise ValueError(f"stats: {name} must be a non-empty list of finite numbers, "
                         f"received {list(np.asarray(values).ravel()[:8])}")
    return v


def t_interval(values, level: float = LEVEL) -> tuple[float, tuple[float, float]]:
    """(mean, (low, high)): the Student-t interval of the mean; (nan, nan) for one value."""
    v = _values(values)
    mean = float(v.mean())
    if v.size < 2:
        return mean, (math.nan, math.nan)
    half = float(_st.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / math.sqrt(v.size))
    return mean, (mean - half, mean + half)


def summary(values) -> dict:
    """{"mean", "ci95": [low, high], "per_seed": [...]} of one metric over seeds."""
    mean, (lo, hi) = t_interval(values)
    return {"mean": mean, "ci95": [lo, hi], "per_seed": [float(x) for x in values]}


def min_detectable(sd: float, n: int, power: float = 0.8, alpha: float = 0.05) -> float:
    """MDE of a two-sided paired t-test: (t(1-alpha/2, n-1) + t(power, n-1)) * sd / sqrt(n)."""
    if n < 2:
        return math.nan
    df = n - 1
    return float((_st.t.ppf(1 - alpha / 2, df) + _st.t.ppf(power, df)) * sd / math.sqrt(n))


def paired(a, b) -> dict:
    """Per-seed differences a - b with their mean, 95% t-interval, sd and MDE."""
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"stats.paired: a and b need one value per seed each, received "
                         f"{a.size} and {b.size}")
    d = a - b
    out = summary(d)
    out["sd"] = float(d.std(ddof=1)) if d.size > 1 else math.nan
    out["n"] = int(d.size)
    out["mde80"] = min_detectable(out["sd"], d.size)
    return out


def verdict(diff: dict, direction: int = 1) -> str:
    """The rule of :data:`RULE` on a :func:`paired` result; direction +1 claims a - b > 0."""
    if direction not in (1, -1):
        raise ValueError(f"stats.verdict: direction must be 1 or -1, received {direction!r}")
    lo, hi = diff["ci95"]
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return INCONCLUSIVE
    lo, hi = direction * lo, direction * hi
    lo, hi = min(lo, hi), max(lo, hi)
    if lo > 0:
        return SUPPORTED
    if hi < 0:
        return CONTRADICTED
    return INCONCLUSIVE


def bootstrap_ci(per_item, n_boot: int = 1000, seed: int = 0,
                 level: float = LEVEL) -> list[float]:
    """Percentile bootstrap interval of the mean of ``per_item`` (resampled with replacement)."""
    v = _values(per_item, "per_item")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(int(n_boot), v.size))
    means = v[idx].mean(axis=1)
    q = (1 - level) / 2
    return [float(np.quantile(means, q)), float(np.quantile(means, 1 - q))]
