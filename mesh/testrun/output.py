"""What `mesh test` shows: live progress, pytest's final summary, the exit code (JUnit XML is in
`mesh.testrun.junit`).

All of it is computed from phase reports (`mesh.testrun.reports`) and reads as pytest's own output
does, so users and CI tools see no difference between `pytest` and `mesh test`. This module does
no I/O beyond the stream or file it is handed, and knows nothing of workers or sockets.
"""

from __future__ import annotations

import datetime
import re
import time
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from enum import IntEnum
from typing import TextIO

from mesh.testrun.reports import CATEGORIES, Report, category, counts

WIDTH = 80  # pytest's width when the terminal's is unknown (piped output, CI)

# pytest's status letters (terminal.pytest_report_teststatus + skipping's x / X)
LETTERS = {"passed": ".", "failed": "F", "error": "E", "skipped": "s", "xfailed": "x", "xpassed": "X"}
# categories that do not make a run fail; anything else (mesh's own ones included) does
NOT_FAILING = frozenset({"passed", "skipped", "xfailed", "xpassed", "deselected", "warnings"})


class ExitCode(IntEnum):
    """pytest's exit statuses that a run can end with."""

    OK = 0
    TESTS_FAILED = 1
    INTERRUPTED = 2
    NO_TESTS_COLLECTED = 5


# --- live progress ---------------------------------------------------------------------------


class Progress:
    """Live progress of a run: a bar redrawn in place on a terminal, pytest -q's status letters
    (wrapped with a `[ 42%]` suffix) elsewhere. `update` is cheap: a few dict lookups and, off a
    terminal, one short write; on a terminal it redraws at most `1 / REDRAW_S` times a second."""

    BAR_WIDTH = 20
    REDRAW_S = 0.1
    _SUFFIX_LEN = len(" [100%]")

    def __init__(
        self,
        stream: TextIO,
        total: int,
        *,
        tty: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int = WIDTH,
    ) -> None:
        self.stream = stream
        self.total = total
        self.tty = bool(getattr(stream, "isatty", lambda: False)()) if tty is None else tty
        self._clock = clock
        self._width = width
        self._started = clock()
        self._finished: set[str] = set()  # tests whose teardown (or a mesh verdict) arrived
        self._lettered: set[str] = set()  # tests that printed a letter (pytest's progress count)
        self._failed = 0
        self._errors = 0
        self._column = 0
        self._last_draw = float("-inf")
        self._drawn_len = 0

    @property
    def finished(self) -> int:
        return len(self._finished)

    def update(self, report: Report) -> None:
        cat = category(report)
        nodeid = str(report.get("nodeid", ""))
        when = report.get("when")
        if cat == "failed":
            self._failed += 1
        elif cat == "error":
            self._errors += 1
        if when == "teardown" or report.get("last") or (report.get("category") and when != "collect"):
            self._finished.add(nodeid)
        if self.tty:
            now = self._clock()
            if now - self._last_draw >= self.REDRAW_S or len(self._finished) >= self.total:
                self._draw(now)
        elif cat is not None and when != "collect":  # pytest -q prints no letter for these
            self._letter(LETTERS.get(cat, "?"), nodeid)

    def message(self, text: str) -> None:
        """A line of its own above the progress (e.g. "worker w3 lost"), keeping the bar below."""
        if self.tty:
            self.stream.write("\r" + " " * self._drawn_len + "\r" + text + "\n")
            self._drawn_len = 0
            self._draw(self._clock())
        else:
            if self._column:
                self.stream.write("\n")
                self._column = 0
            self.stream.write(text + "\n")
        self.stream.flush()

    def close(self) -> None:
        if self.tty:
            self._draw(self._clock())
            self.stream.write("\n")
        elif self._lettered:
            fill = self._width - self._column - 1
            self.stream.write(self._percent().rjust(fill) + "\n")
            self._column = 0
        self.stream.flush()

    def bar_line(self, now: float | None = None) -> str:
        """The one-line bar, e.g. `[#####...............] 120/1000  3 failed  1 error  0:04`."""
        done = len(self._finished)
        filled = self.BAR_WIDTH * min(done, self.total) // self.total if self.total else self.BAR_WIDTH
        elapsed = int((self._clock() if now is None else now) - self._started)
        minutes, seconds = divmod(elapsed, 60)
        hours, minutes = divmod(minutes, 60)
        clock = f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
        errors = f"{self._errors} error" + ("" if self._errors == 1 else "s")
        return (
            f"[{'#' * filled}{'.' * (self.BAR_WIDTH - filled)}] {done}/{self.total}"
            f"  {self._failed} failed  {errors}  {clock}"
        )

    def _draw(self, now: float) -> None:
        line = self.bar_line(now)
        pad = " " * max(self._drawn_len - len(line), 0)  # wipe what a longer line left behind
        self.stream.write("\r" + line + pad)
        self.stream.flush()
        self._drawn_len = len(line)
        self._last_draw = now

    def _percent(self) -> str:
        if not self.total:
            return " [100%]"
        return f" [{len(self._lettered) * 100 // self.total:3d}%]"

    def _letter(self, letter: str, nodeid: str) -> None:
        self.stream.write(letter)
        self._column += 1
        self._lettered.add(nodeid)
        # as pytest: wrap before the suffix would pass the edge; the last one waits for close()
        last = len(self._lettered) == self.total
        if not last and self._column + self._SUFFIX_LEN + 1 >= self._width:
            self.stream.write(self._percent() + "\n")
            self._column = 0


