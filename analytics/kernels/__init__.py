"""Numba kernels over numpy arrays: pure functions, arrays in, arrays out, no I/O.

Importing a kernel module imports numba; each kernel compiles on its first call and is
cached on disk (`cache=True`). numba keys a cached kernel on its own source file only, so
a change to a helper module it calls (`_common.py`, `_special.py`, `_rolling_exact.py`)
would leave stale machine code in the cache. When NUMBA_CACHE_DIR is set (tests, CI,
benchmarks) the kernels therefore cache into a subdirectory named after a digest of every
kernel source and the numba version: editing any kernel file starts a fresh cache.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numba
from numba.core import config


def _fingerprint() -> str:
    digest = hashlib.sha256(numba.__version__.encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


if os.environ.get("NUMBA_CACHE_DIR"):
    # Read by numba when a cache=True function is decorated, i.e. when our modules load.
    config.CACHE_DIR = str(  # type: ignore[attr-defined]  # set from the environment at run time
        Path(os.environ["NUMBA_CACHE_DIR"]) / f"mesh-analytics-{_fingerprint()}"
    )
