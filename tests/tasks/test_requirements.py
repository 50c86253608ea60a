"""Requirements: their parsing rules, and matching against `mesh.hardware` capability dicts."""

from __future__ import annotations

from typing import Any

import pytest

from mesh.tasks import Browser, DeviceType, Hardware, Requirements, parse_tasks
from tests.tasks.helpers import command, errors_of

CPU_BOX: dict[str, Any] = {
    "hardware": ["cpu"], "memory_gb": 15.5, "cuda": [], "rocm": [], "browsers": {},
    "device_type": "laptop",
}
GPU_BOX: dict[str, Any] = {
    "hardware": ["cpu", "cuda"], "memory_gb": 128.0, "device_type": "server",
    "cuda": [{"index": 0, "name": "T4", "memory_gb": 15.0, "compute_capability": 7.5},
             {"index": 1, "name": "H200", "memory_gb": 139.8, "compute_capability": 9.0}],
    "browsers": {"chromium": {"path": "/usr/bin/chromium", "version": "120.0"}},
}


def requirements(**fields: Any) -> Requirements:
    return parse_tasks(command(requirements=fields))[0].requirements


def test_requirements_parse_into_enums() -> None:
    req = requirements(hardware=["cuda", "rocm", "cuda"], min_memory_gb=8, min_cuda_compute=8.0,
                       browser="chromium", device_type="server")
    assert req == Requirements((Hardware.CUDA, Hardware.ROCM), 8.0, 8.0, Browser.CHROMIUM, DeviceType.SERVER)


@pytest.mark.parametrize(("fields", "expected"), [
    ({"hardware": "cuda"}, '$.requirements.hardware: expected a non-empty list such as ["cuda"], got "cuda"'),
    ({"hardware": []}, '$.requirements.hardware: expected a non-empty list such as ["cuda"], got a list'),
    ({"hardware": ["tpu"]}, '$.requirements.hardware[0]: expected one of "cpu", "cuda", "rocm", "mps", '
                            '"webgpu", "webnn", got "tpu"'),
    ({"min_memory_gb": -1},
     "$.requirements.min_memory_gb: expected a non-negative number of gigabytes, got -1"),
    ({"min_memory_gb": False},
     "$.requirements.min_memory_gb: expected a non-negative number of gigabytes, got false"),
    ({"min_cuda_compute": 0},
     "$.requirements.min_cuda_compute: expected a CUDA compute capability such as 7.5, got 0"),
    ({"hardware": ["cpu"], "min_cuda_compute": 7.5},
     '$.requirements.min_cuda_compute: needs "cuda" in requirements.hardware'),
    ({"browser": "safari"},
     '$.requirements.browser: expected one of "chromium", "chrome", "firefox", "edge", got "safari"'),
    ({"device_type": "watch"}, '$.requirements.device_type: expected one of "desktop", "laptop", "server", '
                               '"tablet", "handheld", "mobile", got "watch"'),
    ({"cores": 4}, "$.requirements.cores: unknown field; expected one of browser, device_type, hardware, "
                   "min_cuda_compute, min_memory_gb"),
])
def test_requirement_rules(fields: dict[str, Any], expected: str) -> None:
    assert errors_of(command(requirements=fields)) == [expected]


def test_no_requirements_match_any_worker_even_a_malformed_one() -> None:
    req = Requirements()
    assert req.matches(CPU_BOX) and req.matches(GPU_BOX) and req.matches({})


def test_hardware_is_any_of() -> None:
    assert requirements(hardware=["cuda", "cpu"]).matches(CPU_BOX)
    req = requirements(hardware=["cuda", "rocm"])
    assert req.explain_mismatch(CPU_BOX) == "needs hardware cuda, rocm; worker has cpu"
    assert req.matches(GPU_BOX)


def test_system_memory_counts_when_the_task_does_not_need_cuda() -> None:
    req = requirements(min_memory_gb=16)
    assert req.explain_mismatch(CPU_BOX) == "needs 16 GB of memory; worker has 15.5 GB"
    assert req.matches(GPU_BOX)
    assert requirements(min_memory_gb=15.5).matches(CPU_BOX)
    assert req.explain_mismatch({"hardware": ["cpu"]}) == "needs 16 GB of memory; worker has unknown memory"


def test_gpu_memory_counts_when_the_task_needs_cuda() -> None:
    assert requirements(hardware=["cuda"], min_memory_gb=100).matches(GPU_BOX)
    assert not requirements(hardware=["cuda"], min_memory_gb=200).matches(GPU_BOX)  # system has 128
    assert requirements(hardware=["cuda"], min_memory_gb=1).explain_mismatch(CPU_BOX) == \
        "needs hardware cuda; worker has cpu"


def test_one_gpu_must_meet_both_compute_and_memory() -> None:
    t4_only = {**GPU_BOX, "cuda": GPU_BOX["cuda"][:1]}
    req = requirements(min_cuda_compute=8.0, min_memory_gb=10)
    assert req.matches(GPU_BOX)
    assert req.explain_mismatch(t4_only) == (
        "needs a CUDA GPU with compute capability >= 8 and >= 10 GB of GPU memory; "
        "worker has T4 (compute 7.5, 15 GB)")
    # The T4 has the memory, the H200 has the compute: neither has both.
    split = {**GPU_BOX, "cuda": [{"name": "A", "memory_gb": 40.0, "compute_capability": 7.0},
                                 {"name": "B", "memory_gb": 8.0, "compute_capability": 9.0}]}
    assert not req.matches(split)


def test_min_cuda_compute_alone_needs_a_cuda_gpu() -> None:
    req = requirements(min_cuda_compute=7.0)
    assert req.explain_mismatch(CPU_BOX) == "needs a CUDA GPU; worker has none"
    assert req.matches(GPU_BOX)


def test_browser_and_device_type() -> None:
    assert requirements(browser="chromium").matches(GPU_BOX)
    assert requirements(browser="firefox").explain_mismatch(GPU_BOX) == \
        "needs browser firefox; worker has chromium"
    assert requirements(browser="chrome").explain_mismatch(CPU_BOX) == "needs browser chrome; worker has none"
    assert requirements(device_type="server").matches(GPU_BOX)
    assert requirements(device_type="server").explain_mismatch(CPU_BOX) == \
        "needs device type server; worker is laptop"


@pytest.mark.parametrize("capabilities", [
    {}, {"hardware": None, "cuda": "nope", "browsers": [], "memory_gb": "lots"},
    {"hardware": ["cuda"], "cuda": [None, {"compute_capability": True, "memory_gb": float("nan")}]},
    "not a dict",
])
def test_matching_never_raises_on_malformed_capabilities(capabilities: Any) -> None:
    req = requirements(hardware=["cuda"], min_cuda_compute=7.0, min_memory_gb=1, browser="edge",
                       device_type="desktop")
    assert req.matches(capabilities) is False
    assert isinstance(req.explain_mismatch(capabilities), str)

