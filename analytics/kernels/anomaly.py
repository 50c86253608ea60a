"""Point-anomaly scores and detectors: robust (median/MAD) z-scores, threshold, z-score and
MAD detectors, and the two-sided tabular CUSUM change-point detector.

Detectors return the int64 indices they flag, ascending; NaN is never flagged, and a score
that is undefined (constant data) flags nothing.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from analytics.kernels._common import as_series, check_window
from analytics.kernels.rolling import rolling_zscore

MAD_CONSTANT = 0.6745  # Phi^-1(3/4): MAD / 0.6745 estimates sigma for normal data
MEANAD_CONSTANT = 1.253314  # sqrt(pi/2): mean absolute deviation * this estimates sigma


@njit(cache=True, error_model="numpy")
def _median_sorted(a: np.ndarray, n: int) -> float:
    """Median of the sorted a[:n] (mean of the middle two for even n)."""
    h = n // 2
    return a[h] if n % 2 == 1 else 0.5 * (a[h - 1] + a[h])


@njit(cache=True, error_model="numpy")
def _mad_sorted(a: np.ndarray, n: int, med: float) -> float:
    """Median of |a[:n] - med| for sorted a: the deviations below and above med are two
    sorted runs, merged only as far as the middle (O(n), no extra sort)."""
    # Split point: first index with a[i] >= med.
    lo, hi = 0, n
    while lo < hi:
        mid = (lo + hi) // 2
        if a[mid] < med:
            lo = mid + 1
        else:
            hi = mid
    i = lo - 1  # walks down the left run: med - a[i] ascending
    j = lo  # walks up the right run: a[j] - med ascending
    h = n // 2
    prev = 0.0
    cur = 0.0
    for _ in range(h + 1):
        prev = cur
        if i >= 0 and (j >= n or med - a[i] <= a[j] - med):
            cur = med - a[i]
            i -= 1
        else:
            cur = a[j] - med
            j += 1
    return cur if n % 2 == 1 else 0.5 * (prev + cur)


@njit(cache=True, error_model="numpy")
def _robust_z_global(x: np.ndarray, out: np.ndarray) -> None:
    vals = x[~np.isnan(x)]
    if vals.size == 0:
        out[:] = math.nan
        return
    # np.median selects (O(n)) rather than sorts.
    med = np.median(vals)
    mad = np.median(np.abs(vals - med))
    # MAD 0 (over half the values equal the median): fall back to the mean absolute
    # deviation (IBM SPSS's rule); 0 there too leaves the score undefined.
    scale = mad / MAD_CONSTANT if mad > 0.0 else np.mean(np.abs(vals - med)) * MEANAD_CONSTANT
    for i in range(x.size):
        out[i] = (x[i] - med) / scale if scale > 0.0 else math.nan


@njit(cache=True, error_model="numpy")
def _robust_z_rolling(x: np.ndarray, w: int, minp: int, out: np.ndarray, med_out: np.ndarray) -> None:
    """Trailing window (ending at i, inclusive); a sorted copy of the window is kept by
    binary-search insert/delete, so each step costs O(w) memory moves and no sort. An
    empty `out` skips the MAD (median only)."""
    want_z = out.size > 0
    buf = np.empty(w, dtype=np.float64)
    n = 0
    for i in range(x.size):
        j = i - w
        if j >= 0:
            u = x[j]
            if u == u:
                lo, hi = 0, n
                while lo < hi:
                    mid = (lo + hi) // 2
                    if buf[mid] < u:
                        lo = mid + 1
                    else:
                        hi = mid
                for k in range(lo, n - 1):
                    buf[k] = buf[k + 1]
                n -= 1
        v = x[i]
        if v == v:
            lo, hi = 0, n
            while lo < hi:
                mid = (lo + hi) // 2
                if buf[mid] < v:
                    lo = mid + 1
                else:
                    hi = mid
            for k in range(n, lo, -1):
                buf[k] = buf[k - 1]
            buf[lo] = v
            n += 1
        if want_z and n >= minp and n > 0 and v == v:
            med = _median_sorted(buf, n)
            mad = _mad_sorted(buf, n, med)
            if mad > 0.0:
                scale = mad / MAD_CONSTANT
            else:
                total = 0.0
                for k in range(n):
                    total += abs(buf[k] - med)
                scale = total / n * MEANAD_CONSTANT
            out[i] = (v - med) / scale if scale > 0.0 else math.nan
            med_out[i] = med
        else:
            if want_z:
                out[i] = math.nan
            med_out[i] = _median_sorted(buf, n) if (n >= minp and n > 0) else math.nan


@njit(cache=True, error_model="numpy")
def _cusum(x: np.ndarray, target: float, k: float, h: float, warmup: int) -> np.ndarray:
    changes = np.empty(x.size, dtype=np.int64)
    count = 0
    hi = 0.0
    lo = 0.0
    hi_start = 0  # first index of the current run of S+ > 0: the estimated onset
    lo_start = 0
    i = 0
    while i < x.size:
        v = x[i]
        if v != v:
            i += 1
            continue
        if hi == 0.0:
            hi_start = i
        if lo == 0.0:
            lo_start = i
        hi = max(0.0, hi + v - target - k)
        lo = max(0.0, lo + target - k - v)
        if hi > h or lo > h:
            changes[count] = hi_start if hi > h else lo_start
            count += 1
            # Re-centre on the new level, measured on the `warmup` values after the
            # alarm (surely past the change), and resume after them: a lasting shift is
            # one change point and a later return is another.
            total = 0.0
            m = 0
            j = i + 1
            while j < x.size and m < warmup:
                if x[j] == x[j]:
                    total += x[j]
                    m += 1
                j += 1
            if m > 0:
                target = total / m
            hi = 0.0
            lo = 0.0
            i = j
            continue
        i += 1
    return changes[:count]


def mad_zscore(x: np.ndarray, window: int | None = None, min_periods: int | None = None) -> np.ndarray:
    """Robust z-score 0.6745 * (x - median) / MAD (MAD: median absolute deviation).

    `window=None` uses the whole series; an int uses the trailing window ending at i
    (inclusive; NaN until `min_periods`, default `window`, values are present; O(n*window)).
    Where the MAD is 0 (over half the values tie at the median) the scale falls back to
    1.253314 * mean absolute deviation; a constant series (or window) has no scale and
    scores NaN. NaN inputs score NaN; empty in, empty out.
    """
    arr = as_series(x)
    out = np.empty(arr.size, dtype=np.float64)
    if arr.size == 0:
        return out
    if window is None:
        _robust_z_global(arr, out)
    else:
        w, minp = check_window(window, min_periods)
        _robust_z_rolling(arr, w, minp, out, np.empty(arr.size, dtype=np.float64))
    return out


def rolling_median(x: np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """Trailing median, equal to pandas `rolling(window, min_periods).median()`."""
    arr = as_series(x)
    w, minp = check_window(window, min_periods)
    med = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _robust_z_rolling(arr, w, minp, np.empty(0, dtype=np.float64), med)
    return med


def _flag(score: np.ndarray, threshold: float) -> np.ndarray:
    with np.errstate(invalid="ignore"):
        return np.flatnonzero(np.abs(score) > threshold).astype(np.int64)


def threshold_anomalies(x: np.ndarray, lower: float | None = None, upper: float | None = None) -> np.ndarray:
    """Indices where x < lower or x > upper (either bound may be None). NaN is never flagged."""
    arr = as_series(x)
    lo = -np.inf if lower is None else float(lower)
    hi = np.inf if upper is None else float(upper)
    with np.errstate(invalid="ignore"):
        return np.flatnonzero((arr < lo) | (arr > hi)).astype(np.int64)


def zscore_anomalies(x: np.ndarray, threshold: float = 3.0, window: int | None = None) -> np.ndarray:
    """Indices with |z| > threshold. `window=None`: z against the whole series' mean and
    std (ddof=1); an int: against the trailing window *before* i (`rolling_zscore` with
    `exclude_current=True`), so a spike does not inflate its own std. Constant data (std 0)
    and NaN flag nothing."""
    arr = as_series(x)
    if window is None:
        vals = arr[~np.isnan(arr)]
        if vals.size < 2:
            return np.empty(0, dtype=np.int64)
        std = float(np.std(vals, ddof=1))
        if std == 0.0:
            return np.empty(0, dtype=np.int64)
        return _flag((arr - float(np.mean(vals))) / std, threshold)
    return _flag(rolling_zscore(arr, window, exclude_current=True), threshold)


def mad_anomalies(x: np.ndarray, threshold: float = 3.5, window: int | None = None) -> np.ndarray:
    """Indices with |robust z| > threshold (3.5 is Iglewicz and Hoaglin's cut-off);
    see `mad_zscore` for the window and the MAD = 0 fallback."""
    return _flag(mad_zscore(x, window), threshold)


def cusum(x: np.ndarray, target: float, k: float, h: float, warmup: int = 10) -> np.ndarray:
    """Two-sided tabular CUSUM change points, for offline use over a stored series.

    S+ = max(0, S+ + x - target - k) and S- = max(0, S- + target - k - x); when either
    exceeds `h` a change is declared at its onset (the first index of that sum's current
    positive run). Both sums then restart at 0 and `target` moves to the new level: the mean
    of the `warmup` values after the alarm, where scanning resumes. So a lasting shift
    yields one change point and a later return yields another (a second change inside the
    warm-up is not seen). `k` (slack, often half the shift to detect) and `h` (decision
    interval, often 4-5 sigma) are in the units of x. NaN positions are skipped; empty
    input, or data within k of the target, gives no change points. Returns int64 onset
    indices, ascending.
    """
    arr = as_series(x)
    if not (math.isfinite(target) and k >= 0 and h >= 0 and warmup >= 1):
        raise ValueError("cusum needs a finite target, k >= 0, h >= 0 and warmup >= 1")
    return _cusum(arr, float(target), float(k), float(h), int(warmup))
