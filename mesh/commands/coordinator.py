"""`mesh coordinator`: the seed's entry point, an alias of `mesh node --role coordinator`."""

from __future__ import annotations

import argparse

from mesh.commands import node

HELP = "run a coordinator (alias of mesh node --role coordinator)"


def configure(p: argparse.ArgumentParser) -> None:
    node.add_node_flags(p)


def run(args: argparse.Namespace) -> int:
    args.role = "coordinator"
    return node.run(args)
