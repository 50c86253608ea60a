"""Query side of the analytics API: metric time series split by any grouping, and
aggregated statistics per group, straight from the result store.

Pure DuckDB + numpy: nothing here imports numba, so listing series or aggregates costs no
compilation. The kernels-based analyses (trends, anomalies, forecasts, regressions) live
in `analytics.insights` and take the series this module returns.

Group names: task_type, model, hardware, worker, batch_size (see GROUP_COLUMNS). Filters
map a group name (or "task_id") to one value or a list of values. `start`/`end` bound
the sample timestamp (start inclusive, end exclusive) and take datetimes, ISO strings or
numpy datetime64 values; timestamps are naive UTC.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from analytics.schema import GROUP_COLUMNS
from analytics.store import ResultStore

TimeLike = dt.datetime | str | np.datetime64 | None
GroupBy = str | Sequence[str] | None

LEVELS: dict[str, tuple[str, ...]] = {
    "all": (),
    "task_type": ("task_type",),
    "model": ("model",),
    "hardware": ("hardware",),
    "worker": ("worker",),
    "batch_size": ("batch_size",),
    "model_hardware": ("model", "hardware"),
    "model_hardware_batch": ("model", "hardware", "batch_size"),
    "worker_model": ("worker", "model"),
}
_FILTER_COLUMNS = {**GROUP_COLUMNS, "task_id": "task_id", "metric": "metric"}


@dataclass(frozen=True)
class MetricSeries:
    """One metric's samples for one group, in time order."""

    metric: str
    key: dict[str, Any]  # group name -> value (empty when ungrouped)
    ts: np.ndarray  # datetime64[us]
    values: np.ndarray  # float64 (NaN for a NULL value)
    task_ids: np.ndarray  # object (str or None)

    def __len__(self) -> int:
        return int(self.values.size)

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.key.items()) or "all"


def parse_group_by(group_by: GroupBy) -> list[str]:
    """'model,hardware' / ['model', 'hardware'] / a LEVELS name -> validated group names."""
    if group_by is None:
        return []
    if isinstance(group_by, str):
        names = (
            list(LEVELS[group_by])
            if group_by in LEVELS
            else [g.strip() for g in group_by.split(",") if g.strip()]
        )
    else:
        names = list(group_by)
    unknown = [g for g in names if g not in GROUP_COLUMNS]
    if unknown:
        raise ValueError(f"unknown group(s) {unknown}; choose from {sorted(GROUP_COLUMNS)}")
    return names


def to_timestamp(value: TimeLike) -> np.datetime64 | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:
        value = value.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[us]")
    return np.datetime64(value, "us")


def where_clause(
    filters: Mapping[str, Any] | None, start: TimeLike, end: TimeLike, time_column: str = "ts"
) -> tuple[str, list[Any]]:
    """SQL WHERE body (with ? placeholders) and its parameters; '1=1' when unrestricted."""
    parts: list[str] = ["1=1"]
    params: list[Any] = []
    for name, value in (filters or {}).items():
        col = _FILTER_COLUMNS.get(name)
        if col is None:
            raise ValueError(f"unknown filter {name!r}; choose from {sorted(_FILTER_COLUMNS)}")
        values = list(value) if isinstance(value, list | tuple | set) else [value]
        if not values:
            parts.append("1=0")
            continue
        non_null = [v for v in values if v is not None]
        ors = []
        if non_null:
            ors.append(f"{col} IN ({', '.join('?' for _ in non_null)})")
            params.extend(non_null)
        if len(non_null) < len(values):
            ors.append(f"{col} IS NULL")
        parts.append("(" + " OR ".join(ors) + ")")
    for bound, op in ((start, ">="), (end, "<")):
        ts = to_timestamp(bound)
        if ts is not None:
            parts.append(f"{time_column} {op} ?")
            params.append(ts.astype(dt.datetime))
    return " AND ".join(parts), params


