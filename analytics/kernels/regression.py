"""Performance-regression test between a baseline sample and a candidate sample.

The effect is the relative change of a location statistic (median by default, or mean),
(stat(candidate) - stat(baseline)) / |stat(baseline)|, with a percentile bootstrap
confidence interval (both samples resampled with replacement, seeded splitmix64 streams so
a seed always gives the same interval). Significance is the Mann-Whitney U test, normal
approximation with tie and continuity corrections, exactly scipy's
`mannwhitneyu(baseline, candidate, alternative="two-sided", method="asymptotic")`.

NaNs are dropped from both samples first.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit, prange

from analytics.kernels._common import as_series, below, seed_state
from analytics.kernels._special import norm_sf


class RegressionResult(NamedTuple):
    relative_change: float  # (stat(candidate) - stat(baseline)) / |stat(baseline)|
    ci_low: float
    ci_high: float
    u_statistic: float  # U of the baseline sample, as scipy reports it
    p_value: float
    n_baseline: int
    n_candidate: int


@njit(cache=True, error_model="numpy")
def _mann_whitney_u(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(U of x, two-sided asymptotic p-value) for NaN-free x, y; (NaN, NaN) when either
    is empty."""
    n1 = x.size
    n2 = y.size
    if n1 == 0 or n2 == 0:
        return math.nan, math.nan
    both = np.concatenate((x, y))
    order = np.argsort(both, kind="mergesort")
    n = n1 + n2
    rank_sum_x = 0.0
    tie_term = 0.0
    i = 0
    while i < n:
        j = i
        while j + 1 < n and both[order[j + 1]] == both[order[i]]:
            j += 1
        avg = 0.5 * (i + j) + 1.0  # average 1-based rank of the tie group
        t = j - i + 1
        tie_term += t * t * t - t
        for k in range(i, j + 1):
            if order[k] < n1:
                rank_sum_x += avg
        i = j + 1
    u1 = rank_sum_x - n1 * (n1 + 1) / 2.0
    u2 = n1 * n2 - u1
    mu = n1 * n2 / 2.0
    s = math.sqrt(n1 * n2 / 12.0 * ((n + 1) - tie_term / (n * (n - 1)))) if n > 1 else 0.0
    numerator = max(u1, u2) - mu - 0.5
    z = numerator / s if s > 0.0 else -math.inf if numerator < 0 else math.inf if numerator > 0 else math.nan
    p = 2.0 * norm_sf(z) if z == z else math.nan
    return u1, min(1.0, max(0.0, p))


@njit(cache=True, error_model="numpy")
def _stat(a: np.ndarray, use_median: bool) -> float:
    return np.median(a) if use_median else np.mean(a)


@njit(cache=True, parallel=True, error_model="numpy")
def _bootstrap(base: np.ndarray, cand: np.ndarray, n_boot: int, seed: int, use_median: bool) -> np.ndarray:
    out = np.empty(n_boot)
    for b in prange(n_boot):
        state = seed_state(seed, b)
        rb = np.empty(base.size)
        rc = np.empty(cand.size)
        for i in range(base.size):
            rb[i] = base[below(state, base.size)]
        for i in range(cand.size):
            rc[i] = cand[below(state, cand.size)]
        sb = _stat(rb, use_median)
        out[b] = (_stat(rc, use_median) - sb) / abs(sb)
    return out


def mann_whitney_u(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(U statistic of x, two-sided p-value), equal to scipy's
    `mannwhitneyu(x, y, alternative="two-sided", method="asymptotic")` (normal
    approximation, tie and continuity corrections). NaNs are dropped; an empty sample gives
    (NaN, NaN); all values tied gives p = 1."""
    a = as_series(x, "x")
    b = as_series(y, "y")
    u, p = _mann_whitney_u(np.ascontiguousarray(a[~np.isnan(a)]), np.ascontiguousarray(b[~np.isnan(b)]))
    return float(u), float(p)


def detect_regression(
    baseline: np.ndarray,
    candidate: np.ndarray,
    statistic: str = "median",
    n_boot: int = 2000,
    confidence: float = 0.95,
    seed: int = 0,
) -> RegressionResult:
    """Relative change of `statistic` ("median" or "mean") from baseline to candidate with
    a seeded percentile-bootstrap CI, and the Mann-Whitney U p-value.

    Either sample empty (after dropping NaNs): every float NaN. Baseline statistic 0: the
    change and CI are NaN (no relative scale), the U test still runs. Identical constant
    samples: change 0, CI [0, 0], p-value 1.
    """
    if statistic not in ("median", "mean"):
        raise ValueError("statistic must be 'median' or 'mean'")
    if not 0.0 < confidence < 1.0 or n_boot < 1:
        raise ValueError("confidence must be in (0, 1) and n_boot >= 1")
    base = as_series(baseline, "baseline")
    cand = as_series(candidate, "candidate")
    base = np.ascontiguousarray(base[~np.isnan(base)])
    cand = np.ascontiguousarray(cand[~np.isnan(cand)])
    if base.size == 0 or cand.size == 0:
        return RegressionResult(math.nan, math.nan, math.nan, math.nan, math.nan, base.size, cand.size)
    use_median = statistic == "median"
    u, p = _mann_whitney_u(base, cand)
    sb = float(np.median(base) if use_median else np.mean(base))
    sc = float(np.median(cand) if use_median else np.mean(cand))
    if sb == 0.0:
        return RegressionResult(math.nan, math.nan, math.nan, float(u), float(p), base.size, cand.size)
    change = (sc - sb) / abs(sb)
    boots = _bootstrap(base, cand, int(n_boot), int(seed) & 0x7FFFFFFFFFFFFFFF, use_median)
    tail = (1.0 - confidence) / 2.0
    lo, hi = np.nanquantile(boots, [tail, 1.0 - tail]) if np.isfinite(boots).any() else (math.nan, math.nan)
    return RegressionResult(float(change), float(lo), float(hi), float(u), float(p), base.size, cand.size)
