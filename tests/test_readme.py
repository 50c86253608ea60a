"""The README's two set-up commands are the ones CI and users run."""

from __future__ import annotations

import re
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
    lines = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    commands = [line for line in lines if line and not line.startswith("#")]
    # The last command of .ci/run is the test run; what comes before only prepares the machine.
    assert commands[-1] == command_after("test-command")
