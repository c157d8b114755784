"""Stack config checks: the example stacks parse, bad config names its key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.model import SecretRef
from components.problems import ConfigError, Severity
from components.rollout import plan_waves
from components.stack_config import PROJECT, Node, parse_settings

STACKS = Path(__file__).resolve().parents[2] / "stacks"


def load_stack(path: Path) -> dict[str, Any]:
    """Read a stack file's config as the program receives it: keys without the namespace."""
    document = yaml.safe_load(path.read_text())
    prefix = f"{PROJECT}:"
    return {
        key[len(prefix) :]: value
        for key, value in document["config"].items()
        if key.startswith(prefix)
    }


def minimal() -> dict[str, Any]:
    return {
        "registries": {"mirrors": {"docker.io": {"endpoint": ["https://mirror.example.test"]}}},
        "nodes": [
            {"name": "server-1", "host": "127.0.0.1", "role": "server"},
            {"name": "agent-1", "host": "127.0.0.1", "port": 2222, "role": "agent"},
        ],
    }


def problems_of(values: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_settings(values)
    return [str(problem) for problem in caught.value.problems]


@pytest.mark.parametrize("path", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda path: path.name)
def test_example_stack_parses(path: Path) -> None:
    settings = parse_settings(load_stack(path), secret_keys=frozenset())

    assert settings.nodes
    assert [problem for problem in settings.warnings if problem.severity is Severity.ERROR] == []


@pytest.mark.parametrize("path", sorted(STACKS.glob("Pulumi.*.yaml")), ids=lambda path: path.name)
def test_example_stack_has_no_warning(path: Path) -> None:
    settings = parse_settings(load_stack(path))

    assert [str(problem) for problem in settings.warnings] == []


def test_minimal_defaults() -> None:
    settings = parse_settings(minimal())

    assert settings.distribution == "k3s"
    assert settings.ssh.user == "root"
    assert settings.rollout.agent_batch_size == 2
    assert settings.rollout.on_delete == "keep"
    assert settings.nodes[1].port == 2222
    assert settings.pull_secrets is None


def test_unknown_top_level_key_suggested() -> None:
    values = minimal()
    values["node"] = []

    problems = problems_of(values)

    assert problems == [f"error: {PROJECT}:node: unknown key (did you mean `nodes`?)"]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda v: v["nodes"][0].pop("role"), "nodes[0].role: missing"),
        (lambda v: v["nodes"][0].update(role="master"), "nodes[0].role: invalid value 'master'"),
        (
            lambda v: v["nodes"][1].update(name="server-1"),
            "nodes[1].name: node 'server-1' is listed twice",
        ),
        (lambda v: v["nodes"][0].update(name="Server_1"), "nodes[0].name: invalid node name"),
        (lambda v: v["nodes"][0].update(port=70000), "nodes[0].port: 70000 is out of range"),
        (lambda v: v["nodes"][0].update(port="22"), "nodes[0].port: expected a whole number"),
        (
            lambda v: v["nodes"][0].update(hostkey="x"),
            "nodes[0].hostkey: unknown key (did you mean `hostKey`?)",
        ),
        (
            lambda v: v["nodes"][0].update(hostKey="AAAA"),
            "nodes[0].hostKey: not an OpenSSH public key line",
        ),
        (lambda v: v.update(nodes=[]), "nodes: expected a non-empty list"),
        (lambda v: v.update(distribution="k8s"), "distribution: invalid value 'k8s'"),
        (
            lambda v: v.update(rollout={"agentBatchSize": 0}),
            "rollout.agentBatchSize: 0 is out of range",
        ),
        (
            lambda v: v.update(rollout={"onDelete": "purge"}),
            "rollout.onDelete: invalid value 'purge'",
        ),
        (
            lambda v: v.update(rollout={"batchSize": 2}),
            "rollout.batchSize: unknown key (did you mean `agentBatchSize`?)",
        ),
        (
            lambda v: v.update(ssh={"privateKey": {"reference": "env:X"}}),
            "ssh.privateKey: a secret reference takes only the key 'ref'",
        ),
        (lambda v: v.update(ssh={"bastion": {"port": 22}}), "ssh.bastion.host: missing"),
        (lambda v: v.pop("registries"), "registries: missing"),
        (
            lambda v: v.update(tls={"r.example.test": {"cert": "pem"}}),
            'tls."r.example.test".key: missing',
        ),
        (
            lambda v: v.update(pullSecrets={"namespaces": ["apps"]}),
            "pullSecrets: no registry under registries.configs has credentials",
        ),
        (
            lambda v: v.update(pullSecrets={"namespaces": ["Apps"], "registries": ["x.test"]}),
            "pullSecrets.namespaces[0]: invalid a namespace",
        ),
    ],
)
def test_bad_config_names_key(change: Any, expected: str) -> None:
    values = copy.deepcopy(minimal())
    change(values)

    problems = problems_of(values)

    assert any(f"{PROJECT}:{expected}" in problem for problem in problems), problems