# --- pieces of pytest's terminal output ------------------------------------------------------


def _char_width(c: str) -> int:
    if " " <= c < "\x7f":
        return 1
    if unicodedata.category(c) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1


def _display_width(text: str) -> int:
    return sum(map(_char_width, text))


def sep_line(char: str, title: str | None = None, width: int = WIDTH) -> str:
    """A separator as pytest draws it: `=== title ===`, filled to at most `width` columns."""
    if title is None:
        return char * (width // len(char))
    fill = char * max((width - len(title) - 2) // (2 * len(char)), 1)
    line = f"{fill} {title} {fill}"
    return line + char.rstrip() if len(line) + len(char.rstrip()) <= width else line


def format_duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.2f}s"
    return f"{seconds:.2f}s ({datetime.timedelta(seconds=int(seconds))})"


def summary_line(reports: Iterable[Report], *, duration_s: float) -> str:
    """`1 failed, 2 passed, 2 errors in 1.23s`: pytest's order, wording and plurals."""
    counted = counts(reports)
    order = [c for c in CATEGORIES if c in counted] + [c for c in counted if c not in CATEGORIES]
    parts = [f"{counted[c]} {_plural(c, counted[c])}" for c in order]
    return f"{', '.join(parts) or 'no tests ran'} in {format_duration(duration_s)}"


def _plural(noun: str, n: int) -> str:
    if noun not in ("error", "warnings"):
        return noun
    singular = noun.removesuffix("s")
    return singular if n == 1 else singular + "s"


_E_LINE = re.compile(r"^E(?:\s|$)")
_SYNTAX_ERROR = re.compile(r"^(SyntaxError|IndentationError|TabError)\b")
# collection errors pytest reports as plain text (CollectError), with no crash message
_TEXT_COLLECT_ERRORS = (
    "ImportError while importing test module",
    "import file mismatch",
    "Using pytest.skip outside of a test",
)


def crash_message(report: Report) -> str | None:
    """The exception's text (pytest's `reprcrash.message`) read back from the traceback's last
    `E   ` block; None when the traceback has none or pytest would show none.

    A report may carry it exactly as "message" (the worker can read `longrepr.reprcrash`); the
    phase-report format does not require it, so it is recovered from the text otherwise."""
    if "message" in report:
        message = report["message"]
        return None if message is None else str(message)
    lines = str(report.get("longrepr") or "").split("\n")
    end = len(lines)
    while end and not _E_LINE.match(lines[end - 1]):
        end -= 1
    start = end
    while start and _E_LINE.match(lines[start - 1]):
        start -= 1
    if start == end:
        return None
    block = lines[start:end]
    indent = min((len(ln) - len(ln[1:].lstrip()) for ln in block if ln[1:].strip()), default=1)
    text = "\n".join(ln[indent:] for ln in block)
    if report.get("when") == "collect":
        last = text.rsplit("\n", 1)[-1]
        if str(report.get("longrepr")).startswith(_TEXT_COLLECT_ERRORS) or _SYNTAX_ERROR.match(last):
            return None
    return text


def _short_message(report: Report) -> str | None:
    message = crash_message(report)
    if message is None and report.get("when") != "collect":
        message = str(report.get("longrepr") or "") or None  # pytest shows a text longrepr as is
    return message


def _trimmed(message: str, available: int) -> str | None:
    """` - message`, first line only, cut with `...` to fit `available` columns (None: no room)."""
    message = message.split("\n", 1)[0]
    if available < 3 + 3:
        return None
    if 3 + _display_width(message) > available:
        available -= 3
        message = message[:available]
        while 3 + _display_width(message) > available:
            message = message[:-1]
        message += "..."
    return " - " + message


def _headline(report: Report) -> str:
    location = report.get("location")
    if location and len(location) > 2 and location[2]:
        return str(location[2])
    return str(report.get("nodeid", ""))


def _captured(lines: list[str], report: Report, width: int, only: str | None = None) -> None:
    for title, content in report.get("sections") or ():
        if only is None or only in title:
            lines.append(sep_line("-", title, width))
            lines.append(content[:-1] if content.endswith("\n") else content)


def _longrepr_and_output(lines: list[str], report: Report, width: int) -> None:
    text = str(report.get("longrepr") or "").rstrip("\n")
    if text:
        lines.append(text)
    _captured(lines, report, width)


def render_summary(
    reports: Iterable[Report],
    *,
    duration_s: float,
    collection_errors: Iterable[Report] = (),
    no_worker: Mapping[str, str] | Iterable[str] = (),
    worker_summary: Mapping[str, str] | str | None = None,
    interrupted: str | None = None,
    width: int = WIDTH,
) -> str:
    """The end of a run as pytest prints it: ERRORS, FAILURES (in the order given), the short
    test summary and the `=== ... in 1.23s ===` line.

    `collection_errors`: failed "collect" reports (counted and shown before the others; pass each
    report once, here or in `reports`). `no_worker`: node ids no worker can run (or node id ->
    why), shown as a section; display only: count such tests through mesh-made reports.
    `worker_summary`: worker id -> a note (host, hardware), shown with each worker's share of the
    run as computed from the reports, or a text to show as is. `interrupted`: pytest's
    `!!! reason !!!` line, e.g. "Interrupted: 2 errors during collection"."""
    everything = [*collection_errors, *reports]
    by_category: dict[str, list[Report]] = {}
    quiet_teardowns: dict[str, list[Report]] = {}
    for report in everything:
        cat = category(report)
        if cat is not None:
            by_category.setdefault(cat, []).append(report)
        elif report.get("when") == "teardown":
            quiet_teardowns.setdefault(str(report.get("nodeid")), []).append(report)

    lines: list[str] = []
    errors, failures = by_category.get("error", []), by_category.get("failed", [])
    if errors:
        lines.append(sep_line("=", "ERRORS", width))
        for report in errors:
            when = report.get("when") or "call"
            what = "collecting" if when == "collect" else f"at {when} of"
            lines.append(sep_line("_", f"ERROR {what} {_headline(report)}", width))
            _longrepr_and_output(lines, report, width)
    if failures:
        lines.append(sep_line("=", "FAILURES", width))
        for report in failures:
            lines.append(sep_line("_", _headline(report), width))
            _longrepr_and_output(lines, report, width)
            for teardown in quiet_teardowns.get(str(report.get("nodeid")), ()):
                _captured(lines, teardown, width, only="teardown")
    unplaced = [
        f"{nodeid}: {no_worker[nodeid]}" if isinstance(no_worker, Mapping) else str(nodeid)
        for nodeid in no_worker
    ]
    if unplaced:
        lines.append(sep_line("=", "tests no worker can run", width))
        lines.extend(unplaced)
    if worker_summary is not None:
        lines.append(sep_line("=", "mesh workers", width))
        if isinstance(worker_summary, str):
            lines.append(worker_summary.rstrip("\n"))
        else:
            lines.extend(_worker_lines(everything, worker_summary))
    short = []
    for cat, word in (("failed", "FAILED"), ("error", "ERROR")):
        for report in by_category.get(cat, ()):
            line = f"{word} {report.get('nodeid')}"
            message = _short_message(report)
            tail = _trimmed(message, width - _display_width(line)) if message else None
            short.append(line + (tail or ""))
    if short:
        lines.append(sep_line("=", "short test summary info", width))
        lines.extend(short)
    if interrupted:
        lines.append(sep_line("!", interrupted, width))
    lines.append(sep_line("=", summary_line(everything, duration_s=duration_s), width))
    return "\n".join(lines) + "\n"


def _worker_lines(reports: list[Report], notes: Mapping[str, str]) -> list[str]:
    tests: dict[str, set[str]] = {worker: set() for worker in notes}
    busy: dict[str, float] = dict.fromkeys(notes, 0.0)
    bad: dict[str, int] = dict.fromkeys(notes, 0)
    for report in reports:
        worker = report.get("worker")
        if not worker:
            continue
        tests.setdefault(worker, set()).add(str(report.get("nodeid")))
        busy[worker] = busy.get(worker, 0.0) + float(report.get("duration_s") or 0.0)
        cat = category(report)
        bad[worker] = bad.get(worker, 0) + (cat is not None and cat not in NOT_FAILING)
    out = []
    for worker, ids in tests.items():
        note = f" - {notes[worker]}" if notes.get(worker) else ""
        out.append(f"{worker}: {len(ids)} tests, {bad[worker]} failing, {busy[worker]:.2f}s busy{note}")
    return out


def exit_code(reports: Iterable[Report], *, collection_errors: int, interrupted: bool = False,
              collected: int | None = None) -> ExitCode:
    """pytest's exit status: 2 interrupted or collection errors, 1 a test failed or errored
    (mesh-made verdicts too), 5 nothing ran (or, given `collected`, no test was collected:
    modules skipped whole do not count), else 0 (skips and xfails are fine)."""
    if interrupted or collection_errors:
        return ExitCode.INTERRUPTED
    if collected == 0:
        return ExitCode.NO_TESTS_COLLECTED
    counted = counts(reports)
    if any(c not in NOT_FAILING for c in counted):
        return ExitCode.TESTS_FAILED
    if not any(c != "deselected" for c in counted):
        return ExitCode.NO_TESTS_COLLECTED
    return ExitCode.OK

