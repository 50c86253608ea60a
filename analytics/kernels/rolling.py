"""Trailing-window statistics: rolling mean, standard deviation and z-score.

Semantics are pandas' `Series.rolling(window, min_periods).mean()/.std(ddof)`: position i
sees x[i-window+1 .. i]; NaNs are skipped and counted out; the output is NaN while fewer
than `min_periods` (default: `window`) values are present. A window whose values are all
equal gives exactly that value as mean and exactly 0 as std, as pandas does.

Numerics: running sums with Welford's add/remove update of the squared deviations, plus a
running bound on their accumulated rounding; a window is recomputed exactly (compensated
two-pass) whenever that bound could exceed ~1e-10 of the window's scale -- a value 1e16
times larger leaving the window, or ~1e6 steps of drift. O(n) amortized.

Speed: the series is cut into fixed chunks run in parallel (prange); each chunk warms up on
the `window` values before it, so results do not depend on the thread count. Inside a
chunk, blocks without NaNs or repeated neighbours run a branch-free loop (one add on the
dependency chain per element); every other block takes the general path in
`_rolling_exact.py`, which handles everything one element at a time.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from analytics.kernels._common import as_series, check_window
from analytics.kernels._rolling_exact import DRIFT, inverse_table, mean_range, moments_range, window_moments

_CHUNK = 1 << 16
_BLOCK = 2048
# Below this window the per-block bounds cost more than the general path.
_FAST_MIN_WINDOW = 32


@njit(cache=True, fastmath={"reassoc"}, error_model="numpy")
def _abs_sum(x: np.ndarray, a: int, b: int) -> float:
    """Sum of |x[a:b]|, NaN if any value is NaN. Only a bound, so it may be reassociated
    (that lets LLVM vectorize the reduction)."""
    t = 0.0
    for k in range(a, b):
        t += abs(x[k])
    return t


@njit(cache=True, error_model="numpy")
def _mean_fast(
    x: np.ndarray, w: int, iw: float, out: np.ndarray, a: int, b: int, s: float
) -> tuple[float, int]:
    """Full windows, no bookkeeping for NaNs or repeats: the caller redoes the block on the
    general path when the returned sum is NaN or `rep` (equal neighbours) is non-zero."""
    rep = 0
    prev = x[a - 1]
    # Unsigned indices: numba then skips the negative-index fix-up on every load.
    for k in range(a, b):
        i = np.uint64(k)
        v = x[i]
        d = v - x[i - np.uint64(w)]
        s += d
        rep += v == prev
        prev = v
        out[i] = s * iw
    return s, rep


@njit(cache=True, error_model="numpy")
def _mean_chunk(x: np.ndarray, w: int, minp: int, inv: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """Every window of a block of at most 3w/4 positions holds the block's last w/4 + 1
    shared values: their sum of |x| bounds each window's scale from below, and the union of
    the windows bounds the running sum from above, so one check per block bounds the
    rounding error at every element."""
    if w < _FAST_MIN_WINDOW:
        mean_range(x, w, minp, inv, out, lo, hi)
        return
    blk = min(_BLOCK, 3 * w // 4)
    synced = False
    s = err = 0.0
    a = lo
    while a < hi:
        b = min(hi, a + blk)
        ok = a >= w
        if ok:
            common = _abs_sum(x, b - w, a + 1)
            upper = _abs_sum(x, a - w, b)
            if not synced:
                n, s, _, _, _ = window_moments(x, a - w, a)
                err = 0.0
                synced = n == w
            # Each step rounds by at most eps * (|s| + |d|) <= eps * 2 * upper.
            err += (b - a + 2) * upper
            ok = synced and common > 0.0 and err <= DRIFT * common
        if ok:
            s, rep = _mean_fast(x, w, inv[w], out, a, b, s)
            if s != s or rep > 0:
                ok = False
        if not ok:
            mean_range(x, w, minp, inv, out, a, b)
            synced = False
        a = b


@njit(cache=True, error_model="numpy")
def _moments_fast(
    x: np.ndarray,
    w: int,
    iw: float,
    idof: float,
    a: int,
    b: int,
    std_out: np.ndarray,
    z_out: np.ndarray,
    z_mode: int,
    state: np.ndarray,
) -> int:
    """Full windows only, like `_mean_fast`; the squared deviations are bracketed per
    element (`big`, `m2min`) since the last exact recompute. state = [s, mean, m2, big,
    since, last_mean, last_std, m2min], updated in place; returns the equal-neighbour count."""
    s, mean, m2, big, since, last_mean, last_std = state[:7]
    want_std = std_out.size > 0
    m2min = m2
    rep = 0
    prev = x[a - 1]
    for k in range(a, b):
        i = np.uint64(k)
        v = x[i]
        u = x[i - np.uint64(w)]
        old_mean = mean
        d = v - u
        s += d
        mean = s * iw
        m2 += d * ((v - mean) + (u - old_mean))
        m2min = min(m2min, m2)
        big = max(big, m2)
        rep += v == prev
        prev = v
        std = math.sqrt(abs(m2) * idof)
        if want_std:
            std_out[i] = std
        if z_mode == 1:
            z_out[i] = (v - mean) / std
        elif z_mode == 2:
            z_out[i] = (v - last_mean) / last_std
        last_mean = mean
        last_std = std
    since += b - a
    state[:] = (s, mean, m2, big, since, last_mean, last_std, m2min)
    return rep


@njit(cache=True, error_model="numpy")
def _moments_chunk(
    x: np.ndarray,
    w: int,
    minp: int,
    ddof: int,
    inv: np.ndarray,
    lo: int,
    hi: int,
    mean_out: np.ndarray,
    std_out: np.ndarray,
    z_out: np.ndarray,
    z_mode: int,
) -> None:
    """As `_mean_chunk` (the same per-block bound on the running sum), plus a per-element
    bracket of the squared deviations: a block whose m2 fell below 1e-6 / steps of its
    largest value since the last exact recompute is redone on the general path."""
    # The fast loop writes no mean and needs two values per window for a std.
    if mean_out.size > 0 or w <= max(ddof, 1) or w < _FAST_MIN_WINDOW:
        moments_range(x, w, minp, ddof, inv, lo, hi, mean_out, std_out, z_out, z_mode)
        return
    idof = 1.0 / (w - ddof)
    blk = min(_BLOCK, 3 * w // 4)
    state = np.zeros(8)
    synced = False
    err = 0.0
    a = lo
    while a < hi:
        b = min(hi, a + blk)
        ok = a >= w
        if ok:
            common = _abs_sum(x, b - w, a + 1)
            upper = _abs_sum(x, a - w, b)
            if not synced:
                # The window ending at a - 1 (z_mode 2 scores x[a] against it).
                n, s, _, mean, m2 = window_moments(x, a - w, a)
                state[:7] = (s, mean, m2, m2, 0.0, mean, math.sqrt(m2 * idof))
                err = 0.0
                synced = n == w and m2 > 0.0
            err += (b - a + 2) * upper
            ok = synced and common > 0.0 and err <= DRIFT * common
        if ok:
            rep = _moments_fast(x, w, inv[w], idof, a, b, std_out, z_out, z_mode, state)
            s, m2, big, since, m2min = state[0], state[2], state[3], state[4], state[7]
            ok = s == s and m2 == m2 and rep == 0 and m2min > 0.0 and since * big <= DRIFT * m2min
        if not ok:
            moments_range(x, w, minp, ddof, inv, a, b, mean_out, std_out, z_out, z_mode)
            synced = False
        a = b


@njit(cache=True, parallel=True, error_model="numpy")
def _rolling_mean_par(x: np.ndarray, w: int, minp: int, out: np.ndarray) -> None:
    n = x.size
    chunk = max(_CHUNK, 4 * w)
    inv = inverse_table(w)
    for k in prange((n + chunk - 1) // chunk):
        lo = k * chunk
        _mean_chunk(x, w, minp, inv, out, lo, min(n, lo + chunk))


@njit(cache=True, parallel=True, error_model="numpy")
def _rolling_moments_par(
    x: np.ndarray,
    w: int,
    minp: int,
    ddof: int,
    mean_out: np.ndarray,
    std_out: np.ndarray,
    z_out: np.ndarray,
    z_mode: int,
) -> None:
    n = x.size
    chunk = max(_CHUNK, 4 * w)
    inv = inverse_table(w)
    for k in prange((n + chunk - 1) // chunk):
        lo = k * chunk
        _moments_chunk(x, w, minp, ddof, inv, lo, min(n, lo + chunk), mean_out, std_out, z_out, z_mode)


_EMPTY = np.empty(0, dtype=np.float64)


def rolling_mean(x: np.ndarray, window: int, min_periods: int | None = None) -> np.ndarray:
    """Trailing mean over `window` positions, equal to pandas `rolling(window, min_periods).mean()`.

    NaNs are skipped; a position with fewer than `min_periods` (default `window`) values is
    NaN, so the first `window - 1` outputs are NaN. Empty input gives an empty array; a
    constant window gives exactly the constant.
    """
    arr = as_series(x)
    w, minp = check_window(window, min_periods)
    out = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _rolling_mean_par(arr, w, minp, out)
    return out


def rolling_std(x: np.ndarray, window: int, min_periods: int | None = None, ddof: int = 1) -> np.ndarray:
    """Trailing standard deviation, equal to pandas `rolling(window, min_periods).std(ddof)`.

    NaN while fewer than max(min_periods, ddof + 1) values are in the window; exactly 0 for a
    constant window; empty in, empty out.
    """
    arr = as_series(x)
    w, minp = check_window(window, min_periods)
    std = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _rolling_moments_par(arr, w, minp, int(ddof), _EMPTY, std, _EMPTY, 0)
    return std


def rolling_zscore(
    x: np.ndarray,
    window: int,
    min_periods: int | None = None,
    ddof: int = 1,
    exclude_current: bool = False,
) -> np.ndarray:
    """(x[i] - mean) / std over the trailing window.

    With `exclude_current=False` the window ends at i (pandas:
    `(s - s.rolling(w).mean()) / s.rolling(w).std()`); with True it ends at i - 1, so a spike
    is measured against the history before it (pandas: the same with `.shift(1)` on mean and
    std). NaN where x[i] is NaN, where the window holds too few values, and where the std is
    0 (a constant window: the score is undefined, not infinite). Empty in, empty out.
    """
    arr = as_series(x)
    w, minp = check_window(window, min_periods)
    z = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _rolling_moments_par(arr, w, minp, int(ddof), _EMPTY, _EMPTY, z, 2 if exclude_current else 1)
    return z


def rolling_mean_std(
    x: np.ndarray, window: int, min_periods: int | None = None, ddof: int = 1
) -> tuple[np.ndarray, np.ndarray]:
    """Rolling mean and std in one pass (same semantics as `rolling_mean`/`rolling_std`)."""
    arr = as_series(x)
    w, minp = check_window(window, min_periods)
    mean = np.empty(arr.size, dtype=np.float64)
    std = np.empty(arr.size, dtype=np.float64)
    if arr.size:
        _rolling_moments_par(arr, w, minp, int(ddof), mean, std, _EMPTY, 0)
    return mean, std
