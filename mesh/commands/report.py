"""`mesh report`: an HTML (static Bokeh plots), Markdown or JSON report of stored results."""

from __future__ import annotations

import argparse

HELP = "write an HTML, Markdown or JSON report of stored results"
PASSTHROUGH = True  # analytics.cli parses the arguments (and prints `--help`)


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def run(args: argparse.Namespace) -> int:
    from analytics.cli import report_main

    return report_main(args.args)
