"""holt_forecast equals statsmodels Holt (fixed parameters, optimized=False) and the
ETS(A,A,N) intervals of statsmodels' ETSModel; ar_forecast equals AutoReg(trend="c") in
parameters, fitted values, forecasts and prediction intervals. Tolerance rtol 1e-8."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from statsmodels.tsa.ar_model import AutoReg
from statsmodels.tsa.exponential_smoothing.ets import ETSModel
from statsmodels.tsa.holtwinters import Holt

from analytics.kernels.forecast import ar_forecast, holt_forecast


@pytest.mark.parametrize("seed", range(6))
def test_holt_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = np.cumsum(rng.normal(0.3, 1.0, int(rng.integers(20, 200)))) + 50
    alpha, beta = rng.uniform(0.05, 0.95, 2)
    ours = holt_forecast(y, alpha, beta, 12)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = Holt(y, initialization_method="known", initial_level=y[0], initial_trend=y[1] - y[0]).fit(
            smoothing_level=alpha, smoothing_trend=beta, optimized=False
        )
        ets = ETSModel(
            pd.Series(y),
            error="add",
            trend="add",
            initialization_method="known",
            initial_level=y[0],
            initial_trend=y[1] - y[0],
        ).smooth([alpha, alpha * beta])
        frame = ets.get_prediction(start=y.size, end=y.size + 11).summary_frame(alpha=0.05)
    np.testing.assert_allclose(ours.mean, ref.forecast(12), rtol=1e-10)
    np.testing.assert_allclose(ours.fitted, ref.fittedvalues, rtol=1e-10)
    np.testing.assert_allclose(ours.lower, frame["pi_lower"].to_numpy(), rtol=1e-8)
    np.testing.assert_allclose(ours.upper, frame["pi_upper"].to_numpy(), rtol=1e-8)


@pytest.mark.parametrize("seed", range(6))
def test_ar_matches_autoreg(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, p = int(rng.integers(30, 300)), int(rng.integers(1, 6))
    e = rng.normal(size=n)
    y = np.zeros(n)
    for t in range(n):
        y[t] = 5 + 0.5 * (y[t - 1] if t else 0) - 0.2 * (y[t - 2] if t > 1 else 0) + e[t]
    fit = AutoReg(y, lags=p, trend="c").fit()
    pred = fit.get_prediction(start=n, end=n + 9)
    ci = pred.conf_int(alpha=0.1)
    ours = ar_forecast(y, p, 10, confidence=0.9)
    np.testing.assert_allclose(ours.params, fit.params, rtol=1e-8)
    np.testing.assert_allclose(ours.fitted[p:], fit.fittedvalues, rtol=1e-8)
    np.testing.assert_allclose(ours.mean, pred.predicted_mean, rtol=1e-8)
    np.testing.assert_allclose(ours.lower, ci[:, 0], rtol=1e-8)
    np.testing.assert_allclose(ours.upper, ci[:, 1], rtol=1e-8)
    assert ours.sigma2 == pytest.approx(fit.sigma2, rel=1e-8)


def test_intervals_widen_with_the_horizon_and_contain_the_mean() -> None:
    y = np.cumsum(np.random.default_rng(0).normal(size=100))
    for fc in (holt_forecast(y, 0.4, 0.2, 20), ar_forecast(y, 2, 20)):
        width = fc.upper - fc.lower
        assert (
            np.all(np.diff(width) >= -1e-12) and np.all(fc.lower <= fc.mean) and np.all(fc.mean <= fc.upper)
        )


def test_degenerate_inputs() -> None:
    const = np.full(30, 4.0)
    for fc in (holt_forecast(const, 0.5, 0.5, 3), ar_forecast(const, 2, 3)):
        assert (
            np.all(fc.mean == 4.0)
            and np.all(fc.lower == 4.0)
            and np.all(fc.upper == 4.0)
            and fc.sigma2 == 0.0
        )
    short = holt_forecast([1.0], 0.5, 0.5, 2)
    assert np.isnan(short.mean).all() and np.isnan(holt_forecast([], 0.5, 0.5, 2).mean).all()
    assert np.isnan(ar_forecast([1.0, 2.0, 3.0], 2, 2).sigma2)
    gaps = np.arange(40.0)
    gaps[[5, 17]] = np.nan
    assert np.isfinite(holt_forecast(gaps, 0.5, 0.3, 3).mean).all()
    assert np.isnan(ar_forecast(gaps, 1, 2).fitted[[5, 17]]).all()
    with pytest.raises(ValueError):
        holt_forecast(const, 1.5, 0.1, 3)
    with pytest.raises(ValueError):
        ar_forecast(const, 0, 3)
