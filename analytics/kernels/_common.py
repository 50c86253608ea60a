"""Helpers shared by the kernels: argument coercion for the public wrappers (plain numpy:
contiguous float64 arrays in, ValueError rather than a numba typing error out) and
deterministic random streams (splitmix64, one independent stream per (seed, index), so
parallel loops draw the same numbers whatever the thread count)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit


def as_series(x: Any, name: str = "x") -> np.ndarray:
    """A 1-D contiguous float64 copy-or-view of `x`; None and empty become an empty array."""
    if x is None:
        return np.empty(0, dtype=np.float64)
    arr = np.ascontiguousarray(np.asarray(x, dtype=np.float64))
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def as_matrix(x: Any, name: str = "X") -> np.ndarray:
    """A 2-D C-contiguous float64 array (n_samples, n_features); 1-D input is one feature."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim == 1:
        arr = arr.reshape(-1, 1)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be two-dimensional, got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def check_window(window: int, min_periods: int | None) -> tuple[int, int]:
    """Validate a trailing window and its minimum count (pandas' default: the window)."""
    if int(window) != window or window < 1:
        raise ValueError(f"window must be a positive integer, got {window!r}")
    window = int(window)
    minp = window if min_periods is None else int(min_periods)
    if minp < 0 or minp > window:
        raise ValueError(f"min_periods must be in [0, window], got {min_periods!r}")
    return window, minp


def check_alpha(alpha: float) -> float:
    """A smoothing factor in (0, 1]."""
    alpha = float(alpha)
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    return alpha


@njit(cache=True, error_model="numpy")
def splitmix(state: np.ndarray) -> np.uint64:
    """Next 64-bit output of splitmix64; state is a one-element uint64 array."""
    state[0] += np.uint64(0x9E3779B97F4A7C15)
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, error_model="numpy")
def uniform(state: np.ndarray) -> float:
    """Uniform in [0, 1) with 53 random bits."""
    return float(splitmix(state) >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True, error_model="numpy")
def below(state: np.ndarray, n: int) -> int:
    """Uniform integer in [0, n)."""
    return int(uniform(state) * n)


@njit(cache=True, error_model="numpy")
def seed_state(seed: int, index: int) -> np.ndarray:
    """A fresh stream for item `index` of a job seeded with `seed` (seed >= 0)."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = np.uint64(seed) * np.uint64(0x2545F4914F6CDD1D) + np.uint64(index + 1)
    splitmix(state)
    return state
