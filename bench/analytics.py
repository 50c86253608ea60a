"""Benchmark of the analytics kernels against their named peers (pandas, numpy, scipy,
statsmodels, scikit-learn), measured in the same run on the same data, plus each kernel's
cold compile time (a subprocess with an empty NUMBA_CACHE_DIR) and cached load time.

    python bench/analytics.py            # 10M points for the series kernels
    python bench/analytics.py --n 1000000 --json results.json

Every line prints our time beside the peer's and their ratio (peer / ours, > 1 means we
are faster). Times are the best of --repeat runs (ours and the peer's interleaved; slow
peers run once) after a warm-up call of ours, and include
allocating the output. Sizes that differ from --n are stated on the line: the isolation
forest scores 1M rows (scikit-learn needs ~4 s per million rows on one core), DBSCAN
clusters 200k 2-D rows, Holt/AR forecasts and the regression test use 1M points, and the
CUSUM peer is a plain Python loop, so both sides run on 1M points.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPEATED = {"rolling_mean", "rolling_std", "rolling_zscore", "ewma", "ewm_std", "mad_zscore", "linear_trend"}

COMPILE_SNIPPET = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import analytics
t_import = time.perf_counter() - t0
t0 = time.perf_counter()
import numba
t_numba = time.perf_counter() - t0
x = np.random.default_rng(0).normal(size=300)
X = np.random.default_rng(0).normal(size=(300, 2))
calls = {
    "rolling_mean": lambda: analytics.rolling_mean(x, 40),
    "rolling_std": lambda: analytics.rolling_std(x, 40),
    "rolling_zscore": lambda: analytics.rolling_zscore(x, 40),
    "ewma": lambda: analytics.ewma(x, 0.1),
    "ewm_std": lambda: analytics.ewm_std(x, 0.1),
    "mad_zscore": lambda: analytics.mad_zscore(x),
    "rolling_median": lambda: analytics.rolling_median(x, 20),
    "cusum": lambda: analytics.cusum(x, 0.0, 0.5, 5.0),
    "linear_trend": lambda: analytics.linear_trend(np.arange(300.0), x),
    "mann_kendall": lambda: analytics.mann_kendall(x),
    "holt_forecast": lambda: analytics.holt_forecast(x, 0.3, 0.1, 5),
    "ar_forecast": lambda: analytics.ar_forecast(x, 3, 5),
    "isolation_forest_scores": lambda: analytics.isolation_forest_scores(X, 10, 64),
    "dbscan": lambda: analytics.dbscan(X, 0.3, 5),
    "detect_regression": lambda: analytics.detect_regression(x[:150], x[150:], n_boot=50),
}
t0 = time.perf_counter()
calls[sys.argv[1]]()
print(json.dumps({"import": t_import, "numba": t_numba, "first_call": time.perf_counter() - t0}))
"""


def compile_times(names: list[str]) -> tuple[dict[str, float], dict[str, float], dict[str, float]]:
    """Per kernel, in fresh processes: the first call with an empty NUMBA_CACHE_DIR (compile)
    and again with the cache that left (load). Also the import times of the last run."""
    cold: dict[str, float] = {}
    cached: dict[str, float] = {}
    imports: dict[str, float] = {}
    for name in names:
        with tempfile.TemporaryDirectory() as cache:
            env = {**os.environ, "NUMBA_CACHE_DIR": cache, "PYTHONPATH": str(ROOT)}
            for target in (cold, cached):
                done = subprocess.run(
                    [sys.executable, "-c", COMPILE_SNIPPET, name],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=True,
                    cwd=ROOT,
                )
                out = json.loads(done.stdout.strip().splitlines()[-1])
                target[name] = out["first_call"]
                imports = {"analytics": out["import"], "numba": out["numba"]}
    return cold, cached, imports


def timed(fn: Callable[[], Any]) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def best_pair(
    ours: Callable[[], Any], peer: Callable[[], Any], repeat: int, peer_repeat: int
) -> tuple[float, float]:
    """Best-of times, the two sides interleaved so both meet the same machine state (here a
    fresh 80 MB output sometimes waits ~0.1-0.2 s for the kernel to compact huge pages)."""
    ours()  # warm-up: compilation or cache load, first page faults
    best_ours = best_peer = float("inf")
    for r in range(max(repeat, peer_repeat)):
        if r < repeat:
            best_ours = min(best_ours, timed(ours))
        if r < peer_repeat:
            best_peer = min(best_peer, timed(peer))
    return best_ours, best_peer


