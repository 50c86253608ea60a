"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def command_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```[^\n]*\n([^\n]+)\n```", text)
    assert match, f"README.md has no fenced command after <!-- {marker} -->"
    return match.group(1).strip()


def test_readme_starts_with_the_run_and_test_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.index("<!-- run-command -->") < text.index("<!-- test-command -->") < text.index("## ")
    assert command_after("run-command").startswith("pip install -e . && mesh ")
    assert command_after("test-command") == "pip install -e '.[test]' && python -m pytest"


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = ROOT / ".ci" / "run"
    extract = re.search(r"test_command=\$\((.*)\)\n", script.read_text())
    assert extract, ".ci/run no longer extracts the README command"
    out = subprocess.run(["bash", "-c", extract.group(1)], cwd=ROOT, capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == command_after("test-command")
