"""`mesh analyze`: trends, anomalies, forecasts and regressions over a DuckDB result store."""

from __future__ import annotations

import argparse

HELP = "find trends, anomalies and regressions in stored results"
PASSTHROUGH = True  # analytics.cli parses the arguments (and prints `--help`)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    from analytics.cli import analyze_main

    return analyze_main(args.args)