def test_registries_errors_carry_config_path() -> None:
    values = minimal()
    values["registries"]["mirrors"]["docker.io"]["endpoints"] = ["https://x.example.test"]

    problems = problems_of(values)

    assert any(f'{PROJECT}:registries.mirrors."docker.io".endpoints' in p for p in problems), (
        problems
    )


def test_all_problems_reported_at_once() -> None:
    values = minimal()
    values["nodes"][0].pop("role")
    values["rollout"] = {"agentBatchSize": -1}
    values["distribution"] = "k8s"

    assert len(problems_of(values)) == 3


def test_fingerprint_key_required_with_secrets() -> None:
    values = minimal()
    values["registries"]["configs"] = {
        "mirror.example.test": {"auth": {"username": "u", "password": {"ref": "env:P"}}}
    }

    problems = problems_of(values)

    assert any("fingerprintKey: missing" in problem for problem in problems), problems
    assert any("openssl rand" in problem for problem in problems)


def test_plain_secret_warned_without_secret_key() -> None:
    values = minimal()
    values["fingerprintKey"] = {"ref": "env:KEY"}
    values["registries"]["configs"] = {
        "mirror.example.test": {"auth": {"username": "u", "password": "Zq8-literal-value"}}
    }

    plain = parse_settings(values).warnings
    stored_secret = parse_settings(values, secret_keys=frozenset({"registries"})).warnings

    assert any("plain text" in problem.message for problem in plain)
    assert all("Zq8-literal-value" not in str(problem) for problem in plain)
    assert not any("plain text" in problem.message for problem in stored_secret)


def test_references_typed() -> None:
    values = minimal()
    values["fingerprintKey"] = {"ref": "config:fingerprintSecret"}
    values["ssh"] = {"user": "ubuntu", "privateKey": {"ref": "file:keys/deploy"}}

    settings = parse_settings(values)

    assert settings.fingerprint_key == SecretRef("config:fingerprintSecret")
    assert settings.ssh.private_key == SecretRef("file:keys/deploy")


def test_tls_conflict_with_file_path() -> None:
    values = minimal()
    values["fingerprintKey"] = "k"
    values["registries"]["configs"] = {
        "mirror.example.test": {"tls": {"ca_file": "/etc/ssl/ca.pem"}}
    }
    values["tls"] = {"mirror.example.test": {"ca": "pem"}}

    problems = problems_of(values)

    assert any("conflicts with registries.configs" in problem for problem in problems), problems


def _nodes(servers: int, agents: int) -> list[Node]:
    return [Node(f"s{i}", "h", "server") for i in range(servers)] + [
        Node(f"a{i}", "h", "agent") for i in range(agents)
    ]


def test_waves_servers_alone_agents_batched() -> None:
    waves = plan_waves(_nodes(3, 5), agent_batch_size=2)

    assert [[node.name for node in wave] for wave in waves] == [
        ["s0"],
        ["s1"],
        ["s2"],
        ["a0", "a1"],
        ["a2", "a3"],
        ["a4"],
    ]


def test_waves_keep_listed_order() -> None:
    nodes = [Node("a0", "h", "agent"), Node("s0", "h", "server"), Node("a1", "h", "agent")]

    waves = plan_waves(nodes, agent_batch_size=5)

    assert [[node.name for node in wave] for wave in waves] == [["s0"], ["a0", "a1"]]


def test_waves_reject_zero_batch() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        plan_waves(_nodes(1, 1), agent_batch_size=0)


def test_referenced_config_keys_allowed() -> None:
    values = minimal()
    values["fingerprintKey"] = {"ref": "config:fingerprintSecret"}
    values["ssh"] = {"privateKey": {"ref": "config:k3s-registries:sshKey"}}
    values["fingerprintSecret"] = "secret"
    values["sshKey"] = "key"

    settings = parse_settings(values)

    assert settings.ssh.private_key == SecretRef("config:k3s-registries:sshKey")


def test_unreferenced_extra_key_rejected() -> None:
    values = minimal()
    values["fingerprintKey"] = {"ref": "config:fingerprintSecret"}
    values["fingerprintSecrets"] = "secret"

    problems = problems_of(values)

    assert any("fingerprintSecrets: unknown key" in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("field", "value"),
    [("user", "-oProxyCommand=x"), ("user", "a b"), ("host", "-p22"), ("host", "root@10.0.0.1")],
)
def test_ssh_destination_checked(field: str, value: str) -> None:
    values = minimal()
    values["nodes"][0][field] = value

    problems = problems_of(values)

    assert any(f"nodes[0].{field}: invalid" in problem for problem in problems), problems


def test_literal_ssh_key_warned() -> None:
    values = minimal()
    values["ssh"] = {"privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----"}

    warnings = [str(problem) for problem in parse_settings(values).warnings]
    stored = parse_settings(values, secret_keys=frozenset({"ssh"})).warnings

    assert any("ssh.privateKey: a literal secret value" in warning for warning in warnings)
    assert stored == ()
