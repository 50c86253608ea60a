"""`mesh ping`: round-trip times to a node over the mesh protocol."""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from mesh.client import MeshClient, MeshError
from transports.address import AddressError

HELP = "measure round-trip times to a node"


def configure(p: argparse.ArgumentParser) -> None:
    p.add_argument("address", metavar="H:P", help="node to ping")
    p.add_argument("--count", "-n", type=int, default=4, help="number of pings (default 4)")
    p.add_argument("--interval", type=float, default=0.2, metavar="S",
                   help="seconds between pings (default 0.2)")
    p.add_argument("--timeout", type=float, default=2.0, metavar="S",
                   help="seconds to wait for each reply (default 2)")


def run(args: argparse.Namespace) -> int:
    if args.count < 1:
        print("mesh ping: error: --count must be at least 1", file=sys.stderr)
        return 2
    try:
        client = MeshClient(args.address, timeout=args.timeout)
    except AddressError as err:
        print(f"mesh ping: error: {err}", file=sys.stderr)
        return 2
    rtts: list[float] = []
    with client:
        for seq in range(args.count):
            if seq:
                time.sleep(args.interval)
            try:
                rtt = client.ping(payload=seq.to_bytes(4, "big"))
            except MeshError as err:
                print(f"seq={seq} {err}")
                continue
            rtts.append(rtt)
            print(f"reply from {client.address}: seq={seq} time={rtt:.3f} ms")
    lost = args.count - len(rtts)
    print(f"--- {client.address} ping statistics ---")
    print(f"{args.count} sent, {len(rtts)} received, {100 * lost / args.count:.0f}% loss")
    if rtts:
        dev = statistics.pstdev(rtts) if len(rtts) > 1 else 0.0
        print(f"rtt min/avg/max/mdev = {min(rtts):.3f}/{statistics.fmean(rtts):.3f}/"
              f"{max(rtts):.3f}/{dev:.3f} ms")
    return 0 if not lost else 1