def jsonable(value: Any) -> Any:
    """Recursively: numpy scalars -> Python, NaN/inf -> None, tuples -> lists (strict JSON)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    value = _plain(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, np.datetime64 | dt.datetime):
        return str(value)
    return value


def _plain(value: Any) -> Any:
    """numpy scalars -> Python values (JSON- and msgpack-friendly)."""
    return value.item() if isinstance(value, np.generic) else value


def metric_series(
    store: ResultStore,
    metric: str,
    group_by: GroupBy = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> list[MetricSeries]:
    """The samples of `metric`, one series per distinct combination of the group
    columns (ordered by those values, NULLs last), each in time order."""
    groups = parse_group_by(group_by)
    cols = [GROUP_COLUMNS[g] for g in groups]
    where, params = where_clause({**(filters or {}), "metric": metric}, start, end)
    order = ", ".join(f"{c} NULLS LAST" for c in cols)
    gid = f"dense_rank() OVER (ORDER BY {order})" if cols else "1"
    select = ", ".join(["ts", "value", "task_id", *cols, f"{gid} AS gid"])
    # Samples sharing a timestamp keep insertion order (rowid): the series is reproducible.
    data = store.query(f"SELECT {select} FROM metrics WHERE {where} ORDER BY gid, ts, rowid", params)
    n = data["ts"].size
    if n == 0:
        return []
    bounds = [0, *(np.flatnonzero(np.diff(data["gid"])) + 1).tolist(), n]
    out = []
    for a, b in itertools.pairwise(bounds):
        key = {g: _key_value(data[c][a]) for g, c in zip(groups, cols, strict=True)}
        out.append(
            MetricSeries(
                metric, key, data["ts"][a:b], data["value"][a:b].astype(np.float64), data["task_id"][a:b]
            )
        )
    return out


def _isnull(v: Any) -> bool:
    return v is None or (isinstance(v, float) and v != v)


def _key_value(v: Any) -> Any:
    if _isnull(v):
        return None
    v = _plain(v)
    if isinstance(v, float) and v.is_integer():
        return int(v)  # batch_size comes back as float when the column holds NULLs
    return v


def get_aggregated_results(
    store: ResultStore,
    level: GroupBy = "model_hardware",
    metric: str | None = None,
    filters: Mapping[str, Any] | None = None,
    start: TimeLike = None,
    end: TimeLike = None,
) -> list[dict[str, Any]]:
    """count, mean, std (sample), min, max, p50, p90, p99 (linear interpolation, as
    numpy's default percentile) of the metric samples per group of `level` (a LEVELS
    name, a comma list or a sequence of group names). Without `metric`, every metric is
    aggregated separately (the rows then carry "metric"). NULL values are not counted."""
    groups = parse_group_by(level)
    cols = [GROUP_COLUMNS[g] for g in groups]
    f = dict(filters or {})
    if metric is not None:
        f["metric"] = metric
    where, params = where_clause(f, start, end)
    keys = ["metric", *cols]
    key_sql = ", ".join(keys)
    sql = (
        f"SELECT {key_sql}, count(value) AS count, avg(value) AS mean, stddev_samp(value) AS std, "
        "min(value) AS min, max(value) AS max, quantile_cont(value, 0.5) AS p50, "
        "quantile_cont(value, 0.9) AS p90, quantile_cont(value, 0.99) AS p99 "
        f"FROM metrics WHERE {where} GROUP BY {key_sql} "
        f"ORDER BY {', '.join(f'{k} NULLS LAST' for k in keys)}"
    )
    data = store.query(sql, params)
    rows = []
    for i in range(data["metric"].size):
        row: dict[str, Any] = {"metric": data["metric"][i]}
        for g, c in zip(groups, cols, strict=True):
            row[g] = _key_value(data[c][i])
        for stat in ("count", "mean", "std", "min", "max", "p50", "p90", "p99"):
            v = _plain(data[stat][i])
            row[stat] = int(v) if stat == "count" else (None if _isnull(v) else float(v))
        rows.append(row)
    return rows
