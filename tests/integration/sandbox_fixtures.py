"""Fixtures for integration tests: sandbox K3s/RKE2 nodes (real sshd on loopback).

The nodes start once per session under ``.sandbox/pytest-<pid>`` in the
project, because sandbox directories must lie outside /tmp, which each node
replaces with its own. Each test gets them reset to their state after start.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from sandbox import Sandbox, SandboxError, check_requirements, start_nodes

PROJECT = Path(__file__).resolve().parents[2]

SANDBOX_NODES = ["s1:server:k3s", "a1:agent:k3s", "r1:server:rke2", "ra1:agent:rke2"]
"""One node of each kind: k3s server and agent, rke2 server and agent."""


@contextmanager
def started_sandbox(specs: list[str], label: str) -> Iterator[Sandbox]:
    """Start sandbox nodes under ``.sandbox/<label>-<pid>``; skip without root or sshd.

    The nodes are stopped and their directory removed on exit.
    """
    try:
        check_requirements()
    except SandboxError as error:
        pytest.skip(f"sandbox nodes unavailable: {error}")

    directory = PROJECT / ".sandbox" / f"{label}-{os.getpid()}"
    sandbox = start_nodes(specs, directory)
    try:
        yield sandbox
    finally:
        sandbox.stop()
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def sandbox_nodes() -> Iterator[Sandbox]:
    """Start one sandbox node of each kind for the session."""
    with started_sandbox(SANDBOX_NODES, "pytest") as sandbox:
        yield sandbox


@pytest.fixture
def nodes(sandbox_nodes: Sandbox) -> Sandbox:
    """Return the session's sandbox nodes, reset: no placed files, no calls, no failures."""
    for name in sandbox_nodes.nodes:
        sandbox_nodes.reset(name)
    return sandbox_nodes
