"""`mesh analyze` and `mesh report` as a user runs them: exit codes, --json output that
agrees with the API, and report files (HTML self-contained, with the plots)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest

from analytics import insights, synthetic
from analytics.cli import analyze_main, report_main
from analytics.store import ResultStore

Db = tuple[Path, synthetic.SyntheticResults]


def test_analyze_json_agrees_with_the_api(synthetic_db: Db) -> None:
    path, data = synthetic_db
    out = io.StringIO()
    rc = analyze_main(
        [
            "--db-path",
            str(path),
            "--metrics",
            "latency_mean_ms,throughput_per_s",
            "--algorithms",
            "zscore,mad,isolation_forest",
            "--group-by",
            "model,hardware,batch_size,worker",
            "--json",
        ],
        out=out,
    )
    assert rc == 0
    doc = json.loads(out.getvalue())
    assert [m["metric"] for m in doc["metrics"]] == ["latency_mean_ms", "throughput_per_s"]
    lat = doc["metrics"][0]
    assert set(lat["anomalies"]) == {"zscore", "mad", "isolation_forest"}
    spikes = {e.task_id for e in data.events if e.kind == "spike"}
    assert spikes <= {a["task_id"] for a in lat["anomalies"]["zscore"]}
    with ResultStore(path, read_only=True) as store:
        expected = insights.trends(store, "latency_mean_ms", "model,hardware,batch_size,worker")
        assert lat["trends"] == json.loads(json.dumps(expected))
        assert len(lat["anomalies"]["mad"]) == len(
            insights.anomalies(store, "latency_mean_ms", "mad", "model,hardware,batch_size,worker")
        )


def test_analyze_text_output_and_every_metric_by_default(synthetic_db: Db) -> None:
    path, _ = synthetic_db
    out = io.StringIO()
    assert analyze_main(["--db-path", str(path), "--group-by", "hardware"], out=out) == 0
    text = out.getvalue()
    for metric in ("latency_mean_ms", "peak_memory_mb", "test_duration_s", "throughput_per_s"):
        assert f"== {metric}" in text
    assert "anomalies by zscore" in text and "hardware=h100" in text


def test_usage_and_failure_exit_codes(
    synthetic_db: Db, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, _ = synthetic_db
    assert analyze_main([]) == 2
    assert analyze_main(["--db-path", str(path), "--algorithms", "tea-leaves"]) == 2
    assert analyze_main(["--db-path", str(path), "--group-by", "colour"]) == 1
    assert analyze_main(["--db-path", str(tmp_path / "missing.duckdb")]) == 1
    assert not (tmp_path / "missing.duckdb").exists()
    assert report_main(["--db-path", str(path), "--output", str(tmp_path / "r.html"), "--format", "pdf"]) == 2
    assert (
        report_main(["--db-path", str(path), "--output", str(tmp_path / "r.html"), "--algorithm", "nope"])
        == 2
    )
    assert analyze_main(["--help"]) == 0
    assert "no result store" in capsys.readouterr().err


def test_html_report_is_self_contained_and_holds_the_plots(synthetic_db: Db, tmp_path: Path) -> None:
    path, _ = synthetic_db
    target = tmp_path / "out" / "report.html"
    assert (
        report_main(
            [
                "--db-path",
                str(path),
                "--format",
                "html",
                "--output",
                str(target),
                "--metrics",
                "latency_mean_ms",
                "--group-by",
                "model,hardware",
                "--horizon",
                "5",
            ]
        )
        == 0
    )
    page = target.read_text()
    assert not re.search(r"<script[^>]+src=", page), "external script"
    assert not re.search(r"<link[^>]+href=[\"']https?:", page), "external stylesheet"
    assert "Bokeh" in page and page.count("latency_mean_ms -- model=") == 9  # one titled figure per series
    assert "anomaly" in page and "forecast" in page and "95% interval" in page


def test_markdown_and_json_reports(synthetic_db: Db, tmp_path: Path) -> None:
    path, _ = synthetic_db
    md, js = tmp_path / "r.md", tmp_path / "r.json"
    assert (
        report_main(
            ["--db-path", str(path), "--format", "md", "--output", str(md), "--metrics", "throughput_per_s"]
        )
        == 0
    )
    text = md.read_text()
    assert text.startswith("# mesh results report") and "## throughput_per_s" in text
    assert text.count("| model=") >= 27  # aggregates and series rows per (model, hardware, batch)
    assert (
        report_main(["--db-path", str(path), "--format", "json", "--output", str(js), "--group-by", "worker"])
        == 0
    )
    doc = json.loads(js.read_text())
    metric = next(m for m in doc["metrics"] if m["metric"] == "latency_mean_ms")
    assert {tuple(s["key"].values()) for s in metric["series"]} == {(f"worker-{i:02d}",) for i in range(6)}
    assert all(len(s["forecast"]["mean"]) == 10 for s in metric["series"])
