"""Shared parts of the benchmarks: Pulumi mocks that count registrations, and result files.

The mocks return each resource's inputs as its outputs, as the unit tests'
mocks do, so the component runs as it would under ``pulumi up`` except that
no provider is called.
"""

from __future__ import annotations

import json
import platform
import subprocess
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pulumi
from pulumi.runtime import mocks

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RESULTS = PROJECT_ROOT / "bench" / "results"


class CountingMocks(pulumi.runtime.Mocks):
    """Mocks that return each resource's inputs as its outputs and count registrations by type."""

    def __init__(self) -> None:
        self.registered: Counter[str] = Counter()

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        self.registered[args.typ] += 1
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


def install_mocks(stack: str = "bench") -> CountingMocks:
    """Install fresh counting mocks for this process and return them."""
    counting = CountingMocks()
    pulumi.runtime.set_mocks(counting, project="k3s-registries", stack=stack, preview=False)
    return counting


def machine() -> dict[str, Any]:
    """Describe the machine and software that produced a result."""
    cpu_model = ""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    memory_kib = 0
    meminfo = Path("/proc/meminfo")
    if meminfo.exists():
        first = meminfo.read_text().splitlines()[0]
        memory_kib = int(first.split()[1])
    nproc = subprocess.run(["nproc"], capture_output=True, text=True, check=False)
    ssh = subprocess.run(["ssh", "-V"], capture_output=True, text=True, check=False)
    return {
        "nproc": int(nproc.stdout.strip() or 0),
        "cpu_model": cpu_model,
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "pulumi_sdk": _package_version("pulumi"),
        "pulumi_command": _package_version("pulumi_command"),
        "moto": _package_version("moto"),
        "openssh": ssh.stderr.strip(),
    }


def _package_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def write_result(name: str, data: dict[str, Any]) -> Path:
    """Write ``data`` to ``bench/results/<name>-<UTC time>.json`` and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    path = RESULTS / f"{name}-{stamp}.json"
    path.write_text(json.dumps(data, indent=2) + "\n")
    return path
