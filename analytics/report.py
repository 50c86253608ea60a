"""Static reports of a result store: per metric, aggregates per group, and per series the
trend, the anomalies one algorithm finds and a forecast with intervals -- as JSON,
Markdown, or one self-contained HTML file of Bokeh plots (inline resources, no URL).

Bokeh is imported only by `to_html`; the kernels come in through analytics.insights.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from analytics import api, insights
from analytics.api import GroupBy, MetricSeries, TimeLike
from analytics.store import ResultStore


@dataclass
class SeriesReport:
    series: MetricSeries
    trend: dict[str, Any]
    anomaly_idx: np.ndarray
    forecast: dict[str, Any]


@dataclass
class ReportData:
    db_path: str
    generated_at: str
    group_by: list[str]
    algorithm: str
    aggregates: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    series: dict[str, list[SeriesReport]] = field(default_factory=dict)


def collect(
    store: ResultStore,
    metrics: list[str] | None = None,
    group_by: GroupBy = "model_hardware",
    algorithm: str = "zscore",
    horizon: int = 10,
    start: TimeLike = None,
    end: TimeLike = None,
    max_series: int = 24,
) -> ReportData:
    """Compute everything a report shows; at most `max_series` series per metric (the
    largest ones) are analysed and plotted."""
    groups = api.parse_group_by(group_by)
    data = ReportData(store.path, dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), groups, algorithm)
    for metric in metrics or store.metric_names():
        data.aggregates[metric] = api.get_aggregated_results(store, groups, metric, start=start, end=end)
        all_series = api.metric_series(store, metric, groups, start=start, end=end)
        chosen = sorted(all_series, key=lambda s: -len(s))[:max_series]
        reports = []
        for s in sorted(chosen, key=lambda s: s.label):
            idx, _ = insights.detect(s.values, algorithm)
            reports.append(
                SeriesReport(s, insights.trend_of(s), idx, insights.forecast_series(s, "holt", horizon))
            )
        data.series[metric] = reports
    return data


def to_json(data: ReportData) -> str:
    out: dict[str, Any] = {
        "db_path": data.db_path,
        "generated_at": data.generated_at,
        "group_by": data.group_by,
        "algorithm": data.algorithm,
        "metrics": [],
    }
    for metric, reports in data.series.items():
        out["metrics"].append(
            {
                "metric": metric,
                "aggregates": data.aggregates[metric],
                "series": [
                    {
                        "key": r.series.key,
                        "n": len(r.series),
                        "trend": {k: v for k, v in r.trend.items() if k not in ("metric", "key", "n")},
                        "anomalies": [
                            {
                                "ts": insights.iso(r.series.ts[i]),
                                "value": insights.num(r.series.values[i]),
                                "task_id": r.series.task_ids[i],
                            }
                            for i in r.anomaly_idx
                        ],
                        "forecast": {k: r.forecast[k] for k in ("ts", "mean", "lower", "upper", "sigma2")},
                    }
                    for r in reports
                ],
            }
        )
    return json.dumps(api.jsonable(out), indent=2, allow_nan=False)


def _fmt(v: Any) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def to_markdown(data: ReportData) -> str:
    lines = [
        "# mesh results report",
        "",
        f"Store: `{data.db_path}`, generated {data.generated_at}, "
        f"grouped by {', '.join(data.group_by) or 'nothing'}, anomalies by `{data.algorithm}`.",
        "",
    ]
    for metric, reports in data.series.items():
        lines += [
            f"## {metric}",
            "",
            "| group | count | mean | std | p50 | p90 | p99 |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in data.aggregates[metric]:
            label = ", ".join(f"{g}={row[g]}" for g in data.group_by) or "all"
            lines.append(
                f"| {label} | {row['count']} | "
                + " | ".join(_fmt(row[k]) for k in ("mean", "std", "p50", "p90", "p99"))
                + " |"
            )
        lines += [
            "",
            "| series | n | trend | slope/day | p | anomalies | forecast (last step) |",
            "|---|---|---|---|---|---|---|",
        ]
        for r in reports:
            fc = r.forecast
            last = (
                f"{_fmt(fc['mean'][-1])} [{_fmt(fc['lower'][-1])}, {_fmt(fc['upper'][-1])}]"
                if fc["mean"]
                else "-"
            )
            lines.append(
                f"| {r.series.label} | {len(r.series)} | {r.trend['direction']} | "
                f"{_fmt(r.trend['slope_per_day'])} | "
                f"{_fmt(r.trend['p_value'])} | {len(r.anomaly_idx)} | {last} |"
            )
        lines.append("")
    return "\n".join(lines)


def _figure(r: SeriesReport, metric: str) -> Any:
    from bokeh.models import ColumnDataSource
    from bokeh.plotting import figure

    s = r.series
    fig = figure(
        title=f"{metric} -- {s.label} (trend: {r.trend['direction']})",
        x_axis_type="datetime",
        width=900,
        height=280,
        tools="pan,wheel_zoom,box_zoom,reset,save",
        name=f"{metric}|{s.label}",
    )
    times = s.ts.astype("datetime64[ms]").astype(np.int64).astype(np.float64)
    fig.line(times, s.values, legend_label="value", line_width=1.5)
    if r.anomaly_idx.size:
        fig.scatter(
            times[r.anomaly_idx], s.values[r.anomaly_idx], size=8, color="red", legend_label="anomaly"
        )
    fc = r.forecast
    if fc["mean"]:
        ft = np.array(fc["ts"], dtype="datetime64[ms]").astype(np.int64).astype(np.float64)
        band = ColumnDataSource(
            {
                "x": ft,
                "lo": [np.nan if v is None else v for v in fc["lower"]],
                "hi": [np.nan if v is None else v for v in fc["upper"]],
            }
        )
        fig.varea(
            x="x",
            y1="lo",
            y2="hi",
            source=band,
            fill_alpha=0.25,
            fill_color="orange",
            legend_label="95% interval",
        )
        fig.line(
            ft,
            [np.nan if v is None else v for v in fc["mean"]],
            line_dash="dashed",
            color="orange",
            legend_label="forecast",
        )
    fig.legend.location = "top_left"
    return fig


def to_html(data: ReportData) -> str:
    """One HTML page, Bokeh's JavaScript inlined: it opens offline, from any path."""
    from bokeh.embed import file_html
    from bokeh.layouts import column
    from bokeh.models import Div  # type: ignore[attr-defined]  # re-exported at run time
    from bokeh.resources import INLINE

    parts: list[Any] = [
        Div(
            text=f"<h1>mesh results report</h1><p>Store <code>{html.escape(data.db_path)}</code>, "
            f"generated {html.escape(data.generated_at)}; anomalies by {html.escape(data.algorithm)}.</p>"
        )
    ]
    for metric, reports in data.series.items():
        parts.append(Div(text=f"<h2>{html.escape(metric)}</h2>"))
        parts.extend(_figure(r, metric) for r in reports)
    return file_html(column(*parts), resources=INLINE, title="mesh results report")
