"""Replay simulator seeds from the command line: `python -m tests.raft.sim SEED [SEED...]
[--steps N] [--heal N] [--trace]` prints the result, and the full step trace with --trace."""

from __future__ import annotations

import argparse

from .runner import run_seed


def main() -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.raft.sim")
    ap.add_argument("seeds", type=int, nargs="+")
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--heal", type=int, default=150)
    ap.add_argument("--trace", action="store_true")
    ap.add_argument("--tail", type=int, default=0, help="print only the last N trace lines")
    args = ap.parse_args()
    failed = 0
    for seed in args.seeds:
        result = run_seed(seed, args.steps, args.heal, trace=args.trace)
        if args.trace:
            lines = result.trace[-args.tail:] if args.tail else result.trace
            print("\n".join(lines))
        status = "ok" if result.ok else f"FAILED at step {result.step}: {result.error}"
        print(f"seed {seed}: {status}\n  stats: {result.stats}")
        failed += not result.ok
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
