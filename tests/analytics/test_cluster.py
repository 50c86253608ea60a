"""Isolation forest ranks outliers as well as scikit-learn's (ROC-AUC within 0.02,
Spearman correlation of scores >= 0.85); DBSCAN gives scikit-learn's labels and core set
exactly (numbers included) on data with and without ambiguous border rows."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.cluster import DBSCAN
from sklearn.ensemble import IsolationForest
from sklearn.metrics import roc_auc_score

from analytics.kernels.dbscan import dbscan
from analytics.kernels.iforest import isolation_forest_scores


def outlier_data(seed: int, n: int = 3000, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = np.zeros(n)
    idx = rng.choice(n, n // 100, replace=False)
    X[idx] += rng.choice([-1.0, 1.0], (idx.size, d)) * rng.uniform(2.5, 5.0, (idx.size, d))
    y[idx] = 1
    return X, y


@pytest.mark.parametrize("seed, d", [(0, 1), (1, 2), (2, 3), (3, 6)])
def test_isolation_forest_ranks_like_sklearn(seed: int, d: int) -> None:
    X, y = outlier_data(seed, d=d)
    ours = isolation_forest_scores(X, n_trees=100, sample_size=256, seed=seed)
    ref = -IsolationForest(n_estimators=100, max_samples=256, random_state=seed).fit(X).score_samples(X)
    assert roc_auc_score(y, ours) >= roc_auc_score(y, ref) - 0.02
    assert spearmanr(ours, ref).statistic >= 0.85
    assert np.all((ours > 0) & (ours <= 1))


def test_isolation_forest_is_deterministic_per_seed_and_scores_new_rows() -> None:
    X, _ = outlier_data(5)
    a = isolation_forest_scores(X, 50, 128, seed=9)
    assert np.array_equal(a, isolation_forest_scores(X, 50, 128, seed=9))
    assert not np.array_equal(a, isolation_forest_scores(X, 50, 128, seed=10))
    far = isolation_forest_scores(X, 50, 128, seed=9, score_X=np.array([[0.0, 0.0, 0.0], [40.0, 40.0, 40.0]]))
    assert far[1] > 0.7 > far[0]


def test_isolation_forest_degenerate_inputs() -> None:
    np.testing.assert_allclose(isolation_forest_scores(np.ones((20, 2))), 0.5, rtol=1e-12)
    assert isolation_forest_scores(np.empty((0, 2))).size == 0
    scores = isolation_forest_scores(np.array([1.0, np.nan, 3.0, 2.0]))
    assert np.isnan(scores[1]) and np.isfinite(scores[[0, 2, 3]]).all()
    with pytest.raises(ValueError):
        isolation_forest_scores(np.ones((5, 2)), sample_size=0)


def blobs(seed: int, d: int) -> tuple[np.ndarray, float, int]:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 5))
    parts = [
        c + rng.normal(0, rng.uniform(0.2, 1.0), (int(rng.integers(5, 120)), d))
        for c in rng.uniform(-10, 10, (k, d))
    ]
    X = np.concatenate([*parts, rng.uniform(-12, 12, (25, d))])
    rng.shuffle(X)
    return X, float(rng.uniform(0.3, 1.5)), int(rng.integers(1, 8))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("d", [1, 2, 3, 5])
def test_dbscan_equals_sklearn_labels_and_core_set(seed: int, d: int) -> None:
    X, eps, min_samples = blobs(seed * 10 + d, d)
    ref = DBSCAN(eps=eps, min_samples=min_samples).fit(X)
    ours = dbscan(X, eps, min_samples)
    core = np.zeros(len(X), dtype=bool)
    core[ref.core_sample_indices_] = True
    np.testing.assert_array_equal(ours.core, core)
    np.testing.assert_array_equal(ours.labels, ref.labels_)


def test_dbscan_border_row_joins_the_cluster_sklearn_reaches_first() -> None:
    # Row 4 is within eps of a core row of both clusters.
    X = np.array([[0.0], [0.1], [0.2], [2.2], [1.2], [2.3], [2.4]])
    ours = dbscan(X, 1.0, 3)
    np.testing.assert_array_equal(ours.labels, DBSCAN(eps=1.0, min_samples=3).fit(X).labels_)


def test_dbscan_degenerate_inputs() -> None:
    assert dbscan(np.empty((0, 2)), 1.0, 2).labels.size == 0
    np.testing.assert_array_equal(dbscan(np.ones((5, 2)), 0.1, 3).labels, np.zeros(5))
    np.testing.assert_array_equal(dbscan(np.ones((2, 2)), 0.1, 3).labels, [-1, -1])
    r = dbscan(np.array([[0.0, 0.0], [0.0, np.nan], [0.1, 0.0]]), 0.5, 2)
    np.testing.assert_array_equal(r.labels, [0, -1, 0])
    assert not r.core[1]
    with pytest.raises(ValueError):
        dbscan(np.ones((3, 1)), 0.0, 2)
