"""detect_regression: the Mann-Whitney U part equals scipy's asymptotic two-sided test
(U exact, p within 1e-12 absolute + 1e-9 relative); the bootstrap CI is seeded, covers the
true change, and degenerate samples give the documented values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu

from analytics.kernels.regression import detect_regression, mann_whitney_u

samples = st.lists(st.one_of(st.integers(0, 6).map(float), st.floats(-50, 50)), min_size=1, max_size=60)


@settings(max_examples=80, deadline=None)
@given(samples, samples)
def test_mann_whitney_matches_scipy(a: list[float], b: list[float]) -> None:
    ref = mannwhitneyu(a, b, alternative="two-sided", method="asymptotic")
    u, p = mann_whitney_u(np.array(a), np.array(b))
    assert u == ref.statistic
    assert (np.isnan(p) and np.isnan(ref.pvalue)) or abs(p - ref.pvalue) <= 1e-12 + 1e-9 * ref.pvalue


@pytest.mark.parametrize("true_change", [0.0, 0.05, 0.2, -0.1])
def test_detects_a_known_change_and_its_ci_covers_it(true_change: float) -> None:
    rng = np.random.default_rng(int(abs(true_change) * 100) + 7)
    base = rng.lognormal(np.log(100.0), 0.05, 800)
    cand = rng.lognormal(np.log(100.0 * (1 + true_change)), 0.05, 800)
    r = detect_regression(base, cand, seed=1)
    assert r.ci_low <= true_change <= r.ci_high
    assert r.ci_low <= r.relative_change <= r.ci_high
    if true_change != 0.0:
        assert r.p_value < 1e-6
    assert (r.n_baseline, r.n_candidate) == (800, 800)


def test_bootstrap_is_seeded_and_mean_statistic_works() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(10, 1, 300), rng.normal(11, 1, 300)
    assert detect_regression(a, b, seed=3) == detect_regression(a, b, seed=3)
    assert detect_regression(a, b, seed=3) != detect_regression(a, b, seed=4)
    r = detect_regression(a, b, statistic="mean")
    assert r.relative_change == pytest.approx((b.mean() - a.mean()) / a.mean())


def test_degenerate_samples() -> None:
    empty = detect_regression([], [1.0, 2.0])
    assert np.isnan(empty.relative_change) and np.isnan(empty.p_value) and empty.n_baseline == 0
    same = detect_regression([5.0] * 10, [5.0] * 10)
    assert (same.relative_change, same.ci_low, same.ci_high, same.p_value) == (0.0, 0.0, 0.0, 1.0)
    zero = detect_regression([0.0, 0.0, 0.0], [1.0, 2.0])
    assert np.isnan(zero.relative_change) and np.isfinite(zero.p_value)
    nan_mixed = detect_regression([1.0, np.nan, 2.0], [np.nan, 3.0])
    assert (nan_mixed.n_baseline, nan_mixed.n_candidate) == (2, 1)
    with pytest.raises(ValueError):
        detect_regression([1.0], [1.0], statistic="mode")
