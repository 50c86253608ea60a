"""Analyses over stored metric series: trends with significance, anomalies by a chosen
algorithm, forecasts with intervals (and when they cross a limit), regressions between two
time windows or two sets of runs, and per-worker health against peers.

Every function takes a ResultStore and returns plain, JSON-ready values (lists of dicts of
str / int / float / None, timestamps as ISO strings). Importing this module imports the
kernels, hence numba; the CLI imports it only when it has work to do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from analytics import api
from analytics.api import GroupBy, MetricSeries, TimeLike
from analytics.kernels.anomaly import cusum, mad_zscore, threshold_anomalies
from analytics.kernels.dbscan import dbscan
from analytics.kernels.forecast import ar_forecast, holt_forecast
from analytics.kernels.iforest import isolation_forest_scores
from analytics.kernels.regression import detect_regression
from analytics.kernels.rolling import rolling_zscore
from analytics.kernels.trend import linear_trend, mann_kendall

ALGORITHMS = ("zscore", "mad", "isolation_forest", "threshold", "cusum", "dbscan")
_DAY_US = 86_400e6


def iso(ts: np.datetime64) -> str | None:
    return None if np.isnat(ts) else str(np.asarray(ts).astype("datetime64[us]"))


def num(v: Any) -> float | None:
    """float, or None for NaN/inf (strict JSON has neither)."""
    f = float(v)
    return f if math.isfinite(f) else None


def higher_is_better(metric: str) -> bool:
    """Throughput-like metrics improve upward; latencies, durations, memory downward."""
    return any(w in metric for w in ("throughput", "per_s", "qps", "accuracy", "score"))


def _days(ts: np.ndarray) -> np.ndarray:
    return (ts - ts[0]).astype(np.float64) / _DAY_US if ts.size else np.empty(0)


def _robust_sigma(values: np.ndarray) -> float:
    """sigma from the MAD of first differences / sqrt(2): blind to level shifts."""
    v = values[~np.isnan(values)]
    if v.size < 3:
        return math.nan
    d = np.diff(v)
    return float(np.median(np.abs(d - np.median(d))) / 0.6745 / math.sqrt(2.0))


def trend_of(s: MetricSeries, alpha: float = 0.05) -> dict[str, Any]:
    """Least-squares slope per day (with r^2 and p-value) and the Mann-Kendall test of one
    series; `direction` is "increasing"/"decreasing" when both tests reject "no trend" at
    `alpha`, else "none"; `worse` says whether that direction is bad for the metric."""
    lt = linear_trend(_days(s.ts), s.values)
    mk = mann_kendall(s.values)
    significant = bool(lt.p_value < alpha and mk.p_value < alpha)
    direction = ("increasing" if lt.slope > 0 else "decreasing") if significant else "none"
    return {
        "metric": s.metric,
        "key": s.key,
        "n": len(s),
        "first_ts": iso(s.ts[0]),
        "last_ts": iso(s.ts[-1]),
        "slope_per_day": num(lt.slope),
        "intercept": num(lt.intercept),
        "r2": num(lt.r2),
        "p_value": num(lt.p_value),
        "mk_s": int(mk.s),
        "mk_z": num(mk.z),
        "mk_p_value": num(mk.p_value),
        "direction": direction,
        "significant": significant,
        "worse": significant and ((lt.slope < 0) == higher_is_better(s.metric)),
    }


def trends(
    store: api.ResultStore,
    metric: str,
    group_by: GroupBy = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    alpha: float = 0.05,
) -> list[dict[str, Any]]:
    """trend_of for every series of the metric."""
    return [trend_of(s, alpha) for s in api.metric_series(store, metric, group_by, filters, start, end)]


def detect(
    values: np.ndarray,
    algorithm: str,
    window: int | None = None,
    threshold: float | None = None,
    lower: float | None = None,
    upper: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """(flagged indices, score per sample) of one series by one algorithm (see ALGORITHMS).

    zscore / mad: trailing window of `window` (default 50; at least 10 values of history),
    flagged where |score| > threshold (default 3.0 / 3.5). isolation_forest: score >
    threshold (default 0.65). threshold: outside [lower, upper]. cusum: change onsets, target
    the median of the first `window` (default 20) values, k = 1 and h = threshold (default
    5) robust sigmas (sigma from the MAD of first differences); score = distance from the
    series median in sigmas. dbscan: noise rows in value space, eps = threshold or 1 robust
    sigma, min_samples 5; score 1 for noise, 0 otherwise."""
    v = np.asarray(values, dtype=np.float64)
    if algorithm in ("zscore", "mad"):
        w = window or 50
        if algorithm == "zscore":
            score = rolling_zscore(v, w, min_periods=min(10, w), exclude_current=True)
        else:
            score = mad_zscore(v, w, min_periods=min(10, w))
        limit = threshold or (3.0 if algorithm == "zscore" else 3.5)
        idx = np.flatnonzero(np.abs(np.nan_to_num(score)) > limit)
    elif algorithm == "isolation_forest":
        score = isolation_forest_scores(v, n_trees=100, sample_size=256, seed=seed)
        idx = np.flatnonzero(np.nan_to_num(score) > (threshold or 0.65))
    elif algorithm == "threshold":
        idx = threshold_anomalies(v, lower, upper)
        score = v.copy()
    elif algorithm == "cusum":
        sigma = _robust_sigma(v)
        med = float(np.nanmedian(v)) if np.isfinite(v).any() else math.nan
        if not (sigma > 0 and math.isfinite(med)):
            return np.empty(0, dtype=np.int64), np.full(v.size, np.nan)
        first = v[~np.isnan(v)][: window or 20]
        idx = cusum(v, float(np.median(first)), sigma, (threshold or 5.0) * sigma)
        score = (v - med) / sigma
    elif algorithm == "dbscan":
        sigma = _robust_sigma(v)
        eps = threshold or (sigma if sigma > 0 else 1.0)
        labels = dbscan(v, eps, 5).labels
        finite = ~np.isnan(v)
        idx = np.flatnonzero((labels == -1) & finite)
        score = np.where(finite, (labels == -1).astype(np.float64), np.nan)
    else:
        raise ValueError(f"unknown algorithm {algorithm!r}; choose from {ALGORITHMS}")
    return np.asarray(idx, dtype=np.int64), score


def anomalies(
    store: api.ResultStore,
    metric: str,
    algorithm: str = "zscore",
    group_by: GroupBy = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """Flagged samples of every series, by `algorithm` (params as `detect`)."""
    out = []
    for s in api.metric_series(store, metric, group_by, filters, start, end):
        idx, score = detect(s.values, algorithm, **params)
        for i in idx:
            out.append(
                {
                    "metric": metric,
                    "key": s.key,
                    "algorithm": algorithm,
                    "index": int(i),
                    "ts": iso(s.ts[i]),
                    "value": num(s.values[i]),
                    "score": num(score[i]),
                    "task_id": s.task_ids[i],
                }
            )
    return out


def _step(ts: np.ndarray) -> np.timedelta64:
    """Median spacing of a series (the forecast step)."""
    return (
        np.timedelta64(int(np.median(np.diff(ts).astype(np.int64))), "us")
        if ts.size > 1
        else np.timedelta64(0, "us")
    )


def forecast_series(
    s: MetricSeries,
    method: str = "holt",
    horizon: int = 10,
    confidence: float = 0.95,
    alpha: float = 0.3,
    beta: float = 0.1,
    p: int = 2,
    limit: float | None = None,
) -> dict[str, Any]:
    """One series' forecast: holt (alpha, beta) or ar (p); `limit` adds when the point
    forecast first crosses it (None if it does not within the horizon)."""
    if method == "holt":
        fc = holt_forecast(s.values, alpha, beta, horizon, confidence)
    elif method == "ar":
        fc = ar_forecast(s.values, p, horizon, confidence)
    else:
        raise ValueError("method must be 'holt' or 'ar'")
    step = _step(s.ts)
    times = s.ts[-1] + step * np.arange(1, horizon + 1) if len(s) else np.empty(0, dtype="datetime64[us]")
    crossing = None
    if limit is not None and len(s):
        last = s.values[~np.isnan(s.values)][-1] if np.isfinite(s.values).any() else math.nan
        up = limit >= last
        hit = np.flatnonzero(fc.mean >= limit) if up else np.flatnonzero(fc.mean <= limit)
        crossing = iso(times[hit[0]]) if hit.size else None
    return {
        "metric": s.metric,
        "key": s.key,
        "method": method,
        "n": len(s),
        "last_ts": iso(s.ts[-1]) if len(s) else None,
        "ts": [iso(t) for t in times],
        "mean": [num(x) for x in fc.mean],
        "lower": [num(x) for x in fc.lower],
        "upper": [num(x) for x in fc.upper],
        "sigma2": num(fc.sigma2),
        "limit": limit,
        "crosses_limit_at": crossing,
    }


def forecasts(
    store: api.ResultStore,
    metric: str,
    group_by: GroupBy = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    **params: Any,
) -> list[dict[str, Any]]:
    """forecast_series for every series of the metric."""
    return [
        forecast_series(s, **params) for s in api.metric_series(store, metric, group_by, filters, start, end)
    ]


def _verdict(
    metric: str, change: float, lo: float, hi: float, p: float, alpha: float, min_change: float
) -> str:
    if not (p < alpha and math.isfinite(lo) and (lo > 0 or hi < 0) and abs(change) >= min_change):
        return "no change"
    return "improvement" if (change > 0) == higher_is_better(metric) else "regression"


def regressions(
    store: api.ResultStore,
    metric: str,
    group_by: GroupBy = None,
    filters: Mapping[str, Any] | None = None,
    baseline: tuple[TimeLike, TimeLike] | None = None,
    candidate: tuple[TimeLike, TimeLike] | None = None,
    baseline_tasks: Sequence[str] | None = None,
    candidate_tasks: Sequence[str] | None = None,
    alpha: float = 0.05,
    min_change: float = 0.02,
    **params: Any,
) -> list[dict[str, Any]]:
    """Compare two time windows ([start, end) pairs) or two sets of task ids, per group:
    relative change of the median with bootstrap CI and Mann-Whitney p-value; `verdict` is
    "regression"/"improvement" when p < alpha, the CI excludes 0 and |change| >= min_change
    (direction from `higher_is_better`), else "no change"."""
    if (baseline is None) == (baseline_tasks is None) or (candidate is None) == (candidate_tasks is None):
        raise ValueError("give a baseline and a candidate: either time windows or task ids")

    def side(
        window: tuple[TimeLike, TimeLike] | None, tasks: Sequence[str] | None
    ) -> dict[str, MetricSeries]:
        f = dict(filters or {})
        if tasks is not None:
            f["task_id"] = list(tasks)
        lo, hi = window if window is not None else (None, None)
        return {s.label: s for s in api.metric_series(store, metric, group_by, f, lo, hi)}

    base, cand = side(baseline, baseline_tasks), side(candidate, candidate_tasks)
    out = []
    for label in sorted(set(base) & set(cand)):
        r = detect_regression(base[label].values, cand[label].values, **params)
        out.append(
            {
                "metric": metric,
                "key": base[label].key,
                "n_baseline": r.n_baseline,
                "n_candidate": r.n_candidate,
                "baseline_median": num(np.nanmedian(base[label].values)),
                "candidate_median": num(np.nanmedian(cand[label].values)),
                "relative_change": num(r.relative_change),
                "ci_low": num(r.ci_low),
                "ci_high": num(r.ci_high),
                "u_statistic": num(r.u_statistic),
                "p_value": num(r.p_value),
                "verdict": _verdict(
                    metric, r.relative_change, r.ci_low, r.ci_high, r.p_value, alpha, min_change
                ),
            }
        )
    return out


def worker_health(
    store: api.ResultStore,
    metric: str = "latency_mean_ms",
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
    alpha: float = 0.01,
    min_change: float = 0.1,
) -> list[dict[str, Any]]:
    """Is a worker sick? Each sample is divided by the median of the other workers' samples
    of the same (task_type, model, hardware, batch_size) in the window; a worker's ratios
    are then tested against everyone else's. `verdict` "sick" when its median ratio is worse by at
    least min_change with p < alpha (and the CI agrees), "healthy" otherwise."""
    groups = ["task_type", "model", "hardware", "batch_size"]
    series = api.metric_series(store, metric, [*groups, "worker"], filters, start, end)
    ratios: dict[str, list[np.ndarray]] = {s.key["worker"]: [] for s in series}
    by_config: dict[tuple[Any, ...], list[MetricSeries]] = {}
    for s in series:
        by_config.setdefault(tuple(s.key[g] for g in groups), []).append(s)
    for members in by_config.values():
        for m in members:
            # Leave-one-out: a sick worker must not drag its own reference along.
            peers = [o.values for o in members if o is not m]
            pooled = np.concatenate(peers) if peers else np.empty(0)
            ref = float(np.nanmedian(pooled)) if np.isfinite(pooled).any() else math.nan
            if ref and math.isfinite(ref):
                ratios[m.key["worker"]].append(m.values / ref)
    out = []
    for worker in sorted(ratios):
        mine = np.concatenate(ratios[worker]) if ratios[worker] else np.empty(0)
        others = [np.concatenate(v) for w, v in ratios.items() if w != worker and v]
        rest = np.concatenate(others) if others else np.empty(0)
        r = detect_regression(rest, mine, n_boot=500)
        verdict = _verdict(metric, r.relative_change, r.ci_low, r.ci_high, r.p_value, alpha, min_change)
        out.append(
            {
                "worker": worker,
                "metric": metric,
                "n": int(mine.size),
                "relative_to_peers": num(r.relative_change),
                "ci_low": num(r.ci_low),
                "ci_high": num(r.ci_high),
                "p_value": num(r.p_value),
                "verdict": "sick" if verdict == "regression" else "healthy",
            }
        )
    return out
