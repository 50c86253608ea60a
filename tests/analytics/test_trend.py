"""linear_trend equals scipy.stats.linregress; mann_kendall equals the textbook statistic
computed here from scipy.stats.norm. Tolerances: slope/intercept/r2/stderr rtol 1e-7 (the
timestamps are ~1.7e9, so the centred sums differ from scipy's by rounding), p-value
1e-9 absolute + 1e-7 relative; Mann-Kendall S exact, z and p 1e-12."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from analytics.kernels.trend import linear_trend, mann_kendall


def reference_mk(y: np.ndarray) -> tuple[int, float, float]:
    y = y[~np.isnan(y)]
    n = y.size
    s = int(sum(np.sign(y[j] - y[i]) for i in range(n) for j in range(i + 1, n)))
    _, counts = np.unique(y, return_counts=True)
    var = (n * (n - 1) * (2 * n + 5) - sum(t * (t - 1) * (2 * t + 5) for t in counts)) / 18
    z = (s - np.sign(s)) / np.sqrt(var) if var > 0 else 0.0
    return s, float(z), float(2 * stats.norm.sf(abs(z)))


@pytest.mark.parametrize("seed", range(10))
def test_linear_trend_matches_linregress(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(3, 300))
    t = np.sort(rng.uniform(1.7e9, 1.71e9, n))
    y = 1e-4 * (t - t[0]) * rng.normal() + rng.normal(0, 1, n)
    if seed % 3 == 0:
        y = np.round(y)
    r, ref = linear_trend(t, y), stats.linregress(t, y)
    np.testing.assert_allclose(
        [r.slope, r.intercept, r.r2, r.stderr],
        [ref.slope, ref.intercept, ref.rvalue**2, ref.stderr],
        rtol=1e-7,
        atol=1e-12,
    )
    assert abs(r.p_value - ref.pvalue) <= 1e-9 + 1e-7 * ref.pvalue
    assert r.n == n


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.integers(-5, 5).map(float), st.floats(-100, 100), st.just(np.nan)), max_size=60))
def test_mann_kendall_matches_reference(values: list[float]) -> None:
    y = np.array(values, dtype=np.float64)
    r = mann_kendall(y)
    if np.count_nonzero(~np.isnan(y)) < 2:
        assert r.s == 0 and np.isnan(r.z) and np.isnan(r.p_value)
        return
    s, z, p = reference_mk(y)
    assert r.s == s and abs(r.z - z) <= 1e-12 and abs(r.p_value - p) <= 1e-12


def test_nan_pairs_are_dropped_and_degenerate_inputs_are_documented() -> None:
    t = np.arange(10.0)
    y = 2.0 * t + 1.0
    y[3] = np.nan
    r = linear_trend(t, y)
    assert (
        r.n == 9
        and r.slope == pytest.approx(2.0)
        and r.intercept == pytest.approx(1.0)
        and r.r2 == pytest.approx(1.0)
    )
    assert r.p_value < 1e-10
    flat = linear_trend(t, np.full(10, 4.0))
    assert (flat.slope, flat.r2, flat.p_value) == (0.0, 0.0, 1.0)
    assert np.isnan(linear_trend([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]).slope)
    assert np.isnan(linear_trend([1.0, 2.0], [1.0, 2.0]).p_value)
    assert np.isnan(linear_trend([], []).slope)
    assert mann_kendall(np.full(5, 3.0))[:3] == (0, 0.0, 1.0)
    with pytest.raises(ValueError):
        linear_trend([1.0, 2.0], [1.0])


def test_mann_kendall_is_n_log_n_on_long_series() -> None:
    y = np.arange(200_000, dtype=np.float64)
    r = mann_kendall(y)
    assert r.s == 200_000 * 199_999 // 2 and r.p_value == 0.0
