"""Shared test setup: a writable numba cache, and helpers every test module may use."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

os.environ.setdefault(
    "NUMBA_CACHE_DIR", str(Path(tempfile.gettempdir()) / f"mesh-numba-cache-{os.getuid()}")
)
