"""`mesh analyze` and `mesh report`: argument parsing and output, nothing else.

Both entry points take argv (without the sub-command word) and return an exit code:
0 done, 1 the store could not be read or the analysis failed, 2 bad arguments. Importing
this module imports neither numba nor bokeh; they load when a command computes.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
DEFAULT_ALGORITHMS = "zscore,mad"
# A latency series only means something for one model on one hardware at one batch size.
DEFAULT_GROUP_BY = "model_hardware_batch"


class _Parser(argparse.ArgumentParser):
    """argparse that raises instead of exiting, so the caller gets an exit code."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise _UsageError(f"{self.prog}: error: {message}")


class _UsageError(Exception):
    pass


def _csv(text: str) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()]


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db-path", required=True, help="DuckDB result store to read")
    parser.add_argument(
        "--metrics", type=_csv, default=None, help="comma list (default: every metric stored)"
    )
    parser.add_argument(
        "--group-by",
        default=DEFAULT_GROUP_BY,
        help="comma list of task_type, model, hardware, worker, batch_size, or a level name such as "
        f"model_hardware (default {DEFAULT_GROUP_BY}; 'all' for one series per metric)",
    )
    parser.add_argument("--start", default=None, help="first sample time, ISO 8601 (UTC)")
    parser.add_argument("--end", default=None, help="end of the samples (exclusive), ISO 8601 (UTC)")


def analyze_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mesh analyze", description="Trends and anomalies of stored metrics.")
    _common(p)
    p.add_argument(
        "--algorithms",
        type=_csv,
        default=_csv(DEFAULT_ALGORITHMS),
        help="comma list of zscore, mad, isolation_forest, threshold, cusum, dbscan",
    )
    p.add_argument("--window", type=int, default=None, help="rolling window of zscore/mad (default 50)")
    p.add_argument("--threshold", type=float, default=None, help="score threshold (per algorithm default)")
    p.add_argument("--lower", type=float, default=None, help="threshold algorithm: lower bound")
    p.add_argument("--upper", type=float, default=None, help="threshold algorithm: upper bound")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")
    return p


def report_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="mesh report", description="A static report of stored metrics.")
    _common(p)
    p.add_argument("--format", choices=("html", "md", "json"), default="html")
    p.add_argument("--output", required=True, help="file to write")
    p.add_argument("--algorithm", default="zscore", help="anomaly algorithm marked on the plots")
    p.add_argument("--horizon", type=int, default=10, help="forecast steps")
    p.add_argument("--max-series", type=int, default=40, help="series per metric to analyse and plot")
    return p


def _open_store(path: str) -> Any:
    from analytics.store import ResultStore

    if not Path(path).exists():
        raise FileNotFoundError(f"no result store at {path}")
    return ResultStore(path, read_only=True)


def run_analysis(store: Any, args: argparse.Namespace) -> dict[str, Any]:
    from analytics import insights

    unknown = [a for a in args.algorithms if a not in insights.ALGORITHMS]
    if unknown:
        raise _UsageError(
            f"mesh analyze: error: unknown algorithm(s) {unknown}; choose from {list(insights.ALGORITHMS)}"
        )
    params = {"window": args.window, "threshold": args.threshold, "lower": args.lower, "upper": args.upper}
    out: dict[str, Any] = {
        "db_path": args.db_path,
        "group_by": args.group_by,
        "algorithms": args.algorithms,
        "metrics": [],
    }
    for metric in args.metrics or store.metric_names():
        section: dict[str, Any] = {
            "metric": metric,
            "trends": insights.trends(store, metric, args.group_by, None, args.start, args.end),
            "anomalies": {},
        }
        for algorithm in args.algorithms:
            section["anomalies"][algorithm] = insights.anomalies(
                store, metric, algorithm, args.group_by, None, args.start, args.end, **params
            )
        out["metrics"].append(section)
    return out


def _print_text(result: dict[str, Any], out: TextIO) -> None:
    for section in result["metrics"]:
        print(f"== {section['metric']}", file=out)
        for t in section["trends"]:
            label = ", ".join(f"{k}={v}" for k, v in t["key"].items()) or "all"
            slope = "-" if t["slope_per_day"] is None else f"{t['slope_per_day']:+.4g}/day"
            print(f"  {label}: n={t['n']} trend={t['direction']} slope={slope} p={t['p_value']}", file=out)
        for algorithm, found in section["anomalies"].items():
            print(f"  anomalies by {algorithm}: {len(found)}", file=out)
            for a in found[:10]:
                label = ", ".join(f"{k}={v}" for k, v in a["key"].items()) or "all"
                print(f"    {a['ts']} {label} value={a['value']} score={a['score']}", file=out)


def analyze_main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """`mesh analyze`: trends and anomalies per metric and group, as text or --json."""
    stream = out or sys.stdout
    try:
        args = analyze_parser().parse_args(list(argv) if argv is not None else None)
        with _open_store(args.db_path) as store:
            result = run_analysis(store, args)
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except Exception as exc:  # a CLI reports failures instead of tracing back
        print(f"mesh analyze: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        from analytics.api import jsonable

        json.dump(jsonable(result), stream, indent=2, allow_nan=False)
        stream.write("\n")
    else:
        _print_text(result, stream)
    return EXIT_OK


def report_main(argv: Sequence[str] | None = None) -> int:
    """`mesh report`: write an html, md or json report of the store to --output."""
    try:
        args = report_parser().parse_args(list(argv) if argv is not None else None)
        from analytics import insights, report

        if args.algorithm not in insights.ALGORITHMS:
            raise _UsageError(
                f"mesh report: error: unknown algorithm {args.algorithm!r}; "
                f"choose from {list(insights.ALGORITHMS)}"
            )

        with _open_store(args.db_path) as store:
            data = report.collect(
                store,
                args.metrics,
                args.group_by,
                args.algorithm,
                args.horizon,
                args.start,
                args.end,
                args.max_series,
            )
        render = {"html": report.to_html, "md": report.to_markdown, "json": report.to_json}[args.format]
        text = render(data)
        target = Path(args.output)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    except _UsageError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    except SystemExit as exc:  # --help
        return int(exc.code or 0)
    except Exception as exc:  # a CLI reports failures instead of tracing back
        print(f"mesh report: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    print(f"wrote {args.format} report to {target}", file=sys.stderr)
    return EXIT_OK
