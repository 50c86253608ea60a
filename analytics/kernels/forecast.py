"""Forecasts with prediction intervals: Holt's linear trend and AR(p).

`holt_forecast` is statsmodels' `Holt(y, initialization_method="known", initial_level=l0,
initial_trend=b0).fit(smoothing_level=alpha, smoothing_trend=beta, optimized=False)` (fixed
parameters, no optimisation); its intervals are the analytic ones of the equivalent
ETS(A,A,N) state-space model (statsmodels' ETSModel with smoothing_trend = alpha * beta):
var(h) = sigma^2 * (1 + sum_{j<h} (alpha + alpha*beta*j)^2), sigma^2 = mean squared
one-step residual.

`ar_forecast` fits AR(p) with a constant by conditional least squares -- OLS of y[t] on
1, y[t-1], ..., y[t-p], exactly what statsmodels' `AutoReg(y, lags=p, trend="c")` does --
solved by Householder QR (no scipy/LAPACK at run time). Intervals use the MA(inf) weights:
var(h) = sigma^2 * sum_{j<h} psi_j^2 with sigma^2 = SSR / (n - p), as AutoReg does.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from analytics.kernels._common import as_series
from analytics.kernels._special import norm_ppf


class ForecastResult(NamedTuple):
    mean: np.ndarray  # point forecasts for steps 1..horizon
    lower: np.ndarray  # lower prediction bound
    upper: np.ndarray  # upper prediction bound
    fitted: np.ndarray  # in-sample one-step-ahead predictions (NaN where undefined)
    sigma2: float  # innovation variance used for the intervals
    params: np.ndarray  # holt: [alpha, beta, l0, b0]; ar: [const, phi_1..phi_p]


@njit(cache=True, error_model="numpy")
def _holt(
    y: np.ndarray,
    alpha: float,
    beta: float,
    l0: float,
    b0: float,
    horizon: int,
    z: float,
    mean: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    fitted: np.ndarray,
) -> float:
    level = l0
    trend = b0
    sse = 0.0
    m = 0
    for t in range(y.size):
        f = level + trend
        fitted[t] = f
        v = y[t]
        if v == v:
            e = v - f
            sse += e * e
            m += 1
            new_level = alpha * v + (1.0 - alpha) * f
            trend = beta * (new_level - level) + (1.0 - beta) * trend
            level = new_level
        else:
            # A missing value is replaced by its forecast: the state just moves on.
            level = f
    sigma2 = sse / m if m > 0 else math.nan
    ab = alpha * beta
    acc = 0.0
    for h in range(1, horizon + 1):
        if h > 1:
            c = alpha + ab * (h - 1)
            acc += c * c
        mean[h - 1] = level + h * trend
        half = z * math.sqrt(sigma2 * (1.0 + acc))
        lower[h - 1] = mean[h - 1] - half
        upper[h - 1] = mean[h - 1] + half
    return sigma2


@njit(cache=True, error_model="numpy")
def _lstsq_qr(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, bool]:
    """Least squares min |a x - b| by Householder QR (a: m x k, m >= k); False when a
    column is (numerically) dependent on the others."""
    m, k = a.shape
    r = a.copy()
    rhs = b.copy()
    scale = 0.0
    for j in range(k):
        for i in range(m):
            scale = max(scale, abs(r[i, j]))
    for j in range(k):
        norm = 0.0
        for i in range(j, m):
            norm += r[i, j] * r[i, j]
        norm = math.sqrt(norm)
        if norm <= 1e-12 * scale * math.sqrt(m):
            return np.zeros(k), False
        alpha = -norm if r[j, j] >= 0.0 else norm
        v = r[j:, j].copy()
        v[0] -= alpha
        vnorm2 = 0.0
        for i in range(v.size):
            vnorm2 += v[i] * v[i]
        if vnorm2 > 0.0:
            for c in range(j, k):
                dot = 0.0
                for i in range(v.size):
                    dot += v[i] * r[j + i, c]
                f = 2.0 * dot / vnorm2
                for i in range(v.size):
                    r[j + i, c] -= f * v[i]
            dot = 0.0
            for i in range(v.size):
                dot += v[i] * rhs[j + i]
            f = 2.0 * dot / vnorm2
            for i in range(v.size):
                rhs[j + i] -= f * v[i]
    x = np.zeros(k)
    for j in range(k - 1, -1, -1):
        acc = rhs[j]
        for c in range(j + 1, k):
            acc -= r[j, c] * x[c]
        x[j] = acc / r[j, j]
    return x, True


@njit(cache=True, error_model="numpy")
def _ar(
    y: np.ndarray,
    p: int,
    horizon: int,
    z: float,
    mean: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    fitted: np.ndarray,
    params: np.ndarray,
) -> float:
    n = y.size
    m = n - p
    design = np.empty((m, p + 1))
    target = y[p:].copy()
    for t in range(m):
        design[t, 0] = 1.0
        for i in range(1, p + 1):
            design[t, i] = y[p + t - i]
    coef, ok = _lstsq_qr(design, target)
    if not ok:
        return math.nan
    params[:] = coef
    ssr = 0.0
    for t in range(m):
        f = coef[0]
        for i in range(1, p + 1):
            f += coef[i] * y[p + t - i]
        fitted[p + t] = f
        ssr += (y[p + t] - f) ** 2
    sigma2 = ssr / m
    hist = np.empty(p + horizon)
    hist[:p] = y[n - p :]
    psi = np.zeros(horizon)
    psi[0] = 1.0
    for j in range(1, horizon):
        for i in range(1, min(j, p) + 1):
            psi[j] += coef[i] * psi[j - i]
    acc = 0.0
    for h in range(horizon):
        f = coef[0]
        for i in range(1, p + 1):
            f += coef[i] * hist[p + h - i]
        hist[p + h] = f
        mean[h] = f
        acc += psi[h] * psi[h]
        half = z * math.sqrt(sigma2 * acc)
        lower[h] = f - half
        upper[h] = f + half
    return sigma2


def _z(confidence: float) -> float:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    return float(norm_ppf(0.5 + confidence / 2.0))


def _nan_result(n: int, horizon: int, n_params: int) -> ForecastResult:
    nan = np.full(horizon, np.nan)
    return ForecastResult(
        nan, nan.copy(), nan.copy(), np.full(n, np.nan), math.nan, np.full(n_params, np.nan)
    )


def holt_forecast(
    y: np.ndarray,
    alpha: float,
    beta: float,
    horizon: int,
    confidence: float = 0.95,
    initial_level: float | None = None,
    initial_trend: float | None = None,
) -> ForecastResult:
    """Holt's linear-trend forecast for steps 1..horizon with `confidence` intervals.

    The state starts one step before y[0] at (initial_level, initial_trend), by default
    (y[0], y[1] - y[0]) of the non-NaN values. A NaN in y is replaced by its forecast.
    Fewer than 2 non-NaN values (without both initial values given): everything NaN. A
    constant series forecasts the constant with zero-width intervals.
    """
    arr = as_series(y, "y")
    if not (0.0 <= alpha <= 1.0 and 0.0 <= beta <= 1.0) or horizon < 0:
        raise ValueError("holt_forecast needs 0 <= alpha, beta <= 1 and horizon >= 0")
    z = _z(confidence)
    obs = arr[~np.isnan(arr)]
    if initial_level is None or initial_trend is None:
        if obs.size < 2:
            return _nan_result(arr.size, horizon, 4)
        l0 = float(obs[0]) if initial_level is None else float(initial_level)
        b0 = float(obs[1] - obs[0]) if initial_trend is None else float(initial_trend)
    else:
        l0, b0 = float(initial_level), float(initial_trend)
    mean, lower, upper = np.empty(horizon), np.empty(horizon), np.empty(horizon)
    fitted = np.empty(arr.size)
    sigma2 = _holt(arr, float(alpha), float(beta), l0, b0, int(horizon), z, mean, lower, upper, fitted)
    return ForecastResult(mean, lower, upper, fitted, float(sigma2), np.array([alpha, beta, l0, b0]))


def ar_forecast(y: np.ndarray, p: int, horizon: int, confidence: float = 0.95) -> ForecastResult:
    """AR(p) with a constant, fitted by conditional least squares, forecast for steps
    1..horizon with `confidence` intervals; `fitted` is NaN for the first p positions.

    NaNs are dropped (the remaining values are taken as consecutive). Fewer than
    2p + 2 values, or a singular design (e.g. a constant series): point forecasts repeat
    the last value (the mean of a constant series), sigma2 is 0 for a constant series and
    NaN otherwise, and the intervals follow sigma2.
    """
    arr = as_series(y, "y")
    if int(p) != p or p < 1 or horizon < 0:
        raise ValueError("ar_forecast needs p >= 1 and horizon >= 0")
    p = int(p)
    z = _z(confidence)
    obs = np.ascontiguousarray(arr[~np.isnan(arr)])
    mean, lower, upper = np.empty(horizon), np.empty(horizon), np.empty(horizon)
    fitted = np.full(obs.size, np.nan)
    params = np.full(p + 1, np.nan)
    sigma2 = math.nan
    if obs.size >= 2 * p + 2:
        sigma2 = float(_ar(obs, p, int(horizon), z, mean, lower, upper, fitted, params))
    if not math.isfinite(sigma2):
        last = float(obs[-1]) if obs.size else math.nan
        constant = obs.size > 0 and bool(np.all(obs == obs[0]))
        sigma2 = 0.0 if constant else math.nan
        half = 0.0 if constant else math.nan
        mean[:] = last
        lower[:] = last - half
        upper[:] = last + half
    if obs.size != arr.size:
        full = np.full(arr.size, np.nan)
        full[~np.isnan(arr)] = fitted
        fitted = full
    return ForecastResult(mean, lower, upper, fitted, sigma2, params)
