"""Isolation forest anomaly scores (Liu, Ting and Zhou 2008), as scikit-learn builds it.

Each tree is grown on `sample_size` rows drawn without replacement; a node splits on a
feature chosen uniformly among those not constant in the node, at a threshold uniform in
[min, max) (left: x <= threshold), until one row is left, all rows are equal, or depth
ceil(log2(sample_size)) is reached. A row's path length is its leaf depth plus c(size of
the leaf), c(n) = 2 H(n - 1) - 2 (n - 1) / n; the score is 2 ** (-mean path / c(sample_size)),
in (0, 1], higher = more anomalous (scikit-learn's `score_samples` is minus this).

Randomness: every tree has its own splitmix64 stream derived from (seed, tree index), so
results depend only on the seed, never on thread count. Trees are built in parallel and
rows are scored in parallel blocks (prange), each block walking one tree at a time so the
tree stays in L1 cache.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

from analytics.kernels._common import as_matrix, below, seed_state, uniform

_EULER_GAMMA = 0.5772156649015329
_SCORE_BLOCK = 512
# Trees are stored complete to depth ceil(log2(sample_size)): 2**17 nodes each at most.
_MAX_SAMPLE_SIZE = 1 << 16


@njit(cache=True, error_model="numpy")
def average_path_length(n: float) -> float:
    """c(n): mean unsuccessful-search path length in a binary search tree of n nodes."""
    if n <= 1.0:
        return 0.0
    if n <= 2.0:
        return 1.0
    return 2.0 * (math.log(n - 1.0) + _EULER_GAMMA) - 2.0 * (n - 1.0) / n


@njit(cache=True, error_model="numpy")
def _sample_rows(n: int, k: int, state: np.ndarray) -> np.ndarray:
    """k distinct row indices of range(n): partial Fisher-Yates over a virtual identity
    array whose few touched slots live in a small open-addressing map (O(k) memory)."""
    size = 1
    while size < 4 * k:
        size *= 2
    keys = np.full(size, -1, dtype=np.int64)
    vals = np.empty(size, dtype=np.int64)
    out = np.empty(k, dtype=np.int64)
    for i in range(k):
        j = i + below(state, n - i)
        # value at j (default j), value at i (default i); then swap.
        hj = (j * 0x9E3779B1) & (size - 1)
        while keys[hj] != -1 and keys[hj] != j:
            hj = (hj + 1) & (size - 1)
        vj = vals[hj] if keys[hj] == j else j
        hi = (i * 0x9E3779B1) & (size - 1)
        while keys[hi] != -1 and keys[hi] != i:
            hi = (hi + 1) & (size - 1)
        vi = vals[hi] if keys[hi] == i else i
        out[i] = vj
        keys[hj] = j
        vals[hj] = vi
    return out


@njit(cache=True, error_model="numpy")
def _grow(
    X: np.ndarray,
    rows: np.ndarray,
    depth_cap: int,
    state: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    leaf_value: np.ndarray,
) -> None:
    """Grow one tree over X[rows] in heap layout (children of k: 2k + 1, 2k + 2; right
    when x > threshold). Every node starts with an infinite threshold, so a leaf at depth
    d < depth_cap sends rows down its left-only chain; its value (d + c(leaf size)) sits
    where that chain reaches depth_cap. Scoring thus walks exactly depth_cap steps with no
    branch."""
    d = X.shape[1]
    cap = 2 * rows.size + 2
    stack_node = np.empty(cap, dtype=np.int64)
    stack_lo = np.empty(cap, dtype=np.int64)
    stack_hi = np.empty(cap, dtype=np.int64)
    stack_depth = np.empty(cap, dtype=np.int64)
    candidates = np.empty(d, dtype=np.int64)
    fmin = np.empty(d)
    fmax = np.empty(d)
    first_leaf = (1 << depth_cap) - 1
    stack_node[0], stack_lo[0], stack_hi[0], stack_depth[0] = 0, 0, rows.size, 0
    top = 1
    while top > 0:
        top -= 1
        node, lo, hi, depth = stack_node[top], stack_lo[top], stack_hi[top], stack_depth[top]
        size = hi - lo
        n_cand = 0
        if depth < depth_cap and size > 1:
            for f in range(d):
                fmin[f] = np.inf
                fmax[f] = -np.inf
            for r in range(lo, hi):
                for f in range(d):
                    v = X[rows[r], f]
                    fmin[f] = min(fmin[f], v)
                    fmax[f] = max(fmax[f], v)
            for f in range(d):
                if fmax[f] > fmin[f]:
                    candidates[n_cand] = f
                    n_cand += 1
        if n_cand == 0:
            end = node
            for _ in range(depth, depth_cap):
                end = 2 * end + 1
            leaf_value[end - first_leaf] = depth + average_path_length(float(size))
            continue
        f = candidates[below(state, n_cand)]
        thr = fmin[f] + uniform(state) * (fmax[f] - fmin[f])
        if thr >= fmax[f]:
            thr = fmin[f]
        # Partition rows[lo:hi]: x <= thr to the front.
        i, j = lo, hi - 1
        while i <= j:
            if X[rows[i], f] <= thr:
                i += 1
            else:
                rows[i], rows[j] = rows[j], rows[i]
                j -= 1
        feature[node] = f
        threshold[node] = thr
        stack_node[top], stack_lo[top], stack_hi[top], stack_depth[top] = 2 * node + 1, lo, i, depth + 1
        stack_node[top + 1], stack_lo[top + 1], stack_hi[top + 1] = 2 * node + 2, i, hi
        stack_depth[top + 1] = depth + 1
        top += 2


@njit(cache=True, parallel=True, error_model="numpy")
def _forest(
    X: np.ndarray,
    n_trees: int,
    psi: int,
    seed: int,
    depth_cap: int,
    feature: np.ndarray,
    threshold: np.ndarray,
    leaf_value: np.ndarray,
) -> None:
    n = X.shape[0]
    for t in prange(n_trees):
        state = seed_state(seed, t)
        rows = _sample_rows(n, psi, state)
        _grow(X, rows, depth_cap, state, feature[t], threshold[t], leaf_value[t])


@njit(cache=True, parallel=True, error_model="numpy")
def _score(
    X: np.ndarray,
    psi: int,
    depth_cap: int,
    feature: np.ndarray,
    threshold: np.ndarray,
    leaf_value: np.ndarray,
    out: np.ndarray,
) -> None:
    n = X.shape[0]
    n_trees = feature.shape[0]
    norm = average_path_length(float(psi)) * n_trees
    first_leaf = (1 << depth_cap) - 1
    n_blocks = (n + _SCORE_BLOCK - 1) // _SCORE_BLOCK
    for blk in prange(n_blocks):
        lo = blk * _SCORE_BLOCK
        hi = min(n, lo + _SCORE_BLOCK)
        acc = np.zeros(hi - lo)
        node = np.empty(hi - lo, dtype=np.int64)
        for t in range(n_trees):
            feat = feature[t]
            thr = threshold[t]
            val = leaf_value[t]
            node[:] = 0
            # Level by level over the whole block: every row is independent work, so the
            # loads of many rows overlap instead of waiting on one row's chain.
            for _ in range(depth_cap):
                for r in range(hi - lo):
                    k = node[r]
                    node[r] = 2 * k + 1 + (X[lo + r, feat[k]] > thr[k])
            for r in range(hi - lo):
                acc[r] += val[node[r] - first_leaf]
        for r in range(lo, hi):
            # A zero denominator (sample_size 1) scores 0.5, as scikit-learn does.
            out[r] = 2.0 ** (-acc[r - lo] / norm) if norm > 0.0 else 0.5


def isolation_forest_scores(
    X: np.ndarray,
    n_trees: int = 100,
    sample_size: int = 256,
    seed: int = 0,
    score_X: np.ndarray | None = None,
) -> np.ndarray:
    """Fit an isolation forest on the rows of X and return the anomaly score of every row
    of `score_X` (default: X itself), in (0, 1]; higher is more anomalous, ~0.5 is normal.

    X is (n_samples, n_features) or 1-D (one feature). Rows holding a NaN are left out of
    the fit and score NaN. `sample_size` is capped at the number of usable rows. No usable
    rows: all NaN. Identical rows (constant data): every tree is a single leaf and every
    score is 2 ** (-c(psi)/c(psi)) = 0.5. Same seed, same scores.
    """
    data = as_matrix(X)
    target = data if score_X is None else as_matrix(score_X, "score_X")
    if target.shape[1] != data.shape[1]:
        raise ValueError("score_X must have the same number of features as X")
    if n_trees < 1 or not 1 <= sample_size <= _MAX_SAMPLE_SIZE:
        raise ValueError(f"n_trees must be positive and sample_size in [1, {_MAX_SAMPLE_SIZE}]")
    fit_rows = ~np.isnan(data).any(axis=1)
    fit = data if fit_rows.all() else np.ascontiguousarray(data[fit_rows])
    out = np.full(target.shape[0], np.nan)
    if fit.shape[0] == 0 or target.shape[0] == 0:
        return out
    psi = int(min(sample_size, fit.shape[0]))
    depth_cap = max(1, math.ceil(math.log2(max(psi, 2))))
    shape = (int(n_trees), (1 << depth_cap) - 1)
    feature = np.zeros(shape, dtype=np.int64)
    threshold = np.full(shape, np.inf)
    leaf_value = np.zeros((int(n_trees), 1 << depth_cap))
    _forest(fit, int(n_trees), psi, int(seed) & 0x7FFFFFFFFFFFFFFF, depth_cap, feature, threshold, leaf_value)
    score_rows = ~np.isnan(target).any(axis=1)
    if score_rows.all():
        _score(target, psi, depth_cap, feature, threshold, leaf_value, out)
    else:
        part = np.empty(int(score_rows.sum()))
        _score(np.ascontiguousarray(target[score_rows]), psi, depth_cap, feature, threshold, leaf_value, part)
        out[score_rows] = part
    return out