def cusum_python(x: np.ndarray, target: float, k: float, h: float) -> list[int]:
    """Plain tabular CUSUM (no re-centring): the loop anyone would write without numba."""
    alarms, hi, lo = [], 0.0, 0.0
    for i, v in enumerate(x.tolist()):
        hi = max(0.0, hi + v - target - k)
        lo = max(0.0, lo + target - k - v)
        if hi > h or lo > h:
            alarms.append(i)
            hi = lo = 0.0
    return alarms


def numpy_bootstrap(a: np.ndarray, b: np.ndarray, n_boot: int, seed: int) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    stats = np.empty(n_boot)
    for i in range(n_boot):
        ra, rb = rng.choice(a, a.size), rng.choice(b, b.size)
        ma = np.median(ra)
        stats[i] = (np.median(rb) - ma) / abs(ma)
    lo, hi = np.quantile(stats, [0.025, 0.975])
    return float(lo), float(hi)


def cases(n: int) -> list[tuple[str, str, int, Callable[[], Any], Callable[[], Any]]]:
    """(kernel, peer name, size, ours, peer) for every benchmarked kernel."""
    import pandas as pd
    from scipy import stats
    from sklearn.cluster import DBSCAN
    from statsmodels.tsa.ar_model import AutoReg
    from statsmodels.tsa.holtwinters import Holt

    import analytics as a

    rng = np.random.default_rng(0)
    x = rng.normal(100.0, 5.0, n)
    s = pd.Series(x)
    t = np.arange(n, dtype=np.float64)
    m = min(n, 1_000_000)
    xm, tm = x[:m], t[:m]
    walk = np.cumsum(rng.normal(0.01, 1.0, m)) + 1000.0
    blobs = np.concatenate([c + rng.normal(0, 0.3, (20_000, 2)) for c in rng.uniform(-20, 20, (10, 2))])
    base, cand = rng.lognormal(4.6, 0.1, m), rng.lognormal(4.65, 0.1, m)
    w = 100

    def holt_peer() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return (
                Holt(
                    walk,
                    initialization_method="known",
                    initial_level=walk[0],
                    initial_trend=walk[1] - walk[0],
                )
                .fit(smoothing_level=0.3, smoothing_trend=0.1, optimized=False)
                .forecast(10)
            )

    def regression_peer() -> Any:
        stats.mannwhitneyu(base, cand, alternative="two-sided", method="asymptotic")
        return numpy_bootstrap(base, cand, 100, 0)

    return [
        (
            "rolling_mean",
            "pandas rolling(100).mean()",
            n,
            lambda: a.rolling_mean(x, w),
            lambda: s.rolling(w).mean(),
        ),
        (
            "rolling_std",
            "pandas rolling(100).std()",
            n,
            lambda: a.rolling_std(x, w),
            lambda: s.rolling(w).std(),
        ),
        (
            "rolling_zscore",
            "pandas (s - rolling mean) / rolling std",
            n,
            lambda: a.rolling_zscore(x, w),
            lambda: (s - s.rolling(w).mean()) / s.rolling(w).std(),
        ),
        ("ewma", "pandas ewm(alpha=0.1).mean()", n, lambda: a.ewma(x, 0.1), lambda: s.ewm(alpha=0.1).mean()),
        (
            "ewm_std",
            "pandas ewm(alpha=0.1).std()",
            n,
            lambda: a.ewm_std(x, 0.1),
            lambda: s.ewm(alpha=0.1).std(),
        ),
        (
            "mad_zscore",
            "numpy median/MAD z-score",
            n,
            lambda: a.mad_zscore(x),
            lambda: 0.6745 * (x - np.median(x)) / np.median(np.abs(x - np.median(x))),
        ),
        (
            "rolling_median",
            "pandas rolling(100).median()",
            n,
            lambda: a.rolling_median(x, w),
            lambda: s.rolling(w).median(),
        ),
        (
            "cusum",
            "plain Python loop",
            m,
            lambda: a.cusum(xm, 100.0, 2.5, 25.0),
            lambda: cusum_python(xm, 100.0, 2.5, 25.0),
        ),
        (
            "linear_trend",
            "scipy.stats.linregress",
            n,
            lambda: a.linear_trend(t, x),
            lambda: stats.linregress(t, x),
        ),
        (
            "mann_kendall",
            "scipy.stats.kendalltau (same O(n log n) pair count)",
            m,
            lambda: a.mann_kendall(xm),
            lambda: stats.kendalltau(tm, xm),
        ),
        (
            "holt_forecast",
            "statsmodels Holt(optimized=False)",
            m,
            lambda: a.holt_forecast(walk, 0.3, 0.1, 10),
            holt_peer,
        ),
        (
            "ar_forecast",
            "statsmodels AutoReg(lags=3).fit().forecast",
            m,
            lambda: a.ar_forecast(walk, 3, 10),
            lambda: AutoReg(walk, lags=3, trend="c").fit().forecast(10),
        ),
        (
            "dbscan",
            "sklearn DBSCAN (kd-tree)",
            blobs.shape[0],
            lambda: a.dbscan(blobs, 0.1, 10),
            lambda: DBSCAN(eps=0.1, min_samples=10).fit(blobs),
        ),
        (
            "detect_regression",
            "scipy mannwhitneyu + numpy bootstrap (100)",
            m,
            lambda: a.detect_regression(base, cand, n_boot=100),
            regression_peer,
        ),
    ]


