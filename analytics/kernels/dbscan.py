"""DBSCAN clustering (Ester et al. 1996) with scikit-learn's labelling.

Neighbours are rows within Euclidean distance <= eps (compared as squared distances),
looked up in a grid of cells of side eps/sqrt(k) over the k <= 3 widest coordinates; a
row is a core row when it has at least `min_samples` neighbours, itself included.
Clusters are the connected components of core rows (union-find), which is what
scikit-learn's depth-first expansion finds; its labelling is then reproduced: clusters
are numbered in order of their lowest-index core row, and a border row reachable from
several clusters joins the lowest-numbered one (the expansion that runs first) -- the
same labels scikit-learn gives, numbers included.

When the grid covers every coordinate (at most 3 features), rows sharing a cell are
within eps of each other: a cell with min_samples rows is all core and one union, and
two cells already in one component are never compared row by row. Core counting runs in
parallel (prange) and stops at min_samples. Near-linear unless many rows crowd into few
cells; O(n^2) at worst.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange

from analytics.kernels._common import as_matrix


class DBSCANResult(NamedTuple):
    labels: np.ndarray  # int64 cluster number per row, -1 for noise
    core: np.ndarray  # bool, True for core rows


_GRID_DIMS = 3


@njit(cache=True, error_model="numpy")
def _dist2(xs: np.ndarray, i: int, j: int) -> float:
    acc = 0.0
    for f in range(xs.shape[1]):
        d = xs[i, f] - xs[j, f]
        acc += d * d
    return acc


@njit(cache=True, error_model="numpy")
def _find_cell(keys: np.ndarray, target: np.ndarray) -> int:
    """Index of `target` among the lexicographically sorted rows of keys, or -1."""
    lo, hi = 0, keys.shape[0]
    k = keys.shape[1]
    while lo < hi:
        mid = (lo + hi) // 2
        cmp = 0
        for f in range(k):
            if keys[mid, f] != target[f]:
                cmp = -1 if keys[mid, f] < target[f] else 1
                break
        if cmp == 0:
            return mid
        if cmp < 0:
            lo = mid + 1
        else:
            hi = mid
    return -1


@njit(cache=True, error_model="numpy")
def _offsets(k: int, reach: int, side: float, eps: float) -> np.ndarray:
    """Cell offsets in {-reach..reach}^k whose cells can hold a row within eps of a row
    of the centre cell (their nearest corners are at most eps apart)."""
    width = 2 * reach + 1
    out = np.empty((width**k, k), dtype=np.int64)
    m = 0
    for o in range(width**k):
        rest = o
        gap = 0.0
        for f in range(k):
            off = rest % width - reach
            rest //= width
            out[m, f] = off
            g = max(abs(off) - 1, 0) * side
            gap += g * g
        if gap <= eps * eps:
            m += 1
    return out[:m]


@njit(cache=True, error_model="numpy")
def _neighbour_cells(keys: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """For every occupied cell, the occupied cells at the given offsets (-1: empty)."""
    n_cells, k = keys.shape
    out = np.full((n_cells, offsets.shape[0]), -1, dtype=np.int64)
    target = np.empty(k, dtype=np.int64)
    for c in range(n_cells):
        for o in range(offsets.shape[0]):
            for f in range(k):
                target[f] = keys[c, f] + offsets[o, f]
            out[c, o] = _find_cell(keys, target)
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def _core_rows(
    xs: np.ndarray,
    eps: float,
    min_samples: int,
    cell_of: np.ndarray,
    starts: np.ndarray,
    near: np.ndarray,
    whole_cell: bool,
) -> np.ndarray:
    """Core flags; counting stops at min_samples. With `whole_cell` (the grid covers every
    coordinate, so a cell's rows are all within eps of each other) a cell holding
    min_samples rows is core without any distance."""
    n = cell_of.size
    eps2 = eps * eps
    core = np.zeros(n, dtype=np.bool_)
    for i in prange(n):
        own = cell_of[i]
        if whole_cell and starts[own + 1] - starts[own] >= min_samples:
            core[i] = True
            continue
        total = 0
        for c in near[own]:
            if c < 0:
                continue
            for j in range(starts[c], starts[c + 1]):
                if _dist2(xs, i, j) <= eps2:
                    total += 1
            if total >= min_samples:
                break
        core[i] = total >= min_samples
    return core


@njit(cache=True, error_model="numpy")
def _find(parent: np.ndarray, i: int) -> int:
    root = i
    while parent[root] != root:
        root = parent[root]
    while parent[i] != root:  # path compression
        parent[i], i = root, parent[i]
    return root


@njit(cache=True, error_model="numpy")
def _union(parent: np.ndarray, a: int, b: int) -> None:
    ra = _find(parent, a)
    rb = _find(parent, b)
    if ra != rb:
        parent[max(ra, rb)] = min(ra, rb)


@njit(cache=True, error_model="numpy")
def _components(
    xs: np.ndarray,
    eps: float,
    cell_of: np.ndarray,
    starts: np.ndarray,
    near: np.ndarray,
    core: np.ndarray,
    whole_cell: bool,
) -> np.ndarray:
    """Union-find over core rows joined by a core-core distance <= eps; returns each
    row's root (meaningful for core rows only)."""
    n = cell_of.size
    n_cells = starts.size - 1
    eps2 = eps * eps
    parent = np.arange(n)
    first_core = np.full(n_cells, -1, dtype=np.int64)
    for c in range(n_cells):
        for j in range(starts[c], starts[c + 1]):
            if core[j]:
                if first_core[c] < 0:
                    first_core[c] = j
                elif whole_cell:
                    _union(parent, first_core[c], j)
    for c in range(n_cells):
        if first_core[c] < 0:
            continue
        for d in near[c]:
            if d < c or first_core[d] < 0:
                continue
            if whole_cell and d != c and _find(parent, first_core[c]) == _find(parent, first_core[d]):
                continue  # every core row of both cells is already in one component
            for i in range(starts[c], starts[c + 1]):
                if not core[i]:
                    continue
                lo = i + 1 if d == c else starts[d]
                for j in range(lo, starts[d + 1]):
                    if core[j] and _find(parent, i) != _find(parent, j) and _dist2(xs, i, j) <= eps2:
                        _union(parent, i, j)
    for i in range(n):
        parent[i] = _find(parent, i)
    return parent


@njit(cache=True, error_model="numpy")
def _label(
    xs: np.ndarray,
    eps: float,
    cell_of: np.ndarray,
    starts: np.ndarray,
    near: np.ndarray,
    core: np.ndarray,
    root: np.ndarray,
    rank: np.ndarray,
) -> np.ndarray:
    """scikit-learn's numbering: rows in original order, each core row of a component not
    yet numbered opens the next number; a border row takes the smallest number among the
    components of its core neighbours (the cluster sklearn's expansion reaches first)."""
    n = cell_of.size
    eps2 = eps * eps
    number = np.full(n, -1, dtype=np.int64)  # by component root
    next_label = 0
    for row in range(rank.size):
        i = rank[row]
        if i >= 0 and core[i] and number[root[i]] < 0:
            number[root[i]] = next_label
            next_label += 1
    out = np.full(rank.size, -1, dtype=np.int64)
    for row in range(rank.size):
        i = rank[row]
        if i < 0:
            continue
        if core[i]:
            out[row] = number[root[i]]
            continue
        best = -1
        for c in near[cell_of[i]]:
            if c < 0:
                continue
            for j in range(starts[c], starts[c + 1]):
                if core[j] and (best < 0 or number[root[j]] < best) and _dist2(xs, i, j) <= eps2:
                    best = number[root[j]]
        out[row] = best
    return out


def dbscan(X: np.ndarray, eps: float, min_samples: int = 5) -> DBSCANResult:
    """Cluster the rows of X (n_samples, n_features; 1-D is one feature).

    Returns labels (int64, -1 = noise, clusters numbered 0.. in order of their lowest-index
    core row) and the core mask, equal to scikit-learn's
    `DBSCAN(eps, min_samples=min_samples).fit(X)` `labels_` and core sample indices. Rows
    holding a NaN are noise and nobody's neighbour. Empty input gives empty arrays;
    identical rows are all neighbours of each other (one cluster when there are at least
    min_samples of them, else noise).
    """
    data = as_matrix(X)
    if not eps > 0.0 or int(min_samples) != min_samples or min_samples < 1:
        raise ValueError("dbscan needs eps > 0 and an integer min_samples >= 1")
    n = data.shape[0]
    labels = np.full(n, -1, dtype=np.int64)
    core = np.zeros(n, dtype=bool)
    valid = np.flatnonzero(~np.isnan(data).any(axis=1))
    if valid.size == 0:
        return DBSCANResult(labels, core)
    pts = data[valid]
    # Cells of side eps / sqrt(k) over the (up to) three widest coordinates: rows sharing
    # a cell are within eps on those coordinates, so on all of them when k == d.
    spread = pts.max(axis=0) - pts.min(axis=0)
    k = min(_GRID_DIMS, data.shape[1])
    dims = np.argsort(-spread, kind="stable")[:k]
    side = eps / np.sqrt(k)
    coords = np.floor((pts[:, dims] - pts[:, dims].min(axis=0)) / side).astype(np.int64)
    order = np.lexsort(coords.T[::-1])
    coords = coords[order]
    new_cell = np.r_[True, (coords[1:] != coords[:-1]).any(axis=1)]
    starts = np.r_[np.flatnonzero(new_cell), coords.shape[0]].astype(np.int64)
    cell_of = (np.cumsum(new_cell) - 1).astype(np.int64)
    keys = np.ascontiguousarray(coords[new_cell])
    near = _neighbour_cells(keys, _offsets(k, int(np.ceil(np.sqrt(k))), float(side), float(eps)))
    xs = np.ascontiguousarray(pts[order])
    rank = np.full(n, -1, dtype=np.int64)
    rank[valid[order]] = np.arange(valid.size)
    whole_cell = k == data.shape[1]
    core_sorted = _core_rows(xs, float(eps), int(min_samples), cell_of, starts, near, whole_cell)
    root = _components(xs, float(eps), cell_of, starts, near, core_sorted, whole_cell)
    labels = _label(xs, float(eps), cell_of, starts, near, core_sorted, root, rank)
    core[valid[order]] = core_sorted
    return DBSCANResult(labels, core)
