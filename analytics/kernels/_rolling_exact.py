"""The general path of the rolling statistics: any input (NaNs, short windows, repeated
values), one element at a time, with exact recomputation when rounding could show.

`rolling.py` runs the fast branch-free loops on clean blocks and falls back to these
functions for every block they cannot vouch for; both produce pandas' semantics.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

# Recompute a window exactly when steps * max_m2 > DRIFT * m2 (or the running sum's error
# bound exceeds 1/DRIFT of the window's sum of |x|): with unit roundoff 1.1e-16 this keeps
# relative errors near 1e-10.
DRIFT = 1e6


@njit(cache=True, error_model="numpy")
def two_sum(a: float, b: float) -> tuple[float, float]:
    """a + b and the exact rounding error of that sum (Knuth, branch-free)."""
    s = a + b
    bb = s - a
    err = (a - (s - bb)) + (b - bb)
    return s, err


@njit(cache=True, error_model="numpy")
def window_moments(x: np.ndarray, a: int, b: int) -> tuple[int, float, float, float, float]:
    """Exact count, sum, sum of |x|, mean and squared deviations of x[a:b] (NaN skipped)."""
    n = 0
    s = 0.0
    c = 0.0
    sabs = 0.0
    for k in range(a, b):
        v = x[k]
        if v == v:
            n += 1
            s, e = two_sum(s, v)
            c += e
            sabs += abs(v)
    if n == 0:
        return 0, 0.0, 0.0, 0.0, 0.0
    mean = (s + c) / n
    m2 = 0.0
    dev = 0.0
    for k in range(a, b):
        v = x[k]
        if v == v:
            r = v - mean
            m2 += r * r
            dev += r
    # Corrected two-pass: removes the residual error of the mean itself.
    m2 -= dev * dev / n
    return n, s + c, sabs, mean, max(m2, 0.0)


@njit(cache=True, error_model="numpy")
def inverse_table(w: int) -> np.ndarray:
    """1/k for k = 0..w (0 for k = 0): a load instead of a division per element."""
    tab = np.zeros(w + 1, dtype=np.float64)
    for k in range(1, w + 1):
        tab[k] = 1.0 / k
    return tab


@njit(cache=True, error_model="numpy")
def mean_range(x: np.ndarray, w: int, minp: int, inv: np.ndarray, out: np.ndarray, lo: int, hi: int) -> None:
    """Rolling mean for out[lo:hi], warming up on the w - 1 values before lo.

    A plain running sum keeps the dependency chain to one add per element; `err` bounds
    its accumulated rounding (sum of |partial sums| and |steps|) and the window is summed
    again exactly when err * 1.1e-16 could exceed 1e-10 of the window's sum of |x|.
    """
    start = max(0, lo - w + 1)
    s = 0.0
    sabs = 0.0
    err = 0.0
    n = 0
    run = 0
    prev = math.nan
    for i in range(start, hi):
        v = x[i]
        j = i - w
        u = x[j] if j >= start else math.nan
        vin = v == v
        uin = u == u
        v0 = v if vin else 0.0
        u0 = u if uin else 0.0
        n += int(vin) - int(uin)
        d = v0 - u0
        s += d
        sabs += abs(v0) - abs(u0)
        err += abs(s) + abs(d)
        # Runs of one repeated value give that value exactly, as pandas does.
        if v == prev:
            run += 1
        elif vin:
            run = 1
            prev = v
        if err > DRIFT * sabs:
            n, s, sabs, _, _ = window_moments(x, max(start, i - w + 1), i + 1)
            err = 0.0
        if i >= lo:
            if n >= minp and n > 0:
                out[i] = prev if run >= n else s * inv[n]
            else:
                out[i] = math.nan


@njit(cache=True, error_model="numpy")
def moments_range(
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
    """Rolling mean and/or std (non-empty out arrays) and z-score for [lo, hi).

    z_mode 0: no z; 1: z of x[i] against its own window; 2: against the window ending at
    i - 1 (the point under test does not inflate its own std).
    """
    start = max(0, lo - w)
    want_mean = mean_out.size > 0
    want_std = std_out.size > 0
    s = 0.0
    sabs = 0.0
    err = 0.0
    n = 0
    mean = 0.0
    m2 = 0.0
    big = 0.0
    since = 0
    run = 0
    prev = math.nan
    last_mean = math.nan
    last_std = math.nan
    for i in range(start, hi):
        v = x[i]
        j = i - w
        u = x[j] if j >= start else math.nan
        vin = v == v
        uin = u == u
        if vin and uin:
            old_mean = mean
            d = v - u
            s += d
            mean = s * inv[n]
            m2 += d * ((v - mean) + (u - old_mean))
            sabs += abs(v) - abs(u)
            err += abs(s) + abs(d)
        else:
            if uin:
                old_mean = mean
                n -= 1
                s -= u
                sabs -= abs(u)
                err += abs(s) + abs(u)
                mean = s * inv[n]
                m2 -= (u - old_mean) * (u - mean)
            if vin:
                old_mean = mean
                n += 1
                s += v
                sabs += abs(v)
                err += abs(s) + abs(v)
                mean = s * inv[n]
                m2 += (v - old_mean) * (v - mean)
        if v == prev:
            run += 1
        elif vin:
            run = 1
            prev = v
        since += 1
        if m2 > big:
            big = m2
        if n < 2:
            m2 = 0.0
            big = 0.0
        if err > DRIFT * sabs or m2 < 0.0 or since * big > DRIFT * m2:
            n, s, sabs, mean, m2 = window_moments(x, max(start, i - w + 1), i + 1)
            err = 0.0
            big = m2
            since = 0
        cur_mean = (prev if run >= n else mean) if n >= minp and n > 0 else math.nan
        if n >= minp and n > ddof:
            cur_std = 0.0 if (n == 1 or run >= n) else math.sqrt(m2 / (n - ddof))
        else:
            cur_std = math.nan
        if i >= lo:
            if want_mean:
                mean_out[i] = cur_mean
            if want_std:
                std_out[i] = cur_std
            if z_mode == 1:
                z_out[i] = (v - cur_mean) / cur_std if cur_std > 0.0 else math.nan
            elif z_mode == 2:
                z_out[i] = (v - last_mean) / last_std if last_std > 0.0 else math.nan
        last_mean = cur_mean
        last_std = cur_std