def forest_cases() -> list[tuple[str, str, int, Callable[[], Any], Callable[[], Any]]]:
    from sklearn.ensemble import IsolationForest

    import analytics as a

    rng = np.random.default_rng(1)
    fit_rows, score_rows = rng.normal(size=(100_000, 4)), rng.normal(size=(1_000_000, 4))
    ours = lambda: a.isolation_forest_scores(fit_rows, 100, 256, 0, score_X=score_rows)  # noqa: E731
    return [
        (
            "isolation_forest_scores",
            f"sklearn IsolationForest fit+score_samples, n_jobs={jobs}",
            score_rows.shape[0],
            ours,
            lambda jobs=jobs: (
                IsolationForest(n_estimators=100, max_samples=256, random_state=0, n_jobs=jobs)
                .fit(fit_rows)
                .score_samples(score_rows)
            ),
        )
        for jobs in (1, -1)
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--n", type=int, default=10_000_000, help="points for the series kernels")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", default=None, help="also write the results here")
    p.add_argument("--skip-compile", action="store_true", help="skip the cold-compile subprocesses")
    p.add_argument("--only", default=None, help="comma list of kernels to run (default: all)")
    args = p.parse_args(argv)
    import numba

    print(
        f"numba {numba.__version__}, {numba.get_num_threads()} threads, {os.cpu_count()} cpus; "
        f"NUMBA_CACHE_DIR={os.environ.get('NUMBA_CACHE_DIR', '(default)')}"
    )
    only = set(args.only.split(",")) if args.only else None
    chosen = [c for c in cases(args.n) if only is None or c[0] in only]
    if only is None or "isolation_forest_scores" in only:
        chosen += forest_cases()
    names = list(dict.fromkeys(c[0] for c in chosen))
    cold, cached, imports = ({}, {}, {}) if args.skip_compile else compile_times(names)
    if imports:
        lazy, numba_import = imports["analytics"], imports["numba"]
        print(f"import analytics (lazy, no numba): {lazy:.3f} s; import numba: {numba_import:.2f} s")
        print("compile = first call in a fresh process with an empty cache; cached = again with that cache")
    columns = f"{'mesh s':>9} {'peer s':>9} {'ratio':>7}  {'cold/cached compile s':>21}"
    header = f"{'kernel':24} {'size':>10} {columns}  peer"
    print(header)
    print("-" * len(header))
    results = []
    for name, peer, size, ours, theirs in chosen:
        # Sub-second kernels get the best of --repeat; the slow peers run once.
        t_ours, t_peer = best_pair(ours, theirs, args.repeat, args.repeat if name in REPEATED else 1)
        ratio = t_peer / t_ours
        comp = f"{cold.get(name, float('nan')):.2f}/{cached.get(name, float('nan')):.2f}" if cold else "-"
        print(
            f"{name:24} {size:>10,} {t_ours:>9.4f} {t_peer:>9.4f} {ratio:>6.1f}x  {comp:>21}  {peer}",
            flush=True,
        )
        results.append(
            {
                "kernel": name,
                "size": size,
                "mesh_s": t_ours,
                "peer": peer,
                "peer_s": t_peer,
                "ratio": ratio,
                "cold_compile_s": cold.get(name),
                "cached_load_s": cached.get(name),
            }
        )
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "imports": imports}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
