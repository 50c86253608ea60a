"""The `mesh` command: one subcommand per module in `mesh.commands`.

Start-up stays fast: only argparse and the light command modules load here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from mesh import __version__

# Order is the order of `mesh --help`.
COMMANDS: tuple[str, ...] = ("up", "node", "test", "submit", "results", "cancel", "status", "ping", "analyze",
                             "report", "coordinator", "worker")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mesh",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=24, width=100),
        description="mesh: a broker-free mesh that runs tests, benchmarks and commands "
                    "across a fleet of machines.",
    )
    parser.add_argument("--version", action="version", version=f"mesh {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name in COMMANDS:
        module = importlib.import_module(f"mesh.commands.{name.replace('-', '_')}")
        passthrough = getattr(module, "PASSTHROUGH", False)
        cmd = sub.add_parser(name, help=module.HELP, description=module.HELP, add_help=not passthrough)
        module.configure(cmd)
        cmd.set_defaults(_run=module.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        module = importlib.import_module(f"mesh.commands.{argv[0].replace('-', '_')}")
        if getattr(module, "PASSTHROUGH", False):
            # argparse cannot hand a sub-command everything after it (`--help` included).
            return int(module.run(argparse.Namespace(args=argv[1:])))
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 2
    try:
        return int(args._run(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
