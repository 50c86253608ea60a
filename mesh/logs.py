"""Readable log lines for every mesh process: time, level, component, message."""

from __future__ import annotations

import logging
import sys

FORMAT = "%(asctime)s.%(msecs)03d %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"


def setup_logging(verbose: bool = False, *, prefix: str = "") -> None:
    """Log to stderr at INFO (DEBUG with `verbose`). `prefix` tags lines of child processes."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(prefix + FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    # Third-party chatter stays at WARNING even with --verbose.
    for noisy in ("asyncio", "numba", "bokeh", "tornado"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
