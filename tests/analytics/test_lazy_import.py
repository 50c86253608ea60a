"""The node and the CLI import analytics on their start path: that must not import numba
(or bokeh); the kernels load on first use. Checked in fresh interpreters."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_importing_the_package_store_api_and_cli_does_not_import_numba() -> None:
    done = run(
        "import sys\n"
        "import analytics, analytics.store, analytics.schema, analytics.api\n"
        "import analytics.cli, analytics.synthetic\n"
        "heavy = sorted(m for m in ('numba', 'bokeh', 'scipy', 'pandas') if m in sys.modules)\n"
        "assert not heavy, heavy\n"
        "print(len(analytics.__all__))\n"
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) >= 20


def test_a_kernel_loads_numba_on_first_access_and_works() -> None:
    done = run(
        "import sys, analytics\n"
        "f = analytics.rolling_mean\n"
        "assert 'numba' in sys.modules\n"
        "print(f([1.0, 2.0, 3.0], 2).tolist())\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[nan, 1.5, 2.5]"


def test_unknown_attributes_raise_attribute_error() -> None:
    import analytics

    try:
        analytics.no_such_kernel  # noqa: B018
    except AttributeError as exc:
        assert "no_such_kernel" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
    assert "rolling_zscore" in dir(analytics)
