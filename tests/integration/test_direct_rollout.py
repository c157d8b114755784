"""A whole stack rolled out over SSH into sandbox nodes, in waves, without the engine."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from components.credentials import Resolver
from components.direct_rollout import NodeResult, prepare_content, run_rollout
from components.model import SecretRef
from components.problems import ConfigError
from components.stack_config import DeploymentSettings, parse_settings
from sandbox import Sandbox

from .sandbox_fixtures import started_sandbox

pytestmark = pytest.mark.integration

PROJECT = Path(__file__).resolve().parents[2]
PASSWORD = "Zq8!rollout-password #1"
ROTATED = "Zq8!rollout-password #2"
CA = "-----BEGIN CERTIFICATE-----\nrollout-test-ca\n-----END CERTIFICATE-----\n"
NODES = ["s1:server", "s2:server", "a1:agent", "a2:agent", "a3:agent"]


@pytest.fixture(scope="module")
def cluster() -> Iterator[Sandbox]:
    with started_sandbox(NODES, "pytest-rollout") as sandbox:
        yield sandbox


@pytest.fixture
def nodes(cluster: Sandbox) -> Sandbox:
    for name in cluster.nodes:
        cluster.reset(name)
    return cluster


def settings_for(sandbox: Sandbox, password: str = PASSWORD) -> DeploymentSettings:
    nodes: list[dict[str, Any]] = []
    for name, info in sandbox.nodes.items():
        entry = {
            "name": name,
            "host": info.host,
            "port": info.port,
            "role": info.role,
            "hostKey": info.host_key,
        }
        # Half of the nodes are reached as a sudo user, the rest as root.
        if name in ("s2", "a2"):
            entry["user"] = info.sudo_user
        nodes.append(entry)
    values = {
        "fingerprintKey": "rollout-test-fingerprint-key",
        "registries": {
            "mirrors": {"docker.io": {"endpoint": ["https://mirror.example.test:5443"]}},
            "configs": {
                "mirror.example.test:5443": {"auth": {"username": "robot", "password": password}}
            },
        },
        "tls": {"mirror.example.test:5443": {"ca": CA}},
        "nodes": nodes,
        "ssh": {"user": "root", "privateKey": {"ref": f"file:{sandbox.private_key}"}},
        "rollout": {"agentBatchSize": 2, "healthTimeout": 10},
    }
    return parse_settings(values, secret_keys=frozenset({"registries"}))


def rollout(sandbox: Sandbox, password: str = PASSWORD) -> list[NodeResult]:
    return run_rollout(settings_for(sandbox, password), Resolver(project_root=PROJECT))


def statuses(results: list[NodeResult]) -> dict[str, str]:
    return {result.node: result.status for result in results}


def test_first_rollout_places_files(nodes: Sandbox) -> None:
    results = rollout(nodes)

    assert statuses(results) == dict.fromkeys(nodes.nodes, "changed"), results
    content = prepare_content(settings_for(nodes), Resolver(project_root=PROJECT))
    expected = content.files[-1].content.encode()
    for name in nodes.nodes:
        placed = nodes.host_path(name, "/etc/rancher/k3s/registries.yaml")
        assert placed.read_bytes() == expected
        assert placed.stat().st_mode & 0o777 == 0o600
        assert placed.stat().st_uid == 0
        ca = nodes.host_path(name, "/etc/rancher/k3s/certs/mirror.example.test_5443/ca.crt")
        assert ca.read_text() == CA
        assert ca.stat().st_mode & 0o777 == 0o644


def test_first_rollout_restarts_in_waves(nodes: Sandbox) -> None:
    for name in nodes.nodes:
        nodes.set_restart_delay(name, 0.5)

    rollout(nodes)

    restarts = {name: nodes.restarts(name) for name in nodes.nodes}
    assert all(len(calls) == 1 for calls in restarts.values()), restarts
    assert restarts["s1"][0]["unit"] == "k3s"
    assert restarts["a1"][0]["unit"] == "k3s-agent"
    windows = {name: (calls[0]["start"], calls[0]["end"]) for name, calls in restarts.items()}
    # Servers one at a time, then agents a1 and a2 together, then a3.
    assert windows["s1"][1] <= windows["s2"][0]
    assert windows["s2"][1] <= min(windows["a1"][0], windows["a2"][0])
    assert max(windows["a1"][1], windows["a2"][1]) <= windows["a3"][0]


def test_second_rollout_changes_nothing(nodes: Sandbox) -> None:
    rollout(nodes)
    before = {name: len(nodes.restarts(name)) for name in nodes.nodes}

    results = rollout(nodes)

    assert statuses(results) == dict.fromkeys(nodes.nodes, "unchanged"), results
    assert {name: len(nodes.restarts(name)) for name in nodes.nodes} == before


def test_rotated_password_reaches_every_node(nodes: Sandbox) -> None:
    rollout(nodes)

    results = rollout(nodes, password=ROTATED)

    assert statuses(results) == dict.fromkeys(nodes.nodes, "changed")
    for name in nodes.nodes:
        text = nodes.host_path(name, "/etc/rancher/k3s/registries.yaml").read_text()
        assert ROTATED in text
        assert PASSWORD not in text


def test_failed_server_stops_rollout(nodes: Sandbox) -> None:
    rollout(nodes)
    nodes.set_fail("s2", "restart")

    results = rollout(nodes, password=ROTATED)

    assert statuses(results) == {
        "s1": "changed",
        "s2": "failed",
        "a1": "skipped",
        "a2": "skipped",
        "a3": "skipped",
    }
    failed = next(result for result in results if result.node == "s2")
    assert "node s2" in failed.output
    assert ROTATED not in failed.output
    for name in ("s2", "a1", "a2", "a3"):
        text = nodes.host_path(name, "/etc/rancher/k3s/registries.yaml").read_text()
        assert PASSWORD in text, name
    assert len(nodes.restarts("a1")) == 1

    nodes.clear_fail("s2")
    converged = rollout(nodes, password=ROTATED)

    assert statuses(converged) == {
        "s1": "unchanged",
        "s2": "changed",
        "a1": "changed",
        "a2": "changed",
        "a3": "changed",
    }


def test_bad_reference_touches_no_node(nodes: Sandbox) -> None:
    settings = settings_for(nodes)
    broken = [
        replace(node, host_key=SecretRef("file:/nonexistent/host_key.pub"))
        if node.name == "a2"
        else node
        for node in settings.nodes
    ]

    with pytest.raises(ConfigError, match=r"nodes\[3\]\.hostKey"):
        run_rollout(replace(settings, nodes=tuple(broken)), Resolver(project_root=PROJECT))

    for name in nodes.nodes:
        assert nodes.restarts(name) == [], name
        assert not nodes.host_path(name, "/etc/rancher/k3s/registries.yaml").exists()
