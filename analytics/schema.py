"""The DuckDB schema of the result store: one column table per result kind, declared once
here as data, with the DDL generated from it. docs/RESULTS_SCHEMA.md documents every column.

Owned by analytics; the node writes these tables through `analytics.store.ResultStore`.
Imports nothing heavier than the standard library (no duckdb, no numba).
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    sql_type: str  # a DuckDB type: VARCHAR, INTEGER, DOUBLE, TIMESTAMP, JSON, VARCHAR[]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    primary_key: str | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def ddl(self) -> str:
        cols = [
            f"{c.name} {c.sql_type}" + (" PRIMARY KEY" if c.name == self.primary_key else "")
            for c in self.columns
        ]
        return f"CREATE TABLE IF NOT EXISTS {self.name} (\n    " + ",\n    ".join(cols) + "\n)"


def _cols(spec: str) -> tuple[Column, ...]:
    """'name TYPE, name TYPE' -> columns (types hold no commas here)."""
    out = []
    for part in spec.split(","):
        name, sql_type = part.split(None, 1)
        out.append(Column(name.strip(), sql_type.strip()))
    return tuple(out)


TASKS = Table(
    "tasks",
    _cols(
        "task_id VARCHAR, name VARCHAR, type VARCHAR, priority INTEGER, status VARCHAR, "
        "submitted_at TIMESTAMP, finished_at TIMESTAMP, spec JSON"
    ),
    primary_key="task_id",
)
ATTEMPTS = Table(
    "attempts",
    _cols(
        "attempt_id VARCHAR, task_id VARCHAR, worker_id VARCHAR, started_at TIMESTAMP, "
        "finished_at TIMESTAMP, outcome VARCHAR, exit_code INTEGER, error VARCHAR, result JSON"
    ),
    primary_key="attempt_id",
)
TEST_OUTCOMES = Table(
    "test_outcomes",
    _cols(
        "task_id VARCHAR, attempt_id VARCHAR, worker_id VARCHAR, nodeid VARCHAR, outcome VARCHAR, "
        "duration_s DOUBLE, recorded_at TIMESTAMP"
    ),
)
BENCHMARK_MEASUREMENTS = Table(
    "benchmark_measurements",
    _cols(
        "task_id VARCHAR, attempt_id VARCHAR, worker_id VARCHAR, benchmark VARCHAR, model VARCHAR, "
        "precision VARCHAR, hardware VARCHAR, batch_size INTEGER, iterations INTEGER, "
        "latency_mean_ms DOUBLE, latency_std_ms DOUBLE, latency_p50_ms DOUBLE, latency_p90_ms DOUBLE, "
        "latency_p99_ms DOUBLE, throughput_per_s DOUBLE, peak_memory_mb DOUBLE, recorded_at TIMESTAMP"
    ),
)
METRICS = Table(
    "metrics",
    _cols(
        "ts TIMESTAMP, task_id VARCHAR, worker_id VARCHAR, task_type VARCHAR, model VARCHAR, "
        "hardware VARCHAR, batch_size INTEGER, metric VARCHAR, value DOUBLE"
    ),
)
WORKERS = Table(
    "workers",
    _cols(
        "worker_id VARCHAR, hostname VARCHAR, hardware VARCHAR[], device_type VARCHAR, "
        "capabilities JSON, first_seen TIMESTAMP, last_seen TIMESTAMP"
    ),
    primary_key="worker_id",
)
SCHEMA_META = Table("schema_meta", _cols("key VARCHAR, value VARCHAR"), primary_key="key")

TABLES: tuple[Table, ...] = (
    TASKS,
    ATTEMPTS,
    TEST_OUTCOMES,
    BENCHMARK_MEASUREMENTS,
    METRICS,
    WORKERS,
    SCHEMA_META,
)
TABLES_BY_NAME: dict[str, Table] = {t.name: t for t in TABLES}

# Dimensions a metric series can be grouped by: API name -> metrics column.
GROUP_COLUMNS: dict[str, str] = {
    "task_type": "task_type",
    "model": "model",
    "hardware": "hardware",
    "worker": "worker_id",
    "batch_size": "batch_size",
}


def ddl_statements() -> list[str]:
    """Every CREATE statement, idempotent (IF NOT EXISTS). No secondary indexes: DuckDB's
    per-row-group min/max zone maps already prune time-range scans of the append-ordered
    tables, while ART indexes would slow every bulk load and have to fit in memory."""
    return [t.ddl() for t in TABLES]
