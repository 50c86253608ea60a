"""Trend tests: least-squares line with the slope's t-test, and the Mann-Kendall test.

`linear_trend` follows scipy.stats.linregress (r clipped to [-1, 1], the same 1e-20 guard
in the t statistic, two-sided p from Student t with n - 2 degrees of freedom, computed
here with the regularized incomplete beta). `mann_kendall` counts concordant minus
discordant pairs with a merge sort (O(n log n)) and uses the normal approximation with
the ties correction and a continuity correction of 1.

Pairs (t, y) with a NaN in either are dropped first.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numba import njit

from analytics.kernels._common import as_series
from analytics.kernels._special import norm_two_sided_p, student_t_two_sided_p


class TrendResult(NamedTuple):
    slope: float
    intercept: float
    r2: float
    p_value: float
    stderr: float
    n: int


class MannKendallResult(NamedTuple):
    s: int
    z: float
    p_value: float
    n: int


@njit(cache=True, error_model="numpy")
def _linear_trend(t: np.ndarray, y: np.ndarray) -> tuple[float, float, float, float, float, int]:
    n = 0
    st = 0.0
    sy = 0.0
    for i in range(t.size):
        if t[i] == t[i] and y[i] == y[i]:
            n += 1
            st += t[i]
            sy += y[i]
    if n < 3:
        return math.nan, math.nan, math.nan, math.nan, math.nan, n
    mt = st / n
    my = sy / n
    # Centred sums (two passes): no cancellation for timestamps far from zero.
    stt = 0.0
    syy = 0.0
    sty = 0.0
    for i in range(t.size):
        if t[i] == t[i] and y[i] == y[i]:
            dt = t[i] - mt
            dy = y[i] - my
            stt += dt * dt
            syy += dy * dy
            sty += dt * dy
    if stt == 0.0:
        return math.nan, math.nan, math.nan, math.nan, math.nan, n
    slope = sty / stt
    intercept = my - slope * mt
    if syy == 0.0:
        r = 0.0
    else:
        r = sty / math.sqrt(stt * syy)
        r = min(1.0, max(-1.0, r))
    df = n - 2
    tiny = 1.0e-20
    tstat = r * math.sqrt(df / ((1.0 - r + tiny) * (1.0 + r + tiny)))
    p = student_t_two_sided_p(tstat, df)
    stderr = math.sqrt((1.0 - r * r) * syy / stt / df)
    return slope, intercept, r * r, p, stderr, n


@njit(cache=True, error_model="numpy")
def _count_inversions(a: np.ndarray) -> int:
    """Pairs i < j with a[i] > a[j] (strictly), by bottom-up merge sort; a is sorted."""
    n = a.size
    tmp = np.empty(n, dtype=a.dtype)
    inv = 0
    width = 1
    while width < n:
        for lo in range(0, n, 2 * width):
            mid = min(lo + width, n)
            hi = min(lo + 2 * width, n)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if a[i] <= a[j]:  # equal values are not inversions
                    tmp[k] = a[i]
                    i += 1
                else:
                    tmp[k] = a[j]
                    inv += mid - i
                    j += 1
                k += 1
            while i < mid:
                tmp[k] = a[i]
                i += 1
                k += 1
            while j < hi:
                tmp[k] = a[j]
                j += 1
                k += 1
        a[:] = tmp
        width *= 2
    return inv


@njit(cache=True, error_model="numpy")
def _mann_kendall(y: np.ndarray) -> tuple[int, float, float, int]:
    vals = y[~np.isnan(y)].copy()
    n = vals.size
    if n < 2:
        return 0, math.nan, math.nan, n
    discordant = _count_inversions(vals)  # leaves vals sorted
    ties = 0
    tie_var = 0.0
    run = 1
    for i in range(1, n + 1):
        if i < n and vals[i] == vals[i - 1]:
            run += 1
        else:
            if run > 1:
                ties += run * (run - 1) // 2
                tie_var += run * (run - 1) * (2.0 * run + 5.0)
            run = 1
    total = n * (n - 1) // 2
    concordant = total - ties - discordant
    s = concordant - discordant
    var = (n * (n - 1) * (2.0 * n + 5.0) - tie_var) / 18.0
    if var <= 0.0:
        return s, 0.0, 1.0, n
    if s > 0:
        z = (s - 1) / math.sqrt(var)
    elif s < 0:
        z = (s + 1) / math.sqrt(var)
    else:
        z = 0.0
    return s, z, norm_two_sided_p(z), n


def linear_trend(t: np.ndarray, y: np.ndarray) -> TrendResult:
    """Least-squares line y = slope * t + intercept with r^2, the two-sided p-value of
    "slope == 0" (Student t, n - 2 df) and the slope's standard error, as
    scipy.stats.linregress. NaN pairs are dropped. Fewer than 3 pairs, or all t equal:
    every float is NaN. Constant y: slope 0, r^2 0, p-value 1."""
    tt = as_series(t, "t")
    yy = as_series(y, "y")
    if tt.size != yy.size:
        raise ValueError(f"t and y differ in length: {tt.size} != {yy.size}")
    return TrendResult(*_linear_trend(tt, yy))


def mann_kendall(y: np.ndarray) -> MannKendallResult:
    """Mann-Kendall trend test on y in order: S = sum of sign(y[j] - y[i]) over i < j,
    z with ties and continuity corrections, two-sided normal p-value. NaNs are dropped.
    Fewer than 2 values: S = 0, z and p NaN. All values tied (constant): S = 0, z = 0,
    p = 1."""
    return MannKendallResult(*_mann_kendall(as_series(y, "y")))
