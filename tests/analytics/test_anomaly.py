"""Robust z-scores equal their definition; detectors find injected anomalies and change
points with precision and recall >= 0.9; undefined scores flag nothing."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analytics.kernels.anomaly import (
    cusum,
    mad_anomalies,
    mad_zscore,
    rolling_median,
    threshold_anomalies,
    zscore_anomalies,
)
from tests.analytics.conftest import inject_spikes, precision_recall


def reference_robust_z(window: np.ndarray, x: float) -> float:
    vals = window[~np.isnan(window)]
    med = np.median(vals)
    mad = np.median(np.abs(vals - med))
    scale = mad / 0.6745 if mad > 0 else np.mean(np.abs(vals - med)) * 1.253314
    return (x - med) / scale if scale > 0 else np.nan


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.one_of(st.floats(-1e3, 1e3), st.sampled_from([1.0, 2.0, np.nan])), min_size=1, max_size=80)
)
def test_global_mad_zscore_matches_definition(values: list[float]) -> None:
    x = np.array(values)
    z = mad_zscore(x)
    if np.isnan(x).all():
        assert np.isnan(z).all()
        return
    expected = np.array([reference_robust_z(x, v) for v in x])
    np.testing.assert_allclose(z, expected, rtol=1e-12, atol=1e-12, equal_nan=True)


@pytest.mark.parametrize("window, minp", [(1, 1), (5, 3), (20, 20), (33, 10)])
def test_rolling_median_and_mad_match_pandas(window: int, minp: int) -> None:
    rng = np.random.default_rng(window)
    x = np.round(rng.normal(10, 3, 400), 1)  # ties on purpose
    x[rng.random(x.size) < 0.05] = np.nan
    np.testing.assert_allclose(
        rolling_median(x, window, minp),
        pd.Series(x).rolling(window, min_periods=minp).median().to_numpy(),
        equal_nan=True,
    )
    z = mad_zscore(x, window, minp)
    for i in range(x.size):
        win = x[max(0, i - window + 1) : i + 1]
        if np.isnan(x[i]) or np.count_nonzero(~np.isnan(win)) < minp:
            assert np.isnan(z[i])
        else:
            expected = reference_robust_z(win, x[i])
            assert (np.isnan(expected) and np.isnan(z[i])) or abs(z[i] - expected) <= 1e-9 * max(
                1.0, abs(expected)
            )


@pytest.mark.parametrize("seed", range(5))
def test_detectors_find_injected_spikes(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, truth = inject_spikes(rng, 2000, 30)
    for found in (
        zscore_anomalies(x, 4.0),
        zscore_anomalies(x, 4.0, window=50),
        mad_anomalies(x, 5.0),
        mad_anomalies(x, 5.0, window=50),
        threshold_anomalies(x, 100 - 5.5, 100 + 5.5),
    ):
        precision, recall = precision_recall(found, truth)
        assert precision >= 0.9 and recall >= 0.9, (precision, recall)


@pytest.mark.parametrize("seed", range(5))
def test_cusum_finds_level_shifts(seed: int) -> None:
    rng = np.random.default_rng(seed)
    levels = np.repeat(rng.choice([0.0, 3.0, -3.0, 6.0], size=8), 150)
    levels[:150] = 0.0
    shifts = np.flatnonzero(np.diff(levels) != 0) + 1
    x = levels + rng.normal(0, 1, levels.size)
    found = cusum(x, 0.0, 1.0, 6.0)
    precision, recall = precision_recall(found, shifts, tolerance=6)
    assert precision >= 0.9 and recall >= 0.9, (found, shifts)


def test_degenerate_inputs_flag_nothing() -> None:
    const = np.full(300, 5.0)
    assert np.isnan(mad_zscore(const)).all() and np.isnan(mad_zscore(const, 20)).all()
    for found in (
        zscore_anomalies(const),
        zscore_anomalies(const, window=20),
        mad_anomalies(const),
        cusum(const, 5.0, 0.5, 3.0),
        zscore_anomalies([]),
        mad_anomalies([]),
        cusum([], 0, 1, 1),
        threshold_anomalies([np.nan, np.nan], 0, 1),
        zscore_anomalies([np.nan, 1.0]),
    ):
        assert found.dtype == np.int64 and found.size == 0
    with pytest.raises(ValueError):
        cusum([1.0], np.nan, 1, 1)


def test_mad_falls_back_to_mean_absolute_deviation_when_mad_is_zero() -> None:
    x = np.r_[np.full(10, 1.0), 5.0, 9.0]
    z = mad_zscore(x)
    scale = np.mean(np.abs(x - 1.0)) * 1.253314
    np.testing.assert_allclose(z, (x - 1.0) / scale)
    assert list(mad_anomalies(x, 3.5)) == [11]
