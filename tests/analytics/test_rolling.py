"""Rolling mean / std / z-score equal pandas (and an exact reference on adversarial data).

Tolerances: |ours - reference| <= 1e-9 * (mean |x| over the window) for means and
<= 1e-7 * std + 1e-12 * (mean |x|) for standard deviations; NaN exactly where the
reference is NaN. pandas itself is no exact oracle on adversarial data (its Welford
update loses digits after a huge value leaves), so there the reference is a per-window
math.fsum computation.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kernels.rolling import rolling_mean, rolling_mean_std, rolling_std, rolling_zscore


def exact_rolling(x: np.ndarray, w: int, minp: int, ddof: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = x.size
    mean, std, scale = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    for i in range(n):
        win = x[max(0, i - w + 1) : i + 1]
        win = win[~np.isnan(win)]
        if len(win) >= max(minp, 1):
            mu = math.fsum(win) / len(win)
            constant = bool(np.all(win == win[0]))
            mean[i] = win[0] if constant else mu
            scale[i] = math.fsum(np.abs(win)) / len(win)
            if len(win) > ddof:
                std[i] = 0.0 if constant else math.sqrt(math.fsum((win - mu) ** 2) / (len(win) - ddof))
    return mean, std, scale


def assert_close(ours: np.ndarray, ref: np.ndarray, atol: np.ndarray | float, rtol: float = 0.0) -> None:
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))
    ok = np.isnan(ref) | (np.abs(ours - ref) <= atol + rtol * np.abs(ref))
    assert ok.all(), (np.flatnonzero(~ok)[:5], ours[~ok][:5], ref[~ok][:5])


@pytest.mark.parametrize("window", [1, 2, 3, 10, 40, 100])
@pytest.mark.parametrize("seed", [0, 1])
def test_rolling_matches_pandas_on_noisy_series_with_gaps(window: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(100.0, 5.0, 5000)
    x[rng.random(x.size) < 0.03] = np.nan
    s = pd.Series(x)
    for minp in (None, max(1, window // 2)):
        scale = np.nanmax(np.abs(x))
        assert_close(
            rolling_mean(x, window, minp), s.rolling(window, min_periods=minp).mean().to_numpy(), 1e-9 * scale
        )
        assert_close(
            rolling_std(x, window, minp), s.rolling(window, min_periods=minp).std().to_numpy(), 1e-9 * scale
        )
        assert_close(
            rolling_std(x, window, minp, ddof=0),
            s.rolling(window, min_periods=minp).std(ddof=0).to_numpy(),
            1e-9 * scale,
        )


def test_zscore_matches_pandas_formula_with_and_without_current_point() -> None:
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.0, 3000)
    s = pd.Series(x)
    m, sd = s.rolling(50).mean(), s.rolling(50).std()
    np.testing.assert_allclose(rolling_zscore(x, 50), ((s - m) / sd).to_numpy(), rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(
        rolling_zscore(x, 50, exclude_current=True),
        ((s - m.shift(1)) / sd.shift(1)).to_numpy(),
        rtol=1e-8,
        atol=1e-9,
    )


def test_mean_std_pair_equals_separate_calls() -> None:
    x = np.random.default_rng(4).normal(size=1000)
    m, sd = rolling_mean_std(x, 7)
    np.testing.assert_allclose(m, rolling_mean(x, 7), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(sd, rolling_std(x, 7), rtol=1e-9, equal_nan=True)


def test_long_series_crosses_chunk_boundaries_like_pandas() -> None:
    # 200k points span several parallel chunks and thousands of fast-path blocks.
    x = np.random.default_rng(5).lognormal(3.0, 0.5, 200_000)
    s = pd.Series(x)
    for w in (64, 500):
        assert_close(rolling_mean(x, w), s.rolling(w).mean().to_numpy(), 0.0, rtol=1e-10)
        assert_close(rolling_std(x, w), s.rolling(w).std().to_numpy(), 0.0, rtol=1e-8)


series_values = st.one_of(
    st.floats(-1e6, 1e6, allow_nan=False),
    st.sampled_from([0.0, 1.0, -1.0, 1e15, -1e15, np.nan, 2.5]),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(series_values, max_size=300), st.integers(1, 70), st.integers(0, 70), st.sampled_from([0, 1]))
def test_rolling_equals_exact_reference_on_adversarial_series(
    values: list[float], w: int, minp: int, ddof: int
) -> None:
    x = np.array(values, dtype=np.float64)
    minp = min(minp, w)
    mean, std, scale = exact_rolling(x, w, minp, ddof)
    assert_close(rolling_mean(x, w, minp), mean, 1e-9 * np.nan_to_num(scale) + 1e-300)
    assert_close(rolling_std(x, w, minp, ddof), std, 1e-12 * np.nan_to_num(scale) + 1e-300, rtol=1e-7)


def test_spikes_leaving_the_window_do_not_corrupt_the_fast_path() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(10.0, 1.0, 20_000)
    x[rng.choice(x.size, 30, replace=False)] = 1e16
    mean, std, scale = exact_rolling(x[:3000], 64, 64, 1)
    assert_close(rolling_mean(x, 64)[:3000], mean, 1e-9 * np.nan_to_num(scale))
    assert_close(rolling_std(x, 64)[:3000], std, 1e-12 * np.nan_to_num(scale), rtol=1e-7)


def test_constant_windows_are_exact_and_score_nan() -> None:
    x = np.r_[np.full(100, 0.1), np.random.default_rng(0).normal(size=100), np.full(100, 3.3)]
    m, sd = rolling_mean(x, 10), rolling_std(x, 10)
    assert np.all(m[9:100] == 0.1) and np.all(sd[9:100] == 0.0)
    assert np.all(m[209:] == 3.3) and np.all(sd[209:] == 0.0)
    assert np.isnan(rolling_zscore(x, 10)[9:100]).all()
    assert np.isnan(rolling_zscore(np.full(500, 7.0), 64)).all()


def test_empty_short_and_all_nan_inputs() -> None:
    assert rolling_mean([], 5).size == 0 and rolling_std([], 5).size == 0 and rolling_zscore([], 5).size == 0
    assert np.isnan(rolling_mean([1.0, 2.0], 5)).all()
    assert np.isnan(rolling_std(np.full(50, np.nan), 3)).all()
    assert np.isnan(rolling_std([1.0, 2.0], 1)).all()  # one value, ddof 1
    with pytest.raises(ValueError):
        rolling_mean([1.0], 0)
    with pytest.raises(ValueError):
        rolling_mean([1.0], 3, min_periods=4)
