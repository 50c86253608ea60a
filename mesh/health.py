"""A cheap snapshot of how a machine is doing right now (CPU, memory, disk, network, load).

Called on every `status` and worker heartbeat, so it reads only counters psutil
has ready; the first CPU percentage after start is measured against process start.
"""

from __future__ import annotations

import os
import time
from typing import Any

import psutil

_PROCESS = psutil.Process()
_MIN_INTERVAL_S = 0.5  # CPU percentages over shorter windows are noise; keep the last reading


class _CpuMeter:
    """System and process CPU % over the window since the previous reading (at least 0.5 s)."""

    def __init__(self) -> None:
        self.at = time.monotonic()
        self.system = psutil.cpu_times()
        self.process = _PROCESS.cpu_times()
        self.last = (0.0, 0.0)

    def read(self) -> tuple[float, float]:
        now = time.monotonic()
        if now - self.at < _MIN_INTERVAL_S:
            return self.last
        system, process = psutil.cpu_times(), _PROCESS.cpu_times()
        busy = sum(system) - system.idle - getattr(system, "iowait", 0.0)
        busy0 = sum(self.system) - self.system.idle - getattr(self.system, "iowait", 0.0)
        total = sum(system) - sum(self.system)
        sys_pct = 100.0 * (busy - busy0) / total if total > 0 else 0.0
        proc = (process.user + process.system) - (self.process.user + self.process.system)
        proc_pct = 100.0 * proc / (now - self.at)
        self.at, self.system, self.process = now, system, process
        self.last = (round(max(sys_pct, 0.0), 1), round(max(proc_pct, 0.0), 1))
        return self.last


_CPU = _CpuMeter()


def health_snapshot(disk_path: str | os.PathLike[str] = ".") -> dict[str, Any]:
    memory = psutil.virtual_memory()
    try:
        disk = psutil.disk_usage(os.fspath(disk_path))
        disk_info: dict[str, Any] = {
            "path": os.fspath(disk_path),
            "total_gb": round(disk.total / 2**30, 2),
            "free_gb": round(disk.free / 2**30, 2),
            "percent": disk.percent,
        }
    except OSError as err:
        disk_info = {"path": os.fspath(disk_path), "error": str(err)}
    net = psutil.net_io_counters()
    load = os.getloadavg() if hasattr(os, "getloadavg") else (0.0, 0.0, 0.0)
    rss = _PROCESS.memory_info().rss
    cpu_percent, proc_cpu = _CPU.read()
    return {
        "time": time.time(),
        "cpu_percent": cpu_percent,
        "load_avg": [round(x, 2) for x in load],
        "memory": {
            "total_gb": round(memory.total / 2**30, 2),
            "available_gb": round(memory.available / 2**30, 2),
            "percent": memory.percent,
        },
        "disk": disk_info,
        "network": {
            "bytes_sent": net.bytes_sent if net else 0,
            "bytes_recv": net.bytes_recv if net else 0,
            "packets_sent": net.packets_sent if net else 0,
            "packets_recv": net.packets_recv if net else 0,
        },
        "process": {"pid": os.getpid(), "rss_mb": round(rss / 2**20, 1), "cpu_percent": proc_cpu},
    }
