"""Every public kernel takes empty, all-NaN, constant and NaN-sprinkled input without
raising, and returns what its docstring promises for it (shapes and the NaN pattern)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import analytics

Series = Callable[[np.ndarray], Any]
SERIES_KERNELS: dict[str, Series] = {
    "rolling_mean": lambda x: analytics.rolling_mean(x, 5),
    "rolling_std": lambda x: analytics.rolling_std(x, 5),
    "rolling_zscore": lambda x: analytics.rolling_zscore(x, 5),
    "ewma": lambda x: analytics.ewma(x, 0.3),
    "ewm_std": lambda x: analytics.ewm_std(x, 0.3),
    "mad_zscore": lambda x: analytics.mad_zscore(x),
    "mad_zscore_window": lambda x: analytics.mad_zscore(x, 5),
    "rolling_median": lambda x: analytics.rolling_median(x, 5),
}
INDEX_KERNELS: dict[str, Series] = {
    "threshold_anomalies": lambda x: analytics.threshold_anomalies(x, 0.0, 10.0),
    "zscore_anomalies": lambda x: analytics.zscore_anomalies(x),
    "zscore_anomalies_window": lambda x: analytics.zscore_anomalies(x, window=5),
    "mad_anomalies": lambda x: analytics.mad_anomalies(x),
    "cusum": lambda x: analytics.cusum(x, 3.0, 0.5, 4.0),
}
INPUTS = {
    "empty": np.empty(0),
    "all_nan": np.full(30, np.nan),
    "constant": np.full(30, 3.0),
    "sprinkled": np.where(np.arange(30) % 4 == 0, np.nan, np.sin(np.arange(30.0)) + 3.0),
}


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("name", SERIES_KERNELS)
def test_series_kernels_keep_shape_and_nan_pattern(name: str, kind: str) -> None:
    x = INPUTS[kind]
    out = SERIES_KERNELS[name](x)
    assert out.shape == x.shape and out.dtype == np.float64
    if kind == "all_nan":
        assert np.isnan(out).all()
    if kind == "constant" and name in ("rolling_zscore", "mad_zscore", "mad_zscore_window"):
        assert np.isnan(out).all()
    if kind == "constant" and name in ("rolling_mean", "ewma", "rolling_median"):
        assert np.allclose(out[~np.isnan(out)], 3.0, rtol=1e-15)
    if kind == "sprinkled" and name in ("rolling_zscore", "mad_zscore", "mad_zscore_window"):
        assert np.isnan(out[np.isnan(x)]).all()


@pytest.mark.parametrize("kind", INPUTS)
@pytest.mark.parametrize("name", INDEX_KERNELS)
def test_detectors_return_sorted_int64_indices_and_never_flag_nan(name: str, kind: str) -> None:
    x = INPUTS[kind]
    found = INDEX_KERNELS[name](x)
    assert found.dtype == np.int64 and np.all(np.diff(found) > 0)
    assert not np.isnan(x[found]).any() if found.size else True
    if kind in ("empty", "all_nan", "constant"):
        assert found.size == 0


@pytest.mark.parametrize("kind", INPUTS)
def test_model_kernels_survive_degenerate_input(kind: str) -> None:
    x = INPUTS[kind]
    t = np.arange(x.size, dtype=np.float64)
    assert analytics.linear_trend(t, x).n <= x.size
    assert analytics.mann_kendall(x).n <= x.size
    for fc in (analytics.holt_forecast(x, 0.5, 0.2, 4), analytics.ar_forecast(x, 2, 4)):
        assert fc.mean.shape == (4,) and fc.lower.shape == (4,) and fc.upper.shape == (4,)
    X = np.c_[x, x[::-1]] if x.size else np.empty((0, 2))
    scores = analytics.isolation_forest_scores(X, 10, 16)
    assert scores.shape == (x.size,)
    labels = analytics.dbscan(X, 0.5, 3).labels
    assert labels.shape == (x.size,)
    r = analytics.detect_regression(x, x[::-1], n_boot=50)
    assert r.n_baseline == np.count_nonzero(~np.isnan(x))
