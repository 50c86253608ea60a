"""What a machine can do: CPU, memory, GPUs, browsers, platform. Detected once, then cached.

Every fact comes from the machine itself (`/proc`, `psutil`, `nvidia-smi`,
`rocm-smi`, a browser's `--version`). Hardware that is not found is reported as
absent (an empty list, `None`), never guessed. Detection never raises: a tool
that fails or hangs is recorded under `errors` and the rest is still reported.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import re
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import psutil

TOOL_TIMEOUT_S = 10.0

# Executable names per browser, most common first.
BROWSERS: dict[str, tuple[str, ...]] = {
    "chromium": ("chromium", "chromium-browser"),
    "chrome": ("google-chrome", "google-chrome-stable", "chrome"),
    "firefox": ("firefox", "firefox-esr"),
    "edge": ("microsoft-edge", "microsoft-edge-stable", "msedge"),
}

# SMBIOS chassis type codes (DMTF DSP0134, 7.4.1) -> the device_type mesh reports.
_CHASSIS: dict[int, str] = {
    3: "desktop", 4: "desktop", 5: "desktop", 6: "desktop", 7: "desktop", 13: "desktop",
    15: "desktop", 16: "desktop", 24: "desktop", 35: "desktop", 36: "desktop",
    8: "laptop", 9: "laptop", 10: "laptop", 14: "laptop", 31: "laptop", 32: "laptop",
    11: "handheld", 30: "tablet",
    17: "server", 23: "server", 25: "server", 28: "server", 29: "server",
}


def _run(argv: list[str], errors: dict[str, str]) -> str | None:
    """Run a detection tool; None (and a note in `errors`) if it fails or hangs."""
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as err:
        errors[argv[0]] = f"{type(err).__name__}: {err}"
        return None
    if done.returncode != 0:
        errors[argv[0]] = f"exit {done.returncode}: {done.stderr.strip()[:200]}"
        return None
    return done.stdout


def detect_cpu() -> dict[str, Any]:
    model: str | None = None
    flags: list[str] = []
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("model name", "Model", "cpu model") and model is None:
                model = value.strip()
            elif key in ("flags", "Features") and not flags:
                flags = sorted(set(value.split()))
    if model is None:
        model = platform.processor() or None
    return {
        "model": model,
        "architecture": platform.machine(),
        "physical_cores": psutil.cpu_count(logical=False),
        "logical_cores": psutil.cpu_count(logical=True),
        "flags": flags,
    }


def parse_nvidia_smi(text: str) -> list[dict[str, Any]]:
    """Parse `nvidia-smi --query-gpu=index,name,memory.total,compute_cap,driver_version,uuid
    --format=csv,noheader,nounits` output."""
    gpus = []
    for line in text.strip().splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 6:
            continue
        index, name, mem_mib, cap, driver, uuid = parts[:6]
        gpus.append({
            "index": int(index) if index.isdigit() else None,
            "name": name,
            "memory_gb": round(float(mem_mib) / 1024, 2) if _is_number(mem_mib) else None,
            "compute_capability": float(cap) if _is_number(cap) else None,
            "driver_version": driver,
            "uuid": uuid,
        })
    return gpus


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def detect_cuda(errors: dict[str, str]) -> list[dict[str, Any]]:
    if shutil.which("nvidia-smi") is None:
        return []
    out = _run(["nvidia-smi", "--query-gpu=index,name,memory.total,compute_cap,driver_version,uuid",
                "--format=csv,noheader,nounits"], errors)
    return parse_nvidia_smi(out) if out else []


def parse_rocm_smi(text: str) -> list[dict[str, Any]]:
    """Parse `rocm-smi --showproductname --showmeminfo vram --json` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        return []
    gpus = []
    for key, info in sorted(data.items()):
        if not key.startswith("card") or not isinstance(info, dict):
            continue
        total = next((v for k, v in info.items() if "VRAM Total Memory" in k), None)
        gpus.append({
            "index": int(key[4:]) if key[4:].isdigit() else None,
            "name": info.get("Card series") or info.get("Card SKU") or info.get("Card model"),
            "memory_gb": round(int(str(total)) / 2**30, 2) if str(total).isdigit() else None,
            "gfx_version": info.get("GFX Version"),
        })
    return gpus


def detect_rocm(errors: dict[str, str]) -> list[dict[str, Any]]:
    if shutil.which("rocm-smi") is None:
        return []
    out = _run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"], errors)
    return parse_rocm_smi(out) if out else []


_VERSION = re.compile(r"(\d+(?:\.\d+)+)")


def detect_browsers(errors: dict[str, str]) -> dict[str, dict[str, str]]:
    """Browsers whose executable is on PATH and answers `--version`."""
    found: dict[str, dict[str, str]] = {}
    for browser, names in BROWSERS.items():
        for name in names:
            path = shutil.which(name)
            if path is None:
                continue
            out = _run([path, "--version"], errors)
            match = _VERSION.search(out or "")
            if match:
                found[browser] = {"path": path, "version": match.group(1)}
                break
    return found


def detect_device_type() -> str:
    """From the SMBIOS chassis type on Linux, a battery elsewhere; 'unknown' when neither says."""
    chassis = Path("/sys/class/dmi/id/chassis_type")
    try:
        code = int(chassis.read_text().strip())
    except (OSError, ValueError):
        code = None
    if code in _CHASSIS:
        return _CHASSIS[code]
    if platform.system() == "Darwin":
        battery = psutil.sensors_battery() if hasattr(psutil, "sensors_battery") else None
        return "laptop" if battery is not None else "desktop"
    return "unknown"


def detect_capabilities() -> dict[str, Any]:
    """Probe the machine. Slow (runs tools); use `capabilities()` for the cached answer."""
    errors: dict[str, str] = {}
    cuda = detect_cuda(errors)
    rocm = detect_rocm(errors)
    memory = psutil.virtual_memory()
    system, machine = platform.system(), platform.machine()
    hardware = ["cpu"]
    if cuda:
        hardware.append("cuda")
    if rocm:
        hardware.append("rocm")
    # Metal Performance Shaders ship with every Apple-silicon Mac: a platform fact, not a guess.
    if system == "Darwin" and machine == "arm64":
        hardware.append("mps")
    return {
        "hostname": socket.gethostname(),
        "platform": {
            "system": system,
            "release": platform.release(),
            "machine": machine,
            "python": platform.python_version(),
            "in_container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"),
        },
        "device_type": detect_device_type(),
        "cpu": detect_cpu(),
        "memory_gb": round(memory.total / 2**30, 2),
        "hardware": hardware,
        "cuda": cuda,
        "rocm": rocm,
        "browsers": detect_browsers(errors),
        "errors": errors,
    }


@functools.cache
def capabilities() -> dict[str, Any]:
    """The machine's capabilities, detected on first call and cached for the process."""
    return detect_capabilities()


def matchable(caps: dict[str, Any] | None) -> dict[str, Any]:
    """The capabilities requirement matching reads (`mesh.tasks.requirements`), without the CPU
    flag lists: what `mesh status` shows of each worker."""
    caps = caps or {}
    return {k: caps[k] for k in ("hostname", "hardware", "memory_gb", "cuda", "rocm", "browsers",
                                 "device_type") if k in caps}
