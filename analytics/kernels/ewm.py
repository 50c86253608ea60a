"""Exponentially weighted mean and standard deviation, pandas' `Series.ewm(alpha=...)`.

Defaults match pandas' defaults: `adjust=True` (weights (1 - alpha)^k normalised by their
sum, so early values are not biased toward the first observation), `ignore_na=False`
(weights decay across NaN positions by absolute position), `min_periods=0`, and an
unbiased (bias=False) variance. At a NaN position the last weighted value is carried;
NaN until the first observation. Both kernels are one sequential pass.

The mean keeps the weighted sum and the weight sum as two independent recurrences
(N = f*N + x, D = f*D + 1), so the dependency chain is one multiply-add per element, and
once D stops changing (it converges to 1/alpha) N/D is a multiply by a kept reciprocal;
pandas divides inside its chain. Results agree to ~1e-13 relative.
The standard deviation is pandas' `ewmcov` recurrence itself (it keeps constant series at
exactly 0).
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from analytics.kernels._common import as_series, check_alpha


@njit(cache=True, error_model="numpy")
def _ewma(
    x: np.ndarray, alpha: float, adjust: bool, ignore_na: bool, minp: int, com_is_one: bool, out: np.ndarray
) -> None:
    f = 1.0 - alpha
    last = math.nan
    num = 0.0
    den = 0.0
    inv_den = 1.0
    nobs = 0
    started = False
    for i in range(x.size):
        v = x[i]
        if v == v:
            nobs += 1
            if started and adjust:
                num = f * num + v
                new_den = f * den + 1.0
                # The weight sum soon stops changing (f * den + 1 == den in floating
                # point); from then on a multiply replaces the division.
                if new_den != den:
                    den = new_den
                    inv_den = 1.0 / den
            elif started:
                # adjust=False: num is the weighted value and den the decayed old weight
                # f^k after k - 1 NaNs. pandas gives the new value weight alpha, except
                # when com == (1 - alpha) / alpha == 1, where it uses 1 - f^k (kept as is).
                ow = f * den
                new_wt = 1.0 - ow if com_is_one else alpha
                if num != v:
                    num = (ow * num + new_wt * v) / (ow + new_wt)
                den = 1.0
            else:
                num = v
                den = 1.0
                inv_den = 1.0
                started = True
            last = num * inv_den if adjust else num
        elif started and not ignore_na:
            if adjust:
                num *= f
            den *= f
            inv_den = 1.0 / den
        # A NaN position carries the last value (num / den is unchanged, or 0/0 at alpha 1).
        out[i] = last if (started and nobs >= minp) else math.nan


@njit(cache=True, error_model="numpy")
def _ewm_var(
    x: np.ndarray, alpha: float, adjust: bool, ignore_na: bool, minp: int, bias: bool, out: np.ndarray
) -> None:
    """pandas' ewmcov(x, x) recurrence; out receives the variance."""
    n = x.size
    old_wt_factor = 1.0 - alpha
    new_wt = 1.0 if adjust else alpha
    mean_x = x[0]
    nobs = 1 if mean_x == mean_x else 0
    if nobs == 0:
        mean_x = math.nan
    out[0] = (0.0 if bias else math.nan) if nobs >= minp else math.nan
    cov = 0.0
    sum_wt = 1.0
    sum_wt2 = 1.0
    old_wt = 1.0
    for i in range(1, n):
        cur = x[i]
        is_obs = cur == cur
        nobs += is_obs
        if mean_x == mean_x:
            if is_obs or not ignore_na:
                sum_wt *= old_wt_factor
                sum_wt2 *= old_wt_factor * old_wt_factor
                old_wt *= old_wt_factor
                if is_obs:
                    old_mean = mean_x
                    # The weights do not depend on the data: one reciprocal, off the chain.
                    inv = 1.0 / (old_wt + new_wt)
                    # Skipping the update on equal values keeps constant series exact.
                    if mean_x != cur:
                        mean_x = (old_wt * old_mean + new_wt * cur) * inv
                    dx = old_mean - mean_x
                    cov = (old_wt * (cov + dx * dx) + new_wt * (cur - mean_x) * (cur - mean_x)) * inv
                    sum_wt += new_wt
                    sum_wt2 += new_wt * new_wt
                    old_wt += new_wt
                    if not adjust:
                        sum_wt /= old_wt
                        sum_wt2 /= old_wt * old_wt
                        old_wt = 1.0
        elif is_obs:
            mean_x = cur
        if nobs >= minp:
            if bias:
                out[i] = cov
            else:
                numerator = sum_wt * sum_wt
                denominator = numerator - sum_wt2
                out[i] = numerator / denominator * cov if denominator > 0.0 else math.nan
        else:
            out[i] = math.nan


def _pandas_alpha(alpha: float) -> tuple[float, bool]:
    """pandas turns alpha into a centre of mass com = (1 - alpha) / alpha and back into
    1 / (1 + com), which moves alpha by an ulp or two; use the same number. Also: com == 1."""
    a = check_alpha(alpha)
    com = (1.0 - a) / a
    return 1.0 / (1.0 + com), com == 1.0


def ewma(
    x: np.ndarray, alpha: float, adjust: bool = True, ignore_na: bool = False, min_periods: int = 0
) -> np.ndarray:
    """Exponentially weighted mean, equal to pandas
    `Series(x).ewm(alpha=alpha, adjust=adjust, ignore_na=ignore_na, min_periods=...).mean()`.

    NaN before the first observation (and while fewer than `min_periods` observations have
    been seen); a NaN position carries the previous value. Empty in, empty out; a constant
    series gives that constant (to the last bit or two).
    """
    arr = as_series(x)
    a, com_is_one = _pandas_alpha(alpha)
    out = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _ewma(arr, a, bool(adjust), bool(ignore_na), max(int(min_periods), 1), com_is_one, out)
    return out


def ewm_std(
    x: np.ndarray,
    alpha: float,
    adjust: bool = True,
    ignore_na: bool = False,
    min_periods: int = 0,
    bias: bool = False,
) -> np.ndarray:
    """Exponentially weighted standard deviation, equal to pandas
    `Series(x).ewm(alpha=alpha, adjust=adjust, ignore_na=ignore_na).std(bias=bias)`.

    NaN until two observations have been seen (unbiased); exactly 0 for a constant series;
    empty in, empty out. A slightly negative variance from rounding is reported as 0, as
    pandas does.
    """
    arr = as_series(x)
    a, _ = _pandas_alpha(alpha)
    out = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _ewm_var(arr, a, bool(adjust), bool(ignore_na), max(int(min_periods), 1), bool(bias), out)
        np.sqrt(np.maximum(out, 0.0, out=out), out=out)  # NaN stays NaN
    return out
