"""Fixtures of the analytics tests: a synthetic result store shared by a module, and the
reference helpers several test files use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from analytics import synthetic
from analytics.store import ResultStore


@pytest.fixture(scope="module")
def synthetic_store(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ResultStore, synthetic.SyntheticResults]]:
    """A store file holding three weeks of synthetic results with injected events."""
    path = Path(tmp_path_factory.mktemp("store")) / "results.duckdb"
    store = ResultStore(path)
    data = synthetic.populate(store, seed=7)
    yield store, data
    store.close()


@pytest.fixture(scope="module")
def synthetic_db(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, synthetic.SyntheticResults]:
    """A closed store file (so a CLI can open it) and what was written into it."""
    path = Path(tmp_path_factory.mktemp("db")) / "results.duckdb"
    with ResultStore(path) as store:
        data = synthetic.populate(store, seed=11)
    return path, data


def inject_spikes(
    rng: np.random.Generator, n: int, count: int, size: float = 8.0
) -> tuple[np.ndarray, np.ndarray]:
    """A noisy series with `count` spikes of +-size sigma at known, well-separated places."""
    x = 100.0 + rng.normal(0.0, 1.0, n)
    positions = np.sort(rng.choice(np.arange(60, n, 25), size=count, replace=False))
    x[positions] += rng.choice([-1.0, 1.0], size=count) * size
    return x, positions


def precision_recall(found: np.ndarray, truth: np.ndarray, tolerance: int = 0) -> tuple[float, float]:
    """Precision and recall of flagged indices against true ones, a hit within tolerance."""
    found = np.asarray(found)
    truth = np.asarray(truth)
    if found.size == 0:
        return (1.0 if truth.size == 0 else 0.0), (1.0 if truth.size == 0 else 0.0)
    hit_found = np.array([np.any(np.abs(truth - f) <= tolerance) for f in found])
    hit_truth = np.array([np.any(np.abs(found - t) <= tolerance) for t in truth])
    return float(hit_found.mean()), float(hit_truth.mean()) if truth.size else 1.0
