"""One PySyncObj node for bench/raft.py: a replicated dict, driven by line commands on stdin.

Commands (one JSON line answered per command):
  leader            -> {"leader": "host:port" | null}
  seq N             -> N sequential committed writes from this node: {"rate": writes/s}
  pipe N WINDOW     -> N writes with WINDOW in flight (callbacks): {"rate": writes/s}
  firstcommit       -> retry a short-timeout write until one commits: {"at": time.monotonic()}

    python bench/raft_pysyncobj_node.py SELF_ADDR PARTNER_ADDR...
"""

from __future__ import annotations

import json
import sys
import threading
import time

from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.syncobj import SyncObjException


class KV(SyncObj):  # type: ignore[misc]
    def __init__(self, self_addr: str, partners: list[str]) -> None:
        super().__init__(self_addr, partners, conf=SyncObjConf(dynamicMembershipChange=False))
        self._data: dict[str, bytes] = {}

    @replicated  # type: ignore[misc]
    def set(self, key: str, value: bytes) -> bool:
        self._data[key] = value
        return True


def pipelined(kv: KV, n: int, window: int) -> float:
    """n writes with `window` in flight, completion by callback; returns writes/s."""
    slots = threading.Semaphore(window)
    done = threading.Event()
    count = [0]
    lock = threading.Lock()

    def finished(result: object, error: object) -> None:
        slots.release()
        with lock:
            count[0] += 1
            if count[0] == n:
                done.set()

    start = time.perf_counter()
    for i in range(n):
        slots.acquire()
        kv.set(f"p{i}", b"v" * 16, callback=finished)
    done.wait(300)
    return n / (time.perf_counter() - start)


def main() -> None:
    kv = KV(sys.argv[1], sys.argv[2:])
    for line in sys.stdin:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "leader":
            leader = kv._getLeader()
            address = None if leader is None else str(getattr(leader, "address", leader))
            answer: dict[str, object] = {"leader": address}
        elif parts[0] == "seq":
            n = int(parts[1])
            start = time.perf_counter()
            for i in range(n):
                kv.set(f"s{i}", b"v" * 16, sync=True, timeout=10)
            answer = {"rate": n / (time.perf_counter() - start)}
        elif parts[0] == "pipe":
            answer = {"rate": pipelined(kv, int(parts[1]), int(parts[2]))}
        elif parts[0] == "firstcommit":
            while True:
                try:
                    kv.set("failover", b"x", sync=True, timeout=0.2)
                    break
                except SyncObjException:
                    continue  # no leader yet, or this try timed out: a commit takes ~0.1 s here
            answer = {"at": time.monotonic()}
        else:
            answer = {"error": f"unknown command {parts[0]}"}
        print(json.dumps(answer), flush=True)


if __name__ == "__main__":
    main()
