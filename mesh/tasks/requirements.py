"""What a task needs from a worker, and whether a worker's capabilities provide it.

Capabilities are the dict `mesh.hardware.detect_capabilities()` produces (`hardware`, `memory_gb`,
`cuda`, `browsers`, `device_type`). Matching is pure and tolerant: a missing or malformed capability
counts as absent, never as an exception.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mesh.tasks.fields import Issues, child, item


class Hardware(StrEnum):
    CPU = "cpu"
    CUDA = "cuda"
    ROCM = "rocm"
    MPS = "mps"
    WEBGPU = "webgpu"
    WEBNN = "webnn"


class Browser(StrEnum):
    CHROMIUM = "chromium"
    CHROME = "chrome"
    FIREFOX = "firefox"
    EDGE = "edge"


class DeviceType(StrEnum):
    DESKTOP = "desktop"
    LAPTOP = "laptop"
    SERVER = "server"
    TABLET = "tablet"
    HANDHELD = "handheld"
    MOBILE = "mobile"


MAX_MEMORY_GB = 1 << 20  # a petabyte-class machine; anything above is a typo


@dataclass(frozen=True, slots=True)
class Requirements:
    """Hardware is any-of; every other field that is set must also hold.

    `min_memory_gb` is GPU memory when the task needs CUDA (`hardware == ("cuda",)` or
    `min_cuda_compute` set): one CUDA GPU must have both the memory and the compute capability.
    Otherwise it is the worker's system memory.
    """

    hardware: tuple[Hardware, ...] = ()
    min_memory_gb: float | None = None
    min_cuda_compute: float | None = None
    browser: Browser | None = None
    device_type: DeviceType | None = None

    @property
    def needs_cuda(self) -> bool:
        return self.hardware == (Hardware.CUDA,) or self.min_cuda_compute is not None

    def to_dict(self) -> dict[str, Any]:
        """Only the fields that are set, as plain JSON values."""
        out: dict[str, Any] = {}
        if self.hardware:
            out["hardware"] = [h.value for h in self.hardware]
        if self.min_memory_gb is not None:
            out["min_memory_gb"] = self.min_memory_gb
        if self.min_cuda_compute is not None:
            out["min_cuda_compute"] = self.min_cuda_compute
        if self.browser is not None:
            out["browser"] = self.browser.value
        if self.device_type is not None:
            out["device_type"] = self.device_type.value
        return out

    def matches(self, capabilities: Mapping[str, Any]) -> bool:
        return self.explain_mismatch(capabilities) is None

    def explain_mismatch(self, capabilities: Mapping[str, Any]) -> str | None:
        """Why a worker with these capabilities cannot run the task; None when it can."""
        if not isinstance(capabilities, Mapping):
            return "worker reported no capabilities"
        have = _str_list(capabilities.get("hardware"))
        if self.hardware and not any(h.value in have for h in self.hardware):
            wanted = ", ".join(h.value for h in self.hardware)
            return f"needs hardware {wanted}; worker has {', '.join(have) or 'none'}"
        if self.needs_cuda:
            reason = self._cuda_mismatch(capabilities)
            if reason:
                return reason
        elif self.min_memory_gb is not None:
            memory = _number(capabilities.get("memory_gb"))
            if memory is None or memory < self.min_memory_gb:
                return f"needs {self.min_memory_gb:g} GB of memory; worker has {_gb(memory)}"
        if self.browser is not None:
            browsers = capabilities.get("browsers")
            if not isinstance(browsers, Mapping) or self.browser.value not in browsers:
                found = ", ".join(sorted(str(b) for b in browsers)) if isinstance(browsers, Mapping) else ""
                return f"needs browser {self.browser.value}; worker has {found or 'none'}"
        if self.device_type is not None and capabilities.get("device_type") != self.device_type.value:
            return (f"needs device type {self.device_type.value}; "
                    f"worker is {capabilities.get('device_type') or 'unknown'}")
        return None

    def _cuda_mismatch(self, capabilities: Mapping[str, Any]) -> str | None:
        gpus = [g for g in capabilities.get("cuda") or [] if isinstance(g, Mapping)] \
            if isinstance(capabilities.get("cuda"), list | tuple) else []
        if not gpus:
            return "needs a CUDA GPU; worker has none"
        for gpu in gpus:
            compute, memory = _number(gpu.get("compute_capability")), _number(gpu.get("memory_gb"))
            if self.min_cuda_compute is not None and (compute is None or compute < self.min_cuda_compute):
                continue
            if self.min_memory_gb is not None and (memory is None or memory < self.min_memory_gb):
                continue
            return None
        wants = []
        if self.min_cuda_compute is not None:
            wants.append(f"compute capability >= {self.min_cuda_compute:g}")
        if self.min_memory_gb is not None:
            wants.append(f">= {self.min_memory_gb:g} GB of GPU memory")
        seen = "; ".join(f"{g.get('name') or 'GPU'} (compute {_number(g.get('compute_capability'))}, "
                         f"{_gb(_number(g.get('memory_gb')))})" for g in gpus)
        return f"needs a CUDA GPU with {' and '.join(wants)}; worker has {seen}"


def _str_list(value: Any) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list | tuple) else []


def _number(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    return float(value) if ok else None


def _gb(value: float | None) -> str:
    return "unknown memory" if value is None else f"{value:g} GB"


FIELDS = ("hardware", "min_memory_gb", "min_cuda_compute", "browser", "device_type")


def parse_requirements(issues: Issues, path: str, value: Any) -> Requirements | None:
    """The `requirements` object of a task; None (with errors recorded) when it is invalid."""
    data = issues.obj(path, value, FIELDS)
    if data is None:
        return None
    before = len(issues.errors)
    hardware: list[Hardware] = []
    if "hardware" in data:
        raw = data["hardware"]
        options = [h.value for h in Hardware]
        if not isinstance(raw, list | tuple) or not raw:
            issues.expected(child(path, "hardware"), 'a non-empty list such as ["cuda"]', raw)
        else:
            for i, name in enumerate(raw):
                if issues.choice(item(child(path, "hardware"), i), name, options) and name not in hardware:
                    hardware.append(Hardware(name))
    memory = compute = None
    if "min_memory_gb" in data:
        memory = issues.number(child(path, "min_memory_gb"), data["min_memory_gb"],
                               "a non-negative number of gigabytes", 0, MAX_MEMORY_GB)
    if "min_cuda_compute" in data:
        compute = issues.number(child(path, "min_cuda_compute"), data["min_cuda_compute"],
                                "a CUDA compute capability such as 7.5", 0, 100, low_exclusive=True)
        if hardware and Hardware.CUDA not in hardware:
            issues.add(child(path, "min_cuda_compute"), 'needs "cuda" in requirements.hardware')
    browser = device = None
    if "browser" in data:
        name = issues.choice(child(path, "browser"), data["browser"], [b.value for b in Browser])
        browser = Browser(name) if name else None
    if "device_type" in data:
        name = issues.choice(child(path, "device_type"), data["device_type"], [d.value for d in DeviceType])
        device = DeviceType(name) if name else None
    if len(issues.errors) > before:
        return None
    return Requirements(tuple(hardware), memory, compute, browser, device)
