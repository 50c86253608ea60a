"""`mesh test`: run a pytest suite across the mesh and answer like pytest.

    mesh test [-n N] [--coordinator H:P] [--dist load|loadfile|loadscope|duration]
              [--junitxml PATH] [--timeout S] [PATH...] [-- PYTEST_ARGS...]

Without `--coordinator`, an embedded local mesh with N worker slots (default: the number of
cores) starts for the run and stops after it; its data dir persists per project, so past test
durations (`--dist duration`) and the worker's bundle cache survive between runs. The exit code
is pytest's: 0 all passed, 1 some failed, 2 interrupted (collection errors), 5 no tests.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from mesh.testrun.plan import DIST_MODES

HELP = "run a pytest suite across the mesh (pytest's output and exit codes)"
PASSTHROUGH = True  # everything after `--` goes to pytest untouched

UNSUPPORTED = {"-x": "stop-on-first-failure", "--exitfirst": "stop-on-first-failure",
               "--maxfail": "--maxfail", "-n": "pytest-xdist's -n", "--numprocesses": "pytest-xdist's -n",
               "--pdb": "--pdb", "--lf": "--lf", "--ff": "--ff", "--last-failed": "--lf"}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="mesh test", description=HELP,
        epilog="Everything after `--` goes to pytest on the workers, e.g. "
               "`mesh test -n 4 tests/ -- -k 'not slow' -v`. See docs/TESTRUN.md.")
    p.add_argument("paths", nargs="*", help="test files or folders (as for pytest)")
    p.add_argument("-n", "--workers", type=int, metavar="N",
                   help="pytest processes: embedded mesh slots (default: cores); with --coordinator, "
                        "leases to ask for (default: every worker slot)")
    p.add_argument("-c", "--coordinator", metavar="HOST:PORT", help="use this running mesh")
    p.add_argument("--dist", choices=DIST_MODES, default="load", help="how tests are split (default load)")
    p.add_argument("--junitxml", metavar="PATH", help="write JUnit XML here")
    p.add_argument("--timeout", type=float, metavar="S", help="kill and fail a test that runs longer")
    p.add_argument("--rootdir", metavar="DIR", default=".", help="folder shipped to workers (default: .)")
    p.add_argument("--listen", metavar="HOST", help="interface workers reach this process on "
                                                    "(default: 127.0.0.1 for a local mesh, else auto)")
    p.add_argument("--data-dir", metavar="DIR", help="embedded mesh state (default $MESH_HOME/test/...)")
    p.add_argument("--suite", help="name that keys duration history (default: the root folder's name)")
    p.add_argument("--no-progress", action="store_true", help="no live progress line")
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("args", nargs=argparse.REMAINDER)


def split_argv(argv: list[str]) -> tuple[list[str], list[str]]:
    if "--" in argv:
        i = argv.index("--")
        return argv[:i], argv[i + 1:]
    return argv, []


def run(args: argparse.Namespace) -> int:
    own, extra = split_argv(list(args.args))
    opts = build_parser().parse_args(own)
    for arg in extra:
        name = arg.split("=", 1)[0]
        if name in UNSUPPORTED:
            print(f"mesh test: error: {UNSUPPORTED[name]} is not supported across the mesh", file=sys.stderr)
            return 4
    root = Path(opts.rootdir).resolve()
    if not root.is_dir():
        print(f"mesh test: error: --rootdir {root} is not a folder", file=sys.stderr)
        return 4
    from mesh.logs import setup_logging

    setup_logging(opts.verbose)
    suite = opts.suite or root.name or "suite"
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # stop the embedded mesh on SIGTERM too
    try:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_main(opts, extra, root, suite))
    except KeyboardInterrupt:
        print("\nmesh test: interrupted", file=sys.stderr)
        return 2


async def _main(opts: argparse.Namespace, extra: list[str], root: Path, suite: str) -> int:
    from mesh.client import MeshError
    from mesh.testrun.bundle import build_bundle
    from mesh.testrun.controller import RunController
    from mesh.testrun.embedded import EmbeddedMesh, listen_host_for
    from mesh.testrun.leases import RunOptions

    started = time.monotonic()
    bundle_task = asyncio.get_running_loop().run_in_executor(None, build_bundle, root)
    mesh: EmbeddedMesh | None = None
    try:
        if opts.coordinator:
            coordinator = opts.coordinator
        else:
            slots = opts.workers or os.cpu_count() or 1
            mesh = EmbeddedMesh(slots, _data_dir(opts, root, suite), opts.verbose)
            coordinator = await mesh.start()
            await mesh.cancel_stale_leases()
        bundle = await bundle_task
        options = RunOptions(
            pytest_args=[*opts.paths, *extra], coordinator=coordinator,
            listen_host=opts.listen or listen_host_for(coordinator),
            leases=opts.workers if opts.coordinator else None, dist=opts.dist, test_timeout_s=opts.timeout,
            suite=suite, pythonpath=_relative_pythonpath(root),
            continue_on_collection_errors="--continue-on-collection-errors" in extra)
        printer = _Printer(not opts.no_progress)
        controller = RunController(options, bundle, printer.report, printer.collected,
                                   mesh.alive if mesh is not None else None)
        try:
            result = await controller.run()
        except MeshError as err:
            print(f"mesh test: error: {err}", file=sys.stderr)
            return 3
        finally:
            printer.close()
    finally:
        if mesh is not None:
            await mesh.stop()
    return _finish(opts, result, time.monotonic() - started)


class _Printer:
    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.progress: Any = None

    def collected(self, total: int) -> None:
        from mesh.testrun.output import Progress

        if self.enabled:
            self.progress = Progress(sys.stdout, total)

    def report(self, report: dict[str, Any]) -> None:
        if self.progress is not None:
            self.progress.update(report)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.close()


def _finish(opts: argparse.Namespace, result: Any, duration_s: float) -> int:
    from mesh.testrun.junit import render_junit
    from mesh.testrun.output import exit_code, render_summary

    print(render_summary(result.reports, duration_s=duration_s, collection_errors=result.collection_errors,
                         interrupted=f"Interrupted: {result.interrupted}" if result.interrupted else None,
                         worker_summary={} if opts.verbose else None))
    if opts.junitxml:
        document = render_junit(result.reports, duration_s=duration_s,
                                collection_errors=result.collection_errors)
        Path(opts.junitxml).write_text(document, encoding="utf-8")
    return exit_code(result.reports, collection_errors=len(result.collection_errors),
                     interrupted=result.interrupted is not None, collected=result.collected)


def _data_dir(opts: argparse.Namespace, root: Path, suite: str) -> Path:
    if opts.data_dir:
        return Path(opts.data_dir).expanduser()
    home = Path(os.environ.get("MESH_HOME", Path.home() / ".mesh"))
    tag = hashlib.sha256(str(root).encode()).hexdigest()[:10]
    return home / "test" / f"{suite}-{tag}"


def _relative_pythonpath(root: Path) -> list[str]:
    """PYTHONPATH entries inside the root, relative to it, so workers find them in the bundle."""
    out = []
    for entry in filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep)):
        path = Path(entry).resolve()
        if path.is_relative_to(root):
            out.append(path.relative_to(root).as_posix() or ".")
    return out

