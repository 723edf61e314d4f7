"""The lab's statistics over seeds: t-intervals and paired differences against hand-worked
cases (closed-form t quantiles for 1 and 2 degrees of freedom) and scipy, the verdict rule on
synthetic differences, the minimum detectable effect and the bootstrap interval."""

import math

import numpy as np
import pytest
from scipy import stats as st

from convolve.lab import stats


def test_two_seeds_use_the_cauchy_quantile():
    # df = 1: Student t is Cauchy, quantile tan(pi (p - 1/2)); s = |a - b| / sqrt(2)
    a, b = 0.90, 0.94
    mean, (lo, hi) = stats.t_interval([a, b])
    half = math.tan(math.pi * 0.475) * (abs(a - b) / math.sqrt(2)) / math.sqrt(2)
    assert mean == pytest.approx((a + b) / 2, rel=1e-12)
    assert (lo, hi) == pytest.approx(((a + b) / 2 - half, (a + b) / 2 + half), rel=1e-9)


def test_three_seeds_use_the_closed_form_quantile_for_two_dof():
    # df = 2: t_p = (2p - 1) / sqrt(2 p (1 - p)); values 1, 2, 3 have mean 2 and sd 1
    p = 0.975
    t = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
    mean, (lo, hi) = stats.t_interval([1.0, 2.0, 3.0])
    assert mean == 2.0
    assert (lo, hi) == pytest.approx((2 - t / math.sqrt(3), 2 + t / math.sqrt(3)), rel=1e-9)


def test_interval_agrees_with_scipy():
    x = np.random.default_rng(3).normal(0.9, 0.02, size=10)
    lo, hi = st.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=st.sem(x))
    assert stats.t_interval(x)[1] == pytest.approx((lo, hi), rel=1e-9)


def test_one_seed_has_no_interval_and_is_inconclusive():
    s = stats.summary([0.5])
    assert s["mean"] == 0.5 and all(math.isnan(v) for v in s["ci95"])
    assert stats.verdict(stats.paired([0.6], [0.5])) == stats.INCONCLUSIVE


def test_paired_difference_is_the_interval_of_per_seed_differences():
    a, b = [0.95, 0.96, 0.94, 0.97], [0.90, 0.93, 0.92, 0.91]
    d = stats.paired(a, b)
    diffs = np.subtract(a, b)
    assert d["per_seed"] == pytest.approx(diffs.tolist(), rel=1e-12)
    lo, hi = st.ttest_rel(a, b).confidence_interval(0.95)
    assert d["ci95"] == pytest.approx([lo, hi], rel=1e-9)
    assert d["mean"] == pytest.approx(diffs.mean(), rel=1e-12)


def test_paired_rejects_unequal_lengths_and_non_finite_values():
    with pytest.raises(ValueError, match="one value per seed"):
        stats.paired([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="finite"):
        stats.summary([1.0, float("nan")])


@pytest.mark.parametrize("direction", [1, -1])
def test_verdict_rule_on_synthetic_differences(direction):
    rng = np.random.default_rng(0)
    base = rng.normal(0.8, 0.01, size=5)
    up, down = base + 0.05 + rng.normal(0, 0.002, 5), base - 0.05 + rng.normal(0, 0.002, 5)
    noise = np.array([0.01, -0.01, 0.02, -0.02, 0.0])  # mean exactly zero
    claims_up = stats.verdict(stats.paired(up, base), direction)
    claims_down = stats.verdict(stats.paired(down, base), direction)
    assert claims_up == (stats.SUPPORTED if direction == 1 else stats.CONTRADICTED)
    assert claims_down == (stats.CONTRADICTED if direction == 1 else stats.SUPPORTED)
    assert stats.verdict(stats.paired(base + noise, base), direction) == stats.INCONCLUSIVE
    with pytest.raises(ValueError, match="direction"):
        stats.verdict(stats.paired(up, base), 0)


def test_minimum_detectable_effect_matches_the_power_of_a_paired_t_test():
    # at the MDE, the noncentral t power of the two-sided test is about 80%
    sd, n = 0.02, 5
    mde = stats.min_detectable(sd, n)
    df, crit = n - 1, st.t.ppf(0.975, n - 1)
    power = st.nct.sf(crit, df, mde / (sd / math.sqrt(n)))
    assert 0.75 < power < 0.85
    assert mde > crit * sd / math.sqrt(n)  # larger than the interval's half-width


def test_bootstrap_interval_covers_the_mean_and_narrows_with_more_items():
    rng = np.random.default_rng(1)
    small, large = rng.random(50) < 0.7, rng.random(5000) < 0.7
    lo, hi = stats.bootstrap_ci(small, seed=0)
    assert lo < small.mean() < hi
    se = math.sqrt(small.mean() * (1 - small.mean()) / small.size)
    assert hi - lo == pytest.approx(2 * 1.96 * se, rel=0.25)  # the normal approximation
    lo2, hi2 = stats.bootstrap_ci(large, seed=0)
    assert hi2 - lo2 < (hi - lo) / 5
    assert stats.bootstrap_ci(small, seed=0) == [lo, hi]  # seeded
