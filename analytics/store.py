"""ResultStore: the DuckDB file that holds every task, attempt, test outcome, benchmark
measurement, metric sample and worker, and the readers the analytics API builds on.

Writes are bulk: a batch becomes one numpy column per table column, registered with
DuckDB as a view and inserted with one INSERT ... SELECT (never executemany row by row).
Replays are safe: tasks, attempts and workers are upserts on their primary keys (a NULL
never overwrites a stored value), and test outcomes and benchmark measurements of an
attempt already stored are skipped.

This module is on the node's start path: it must not import numba (nor the kernels).
DuckDB lets one process hold a file for writing; other processes cannot open it meanwhile,
even read-only, so readers go through the process that owns the store.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import orjson

from analytics.schema import (
    ATTEMPTS,
    BENCHMARK_MEASUREMENTS,
    METRICS,
    SCHEMA_META,
    SCHEMA_VERSION,
    TASKS,
    TEST_OUTCOMES,
    WORKERS,
    Table,
    ddl_statements,
)

Rows = Sequence[Mapping[str, Any]]
_view_ids = itertools.count()
_DATA_TABLES: dict[str, Table] = {
    t.name: t for t in (TASKS, ATTEMPTS, TEST_OUTCOMES, BENCHMARK_MEASUREMENTS, METRICS, WORKERS)
}


def _data_table(name: str) -> Table:
    table = _DATA_TABLES.get(name)
    if table is None:
        raise ValueError(f"unknown table {name!r}")
    return table


def _timestamp(value: Any) -> np.datetime64:
    """datetime / date / numpy datetime64 / ISO string / epoch seconds -> datetime64[us].
    Aware datetimes are converted to UTC; naive ones are taken as UTC already."""
    if value is None:
        return np.datetime64("NaT", "us")
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC).replace(tzinfo=None)
        return np.datetime64(value, "us")
    if isinstance(value, dt.date):
        return np.datetime64(value, "us")
    if isinstance(value, np.datetime64):
        return value.astype("datetime64[us]")
    if isinstance(value, int | float | np.integer | np.floating):
        if value != value:
            return np.datetime64("NaT", "us")
        return np.datetime64(round(float(value) * 1e6), "us")
    if isinstance(value, str):
        parsed = dt.datetime.fromisoformat(value)
        return _timestamp(parsed)
    raise TypeError(f"cannot read {value!r} as a timestamp")


def _epoch_seconds(values: Sequence[Any] | np.ndarray) -> np.ndarray | None:
    """`values` as float64 epoch seconds (None -> NaN), or None if any is not a plain number."""
    if not all(v is None or type(v) is float or type(v) is int for v in values):
        return None
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def json_text(value: Any) -> str:
    """`value` as JSON text for a JSON column (orjson; json for what orjson refuses, such as
    non-string keys or integers past 64 bits). Anything else JSON lacks is written as str()."""
    try:
        return orjson.dumps(value, default=str).decode()
    except TypeError:
        return json.dumps(value, default=str)


def _column(values: Sequence[Any] | np.ndarray, sql_type: str) -> np.ndarray:
    """One table column as the numpy array DuckDB scans fastest."""
    if sql_type == "TIMESTAMP":
        if isinstance(values, np.ndarray) and values.dtype.kind == "M":
            return values.astype("datetime64[us]")
        epochs = _epoch_seconds(values)
        if epochs is not None:  # the common case: all epoch seconds (or None), converted at once
            missing = np.isnan(epochs)
            micros = np.rint(np.where(missing, 0.0, epochs) * 1e6).astype(np.int64).astype("datetime64[us]")
            micros[missing] = np.datetime64("NaT")
            return micros
        return np.array([_timestamp(v) for v in values], dtype="datetime64[us]")
    if sql_type == "DOUBLE":
        # None -> NaN; DuckDB stores a NaN read from numpy as NULL.
        return np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    out = np.empty(len(values), dtype=object)
    if sql_type == "JSON":
        out[:] = [v if v is None or isinstance(v, str) else json_text(v) for v in values]
    elif sql_type == "INTEGER":
        out[:] = [None if v is None or v != v else int(v) for v in values]
    elif sql_type.endswith("[]"):
        out[:] = [None if v is None else [str(x) for x in v] for v in values]
    else:
        out[:] = [None if v is None else str(v) for v in values]
    return out


def _unmask(arr: np.ndarray) -> np.ndarray:
    """fetchnumpy gives masked arrays where NULLs occur: NULL -> NaN / NaT / None."""
    if not isinstance(arr, np.ma.MaskedArray):
        return np.asarray(arr)
    kind = arr.dtype.kind
    if kind == "f":
        return arr.filled(np.nan)
    if kind in "iub":
        return np.ma.filled(arr.astype(np.float64), np.nan)
    if kind == "M":
        return arr.filled(np.datetime64("NaT"))
    data = np.asarray(arr.data, dtype=object).copy()
    data[np.ma.getmaskarray(arr)] = None
    return data


class ResultStore:
    """A DuckDB result store at `path` (":memory:" for a throw-away one), created with the
    schema of analytics.schema when missing. Use as a context manager or call close()."""

    def __init__(self, path: str | Path = ":memory:", read_only: bool = False) -> None:
        self.path = str(path)
        if self.path != ":memory:" and not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._con = duckdb.connect(self.path, read_only=read_only)
        if not read_only:
            self.ensure_schema()

    # -- lifecycle ----------------------------------------------------------------------
    def ensure_schema(self) -> None:
        for statement in ddl_statements():
            self._con.execute(statement)
        self._con.execute(
            f"INSERT INTO {SCHEMA_META.name} VALUES ('schema_version', ?) ON CONFLICT (key) DO NOTHING",
            [str(SCHEMA_VERSION)],
        )

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        return self._con

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> ResultStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing ------------------------------------------------------------------------
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything written inside lands together or not at all (rolled back on error)."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield
            self._con.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(duckdb.Error):  # the error that matters is the one raised
                self._con.execute("ROLLBACK")
            raise

    def writable(self) -> bool:
        """Whether a small committed write succeeds now (False on a full disk, a broken file):
        tells rows DuckDB refuses from a store that refuses everything."""
        try:
            with self.transaction():
                self._con.execute(
                    f"INSERT INTO {SCHEMA_META.name} VALUES ('last_write_check', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    [dt.datetime.now(dt.UTC).isoformat()])
        except duckdb.Error:
            return False
        return True

    def finished_attempts(self, attempt_ids: Iterable[str]) -> set[str]:
        """Which of these attempts are stored with their finish (and so with every row derived
        from it, when the writer stores them in one transaction)."""
        ids = list(attempt_ids)
        if not ids:
            return set()
        rows = self._con.execute(
            f"SELECT attempt_id FROM {ATTEMPTS.name} WHERE finished_at IS NOT NULL "
            "AND attempt_id IN (SELECT unnest(?))", [ids]).fetchall()
        return {r[0] for r in rows}

    def _load(self, table: Table, columns: Mapping[str, np.ndarray], tail: str = "", where: str = "") -> int:
        """INSERT INTO table SELECT casted columns FROM a registered numpy view."""
        n = len(next(iter(columns.values()))) if columns else 0
        if n == 0:
            return 0
        view = f"_mesh_batch_{next(_view_ids)}"
        names = [c.name for c in table.columns if c.name in columns]
        select = ", ".join(f"CAST({c.name} AS {c.sql_type})" for c in table.columns if c.name in columns)
        self._con.register(view, {name: columns[name] for name in names})
        try:
            self._con.execute(
                f"INSERT INTO {table.name} ({', '.join(names)}) SELECT {select} FROM {view} {where} {tail}"
            )
        finally:
            # In a failed transaction this raises too; the insert's own error is the one to see.
            with contextlib.suppress(duckdb.Error):
                self._con.unregister(view)
        return n

    def _rows_to_columns(self, table: Table, rows: Rows) -> dict[str, np.ndarray]:
        unknown = {k for r in rows for k in r} - set(table.column_names)
        if unknown:
            raise ValueError(f"{table.name} has no column(s) {sorted(unknown)}")
        return {c.name: _column([r.get(c.name) for r in rows], c.sql_type) for c in table.columns}

    def _upsert(self, table: Table, rows: Rows, update: Mapping[str, str] | None = None) -> int:
        key = table.primary_key
        assert key is not None
        # One statement may not touch a key twice: the last row for a key wins.
        latest = {r[key]: r for r in rows}
        cols = self._rows_to_columns(table, list(latest.values()))
        sets = update or {
            c: f"COALESCE(excluded.{c}, {table.name}.{c})" for c in table.column_names if c != key
        }
        tail = f"ON CONFLICT ({key}) DO UPDATE SET " + ", ".join(f"{c} = {e}" for c, e in sets.items())
        return self._load(table, cols, tail=tail)

    def _append_once_per_attempt(self, table: Table, rows: Rows) -> int:
        cols = self._rows_to_columns(table, rows)
        stored = f"SELECT attempt_id FROM {table.name} WHERE attempt_id IS NOT NULL"
        where = f"WHERE attempt_id IS NULL OR attempt_id NOT IN ({stored})"
        before = self.count(table.name)
        self._load(table, cols, where=where)
        return self.count(table.name) - before

    def insert_tasks(self, rows: Rows) -> int:
        """Upsert tasks by task_id: given values replace stored ones, a missing or None value
        keeps what is stored (so {"task_id", "status"} updates just the status)."""
        return self._upsert(TASKS, rows)

    def insert_attempts(self, rows: Rows) -> int:
        """Upsert attempts by attempt_id like insert_tasks (replaying a result is harmless)."""
        return self._upsert(ATTEMPTS, rows)

    def insert_test_outcomes(self, rows: Rows) -> int:
        """Append test outcomes; attempts already present are skipped. Returns rows added."""
        return self._append_once_per_attempt(TEST_OUTCOMES, rows)

    def insert_benchmark_measurements(self, rows: Rows) -> int:
        """Append benchmark measurements; attempts already present are skipped."""
        return self._append_once_per_attempt(BENCHMARK_MEASUREMENTS, rows)

    def insert_metrics(self, rows: Rows) -> int:
        """Append long-format metric samples (ts, metric, value and their dimensions)."""
        return self._load(METRICS, self._rows_to_columns(METRICS, rows))

    def insert_metrics_columns(self, **columns: Any) -> int:
        """Append metric samples given column-wise: numpy arrays (or sequences) of one
        length, or scalars repeated for every row. The fast path for large batches."""
        lengths = {len(v) for v in columns.values() if isinstance(v, np.ndarray | list | tuple)}
        if len(lengths) > 1:
            raise ValueError(f"columns differ in length: {sorted(lengths)}")
        n = lengths.pop() if lengths else 1
        unknown = set(columns) - set(METRICS.column_names)
        if unknown:
            raise ValueError(f"metrics has no column(s) {sorted(unknown)}")
        cols: dict[str, np.ndarray] = {}
        for c in METRICS.columns:
            v = columns.get(c.name)
            if not isinstance(v, np.ndarray | list | tuple):
                # A scalar: convert once, then repeat it.
                v = np.repeat(_column([v], c.sql_type), n)
            if c.sql_type == "DOUBLE" and isinstance(v, np.ndarray) and v.dtype.kind in "fiu":
                cols[c.name] = v.astype(np.float64, copy=False)
            elif c.sql_type == "VARCHAR" and isinstance(v, np.ndarray) and v.dtype.kind in "UO":
                cols[c.name] = v.astype(object, copy=False)  # str or None, as given
            elif c.sql_type == "INTEGER" and isinstance(v, np.ndarray) and v.dtype.kind in "iu":
                cols[c.name] = v.astype(np.int64, copy=False)
            else:
                cols[c.name] = _column(v, c.sql_type)
        return self._load(METRICS, cols)

    def upsert_workers(self, rows: Rows) -> int:
        """Insert or update workers: first_seen keeps the earliest, last_seen the latest, and
        other columns take the new value unless it is NULL."""
        t = WORKERS.name
        update = {
            c: f"COALESCE(excluded.{c}, {t}.{c})"
            for c in WORKERS.column_names
            if c not in ("worker_id", "first_seen", "last_seen")
        }
        for col, pick in (("first_seen", "LEAST"), ("last_seen", "GREATEST")):
            old, new = f"{t}.{col}", f"excluded.{col}"
            update[col] = f"{pick}(COALESCE({old}, {new}), COALESCE({new}, {old}))"
        # Rows for one worker inside the batch merge by the same rules first.
        merged: dict[Any, dict[str, Any]] = {}
        for row in rows:
            cur = merged.setdefault(row["worker_id"], {})
            for k, v in row.items():
                if v is None:
                    continue
                if k in ("first_seen", "last_seen") and cur.get(k) is not None:
                    a, b = _timestamp(cur[k]), _timestamp(v)
                    v = min(a, b) if k == "first_seen" else max(a, b)
                cur[k] = v
        return self._upsert(WORKERS, list(merged.values()), update)

    # -- reading ------------------------------------------------------------------------
    def query(self, sql: str, params: Sequence[Any] | None = None) -> dict[str, np.ndarray]:
        """Run a query and return its columns as numpy arrays (NULL -> NaN / NaT / None)."""
        result = self._con.execute(sql, list(params) if params else [])
        return {name: _unmask(col) for name, col in result.fetchnumpy().items()}

    def count(self, table: str) -> int:
        # fetchall: a DuckDB 2 result left half-read would hold the connection.
        return int(self._con.execute(f"SELECT count(*) FROM {_data_table(table).name}").fetchall()[0][0])

    def metric_names(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT DISTINCT metric FROM metrics ORDER BY 1").fetchall()]

    def fetch_rows(self, table: str, order_by: str | None = None) -> list[dict[str, Any]]:
        """Every row of a table as dicts (JSON parsed), for inspection and tests."""
        spec = _data_table(table)
        if order_by is not None and order_by not in spec.column_names:
            raise ValueError(f"{table} has no column {order_by!r}")
        result = self._con.execute(
            f"SELECT * FROM {spec.name}" + (f" ORDER BY {order_by}" if order_by else "")
        )
        names = [d[0] for d in result.description]
        types = {c.name: c.sql_type for c in spec.columns}
        out = []
        for row in result.fetchall():
            item = dict(zip(names, row, strict=True))
            for k, v in item.items():
                if types.get(k) == "JSON" and isinstance(v, str):
                    item[k] = json.loads(v)
            out.append(item)
        return out
