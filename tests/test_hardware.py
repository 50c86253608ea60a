"""Capability detection reports what the machine's own tools say, and absent hardware as absent.

GPUs cannot be installed here, so `nvidia-smi` and `rocm-smi` are stand-in scripts on PATH that
print what the real tools print (their documented CSV/JSON formats): the detection code runs for
real against them. The browser check uses the real chromium where it is installed (CI installs it).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from mesh.hardware import detect_capabilities, parse_nvidia_smi, parse_rocm_smi
from tests.support.processes import MeshProcesses, run_mesh

NVIDIA_CSV = ("0, NVIDIA H100 80GB HBM3, 81559, 9.0, 550.54.15, GPU-0a1b\n"
              "1, NVIDIA A10, 23028, 8.6, 550.54.15, GPU-2c3d\n")
ROCM_JSON = json.dumps({"card0": {"Card series": "AMD Instinct MI250X", "GFX Version": "gfx90a",
                                  "VRAM Total Memory (B)": "68702699520"}})


def fake_tool(bin_dir: Path, name: str, stdout: str, exit_code: int = 0) -> None:
    bin_dir.mkdir(exist_ok=True)
    path = bin_dir / name
    (bin_dir / f"{name}.out").write_text(stdout)
    cat = shutil.which("cat") or "/bin/cat"
    path.write_text(f"#!/bin/sh\n{cat} '{bin_dir / (name + '.out')}'\nexit {exit_code}\n")
    path.chmod(path.stat().st_mode | stat.S_IEXEC)


def only_path(monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    """PATH = our stand-in tools only, so no real GPU tool or browser of this machine leaks in."""
    bin_dir.mkdir(exist_ok=True)
    monkeypatch.setenv("PATH", str(bin_dir))


def test_parse_nvidia_smi_csv() -> None:
    gpus = parse_nvidia_smi(NVIDIA_CSV)
    assert [(g["name"], g["memory_gb"], g["compute_capability"]) for g in gpus] == [
        ("NVIDIA H100 80GB HBM3", 79.65, 9.0), ("NVIDIA A10", 22.49, 8.6)]


def test_parse_rocm_smi_json() -> None:
    assert parse_rocm_smi(ROCM_JSON) == [
        {"index": 0, "name": "AMD Instinct MI250X", "memory_gb": 63.98, "gfx_version": "gfx90a"}]


def test_no_gpu_tools_means_no_gpus(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    only_path(monkeypatch, tmp_path / "bin")
    caps = detect_capabilities()
    assert caps["cuda"] == [] and caps["rocm"] == []
    assert "cuda" not in caps["hardware"] and "rocm" not in caps["hardware"]
    assert caps["hardware"][0] == "cpu"


def test_gpus_are_reported_from_the_vendor_tools(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", NVIDIA_CSV)
    fake_tool(bin_dir, "rocm-smi", ROCM_JSON)
    only_path(monkeypatch, bin_dir)
    caps = detect_capabilities()
    assert [g["name"] for g in caps["cuda"]] == ["NVIDIA H100 80GB HBM3", "NVIDIA A10"]
    assert caps["rocm"][0]["name"] == "AMD Instinct MI250X"
    assert {"cuda", "rocm"} <= set(caps["hardware"])


def test_a_failing_tool_is_reported_as_an_error_not_as_hardware(monkeypatch: pytest.MonkeyPatch,
                                                               tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", "NVIDIA-SMI has failed because it couldn't communicate", exit_code=9)
    only_path(monkeypatch, bin_dir)
    caps = detect_capabilities()
    assert caps["cuda"] == [] and "cuda" not in caps["hardware"]
    assert "exit 9" in caps["errors"]["nvidia-smi"]


def test_browsers_are_reported_only_when_they_answer(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "firefox", "Mozilla Firefox 128.4.0esr\n")
    fake_tool(bin_dir, "microsoft-edge", "", exit_code=1)
    only_path(monkeypatch, bin_dir)
    browsers = detect_capabilities()["browsers"]
    assert browsers["firefox"]["version"] == "128.4.0"
    assert "edge" not in browsers


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed here")
def test_installed_chromium_is_reported_with_its_version() -> None:
    version = subprocess.run(["chromium", "--version"], capture_output=True, text=True, check=True).stdout
    expected = re.search(r"\d+(\.\d+)+", version)
    assert expected is not None
    assert detect_capabilities()["browsers"]["chromium"]["version"] == expected.group(0)


def test_cpu_and_memory_come_from_the_machine() -> None:
    caps = detect_capabilities()
    assert caps["cpu"]["logical_cores"] == os.cpu_count()
    assert caps["memory_gb"] > 0
    if Path("/proc/cpuinfo").exists():
        assert caps["cpu"]["model"]


def test_a_node_reports_the_gpus_its_machine_has(mesh_procs: MeshProcesses, tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    fake_tool(bin_dir, "nvidia-smi", NVIDIA_CSV)
    node = mesh_procs.start_node(env={"PATH": f"{bin_dir}:{os.environ['PATH']}"})
    out = run_mesh("status", "--coordinator", node.address, "--json")
    caps = json.loads(out.stdout)["capabilities"]
    assert "cuda" in caps["hardware"] and caps["cuda"][1]["compute_capability"] == 8.6
