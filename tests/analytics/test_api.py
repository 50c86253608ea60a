"""The analytics API against straightforward pandas/numpy on the same stored data, and
the insights against the events injected into the synthetic results."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analytics import api, insights, synthetic
from analytics.store import ResultStore

Fixture = tuple[ResultStore, synthetic.SyntheticResults]


def frame(data: synthetic.SyntheticResults) -> pd.DataFrame:
    df = pd.DataFrame({k: v for k, v in data.metrics.items()})
    df["worker"] = df["worker_id"]
    return df


def test_metric_series_split_by_groups_like_pandas(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    df = frame(data)
    lat = df[df.metric == "latency_mean_ms"]
    series = api.metric_series(store, "latency_mean_ms", "model,hardware,batch_size,worker")
    assert len(series) == lat.groupby(["model", "hardware", "batch_size", "worker"]).ngroups
    for s in series[:10]:
        sel = lat[
            (lat.model == s.key["model"])
            & (lat.hardware == s.key["hardware"])
            & (lat.batch_size == s.key["batch_size"])
            & (lat.worker == s.key["worker"])
        ].sort_values("ts", kind="stable")
        np.testing.assert_array_equal(s.ts, sel.ts.to_numpy().astype("datetime64[us]"))
        np.testing.assert_allclose(s.values, sel.value.to_numpy())
        assert list(s.task_ids) == list(sel.task_id)
    assert sum(len(s) for s in api.metric_series(store, "latency_mean_ms")) == len(lat)


def test_filters_and_time_bounds(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    df = frame(data)
    start, end = np.datetime64("2024-03-05T00:00:00"), np.datetime64("2024-03-09T00:00:00")
    series = api.metric_series(
        store,
        "throughput_per_s",
        "worker",
        {"model": ["resnet50", "llama-7b"], "batch_size": 8},
        start="2024-03-05T00:00:00",
        end=end,
    )
    sel = df[
        (df.metric == "throughput_per_s")
        & df.model.isin(["resnet50", "llama-7b"])
        & (df.batch_size == 8)
        & (df.ts >= start)
        & (df.ts < end)
    ]
    assert {s.key["worker"] for s in series} == set(sel.worker)
    assert sum(len(s) for s in series) == len(sel)
    null_model = api.metric_series(store, "test_duration_s", "model", {"model": None})
    assert len(null_model) == 1 and null_model[0].key == {"model": None}
    with pytest.raises(ValueError):
        api.metric_series(store, "x", "colour")
    with pytest.raises(ValueError):
        api.metric_series(store, "x", None, {"colour": 1})


@pytest.mark.parametrize(
    "level", ["model_hardware", "worker", "batch_size", "all", ["task_type", "hardware"]]
)
def test_aggregates_match_pandas(synthetic_store: Fixture, level: str | list[str]) -> None:
    store, data = synthetic_store
    df = frame(data)
    groups = api.parse_group_by(level)
    rows = api.get_aggregated_results(store, level, "latency_p99_ms")
    sel = df[df.metric == "latency_p99_ms"]
    expected = (sel.groupby(groups, dropna=False) if groups else sel.groupby(lambda _: 0))["value"]
    assert len(rows) == expected.ngroups
    for row in rows:
        mask = np.ones(len(sel), dtype=bool)
        for g in groups:
            mask &= (sel[g] == row[g]).to_numpy() if row[g] is not None else sel[g].isna().to_numpy()
        v = sel.value.to_numpy()[mask]
        assert row["count"] == v.size
        np.testing.assert_allclose(
            [row["mean"], row["std"], row["min"], row["max"]],
            [v.mean(), v.std(ddof=1), v.min(), v.max()],
            rtol=1e-9,
        )
        np.testing.assert_allclose(
            [row["p50"], row["p90"], row["p99"]], np.percentile(v, [50, 90, 99]), rtol=1e-9
        )


def test_aggregates_of_every_metric_carry_the_metric(synthetic_store: Fixture) -> None:
    store, _ = synthetic_store
    rows = api.get_aggregated_results(store, "hardware")
    assert {r["metric"] for r in rows} == set(store.metric_names())


def test_trend_flags_the_injected_regression(synthetic_store: Fixture) -> None:
    store, _ = synthetic_store
    found = insights.trends(
        store, "latency_mean_ms", "model,hardware,batch_size", {"worker": ["worker-00", "worker-03"]}
    )
    for t in found:
        regressed = t["key"]["model"] == "bert-base" and t["key"]["hardware"] == "a100"
        assert (t["direction"] == "increasing") == regressed, t
        assert t["worse"] == regressed


def test_regression_between_windows_names_the_regressed_group(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    at = next(e.start for e in data.events if e.kind == "regression")
    healthy = {"worker": [f"worker-{i:02d}" for i in range(5)]}
    result = insights.regressions(
        store,
        "latency_mean_ms",
        "model,hardware,batch_size",
        healthy,
        baseline=(None, at),
        candidate=(at, None),
    )
    for r in result:
        expected = (
            "regression"
            if (r["key"]["model"], r["key"]["hardware"]) == ("bert-base", "a100")
            else "no change"
        )
        assert r["verdict"] == expected, r
        if expected == "regression":
            assert 0.2 <= r["relative_change"] <= 0.3 and r["ci_low"] <= r["relative_change"] <= r["ci_high"]
    through = insights.regressions(
        store,
        "throughput_per_s",
        "model,hardware,batch_size",
        healthy,
        baseline=(None, at),
        candidate=(at, None),
    )
    assert {tuple(r["key"].values()) for r in through if r["verdict"] == "regression"} == {
        ("bert-base", "a100", b) for b in (1, 8, 32)
    }


def test_regression_between_two_sets_of_runs(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    rows = [
        r
        for r in data.benchmark_measurements
        if r["model"] == "resnet50" and r["hardware"] == "h100" and r["batch_size"] == 8
    ]
    a, b = [r["task_id"] for r in rows[:40]], [r["task_id"] for r in rows[40:80]]
    (r,) = insights.regressions(store, "latency_mean_ms", "model", baseline_tasks=a, candidate_tasks=b)
    assert r["n_baseline"] == 40 and r["n_candidate"] == 40 and r["verdict"] == "no change"
    with pytest.raises(ValueError):
        insights.regressions(store, "latency_mean_ms", baseline_tasks=a)


def test_worker_health_finds_the_sick_worker(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    sick = next(e for e in data.events if e.kind == "sick_worker")
    health = insights.worker_health(store, "latency_mean_ms", start=sick.start)
    assert {h["worker"] for h in health if h["verdict"] == "sick"} == {sick.worker_id}
    assert next(h for h in health if h["worker"] == sick.worker_id)["relative_to_peers"] == pytest.approx(
        0.4, abs=0.05
    )


@pytest.mark.parametrize("algorithm", ["zscore", "mad", "isolation_forest", "dbscan"])
def test_anomalies_include_the_injected_spikes(synthetic_store: Fixture, algorithm: str) -> None:
    store, data = synthetic_store
    spikes = {e.task_id for e in data.events if e.kind == "spike"}
    found = insights.anomalies(store, "latency_mean_ms", algorithm, "model,hardware,batch_size,worker")
    assert spikes <= {a["task_id"] for a in found}
    for a in found[:20]:
        assert a["algorithm"] == algorithm and a["ts"] is not None and a["value"] is not None


def test_threshold_and_cusum_anomalies(synthetic_store: Fixture) -> None:
    store, data = synthetic_store
    df = frame(data)
    over = insights.anomalies(store, "latency_mean_ms", "threshold", upper=5000.0)
    assert len(over) == int(((df.metric == "latency_mean_ms") & (df.value > 5000.0)).sum())
    sick = next(e for e in data.events if e.kind == "sick_worker")
    shifts = insights.anomalies(
        store,
        "latency_mean_ms",
        "cusum",
        "model,hardware,batch_size,worker",
        {"worker": sick.worker_id, "model": "resnet50"},
    )
    assert shifts and all(
        abs(np.datetime64(a["ts"]) - sick.start) <= np.timedelta64(24, "h") for a in shifts[:3]
    )
    with pytest.raises(ValueError):
        insights.anomalies(store, "latency_mean_ms", "astrology")


def test_forecast_reports_when_a_trend_crosses_a_limit() -> None:
    ts = np.datetime64("2024-01-01T00:00:00", "us") + np.arange(60) * np.timedelta64(1, "h")
    values = 100.0 + 2.0 * np.arange(60)
    s = api.MetricSeries("latency_ms", {}, ts, values, np.array([None] * 60, dtype=object))
    fc = insights.forecast_series(s, "holt", horizon=10, alpha=0.5, beta=0.5, limit=230.0)
    # y = 100 + 2 t reaches 230 at t = 65, the 6th step after t = 59.
    assert fc["crosses_limit_at"] == str(ts[-1] + 6 * np.timedelta64(1, "h"))
    assert fc["ts"][0] == str(ts[-1] + np.timedelta64(1, "h")) and fc["mean"][0] == pytest.approx(220.0)
    assert insights.forecast_series(s, "ar", horizon=3, p=1, limit=1e9)["crosses_limit_at"] is None
