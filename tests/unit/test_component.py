"""The component's resource graph under Pulumi mocks: one command per node, waves, secrets."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pytest
from pulumi.runtime import mocks, rpc

from components.component import RegistriesDeployment, RegistriesDeploymentArgs
from components.credentials import Resolver
from components.stack_config import parse_settings

PASSWORD = "Zq8!unique-registry-password"
ROTATED = "Zq8!rotated-registry-password"
TLS_KEY = "-----BEGIN PRIVATE KEY-----\nunique-client-key-material\n-----END PRIVATE KEY-----\n"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nunique-ssh-key-material\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)
FINGERPRINT_KEY = "unique-fingerprint-key-0123456789"
SECRETS = (PASSWORD, ROTATED, TLS_KEY.splitlines()[1], SSH_KEY.splitlines()[1], FINGERPRINT_KEY)
COMMAND_TYPE = "command:remote:Command"
SECRET_TYPE = "kubernetes:core/v1:Secret"


@dataclass
class Registration:
    """One resource as the engine would see it."""

    type: str
    name: str
    inputs: dict[str, Any]
    raw: Any
    dependencies: list[str]
    urn: str


@dataclass
class Capture:
    """Every resource registered in one program run, in order."""

    resources: list[Registration] = field(default_factory=list)

    def of_type(self, type_token: str) -> list[Registration]:
        return [resource for resource in self.resources if resource.type == type_token]

    def by_urn(self) -> dict[str, Registration]:
        return {resource.urn: resource for resource in self.resources}


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        return {}, []


class _CapturingMonitor(mocks.MockMonitor):
    def __init__(self, capture: Capture) -> None:
        super().__init__(_Mocks())
        self.capture = capture

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 - gRPC method name
        response = super().RegisterResource(request)
        inputs = _unwrap_secrets(rpc.deserialize_properties(request.object))
        self.capture.resources.append(
            Registration(
                type=request.type,
                name=request.name,
                inputs=inputs,
                raw=request.object,
                dependencies=list(request.dependencies),
                urn=response.urn,
            )
        )
        return response


def _unwrap_secrets(value: Any) -> Any:
    """Replace the engine's secret envelopes by their values, keeping the structure."""
    if isinstance(value, dict):
        if value.get(rpc._special_sig_key) == rpc._special_secret_sig:
            return _unwrap_secrets(value["value"])
        return {key: _unwrap_secrets(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_unwrap_secrets(item) for item in value]
    return value


def stack_values(servers: int = 3, agents: int = 5, password: str = PASSWORD) -> dict[str, Any]:
    nodes = [
        {"name": f"server-{index}", "host": f"10.0.0.{index}", "role": "server"}
        for index in range(1, servers + 1)
    ] + [
        {
            "name": f"agent-{index}",
            "host": f"10.0.1.{index}",
            "role": "agent",
            "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXk",
        }
        for index in range(1, agents + 1)
    ]
    return {
        "distribution": "k3s",
        "fingerprintKey": FINGERPRINT_KEY,
        "registries": {
            "mirrors": {
                "docker.io": {"endpoint": ["https://mirror.example.test"]},
                "registry.example.test": {"endpoint": ["https://registry.example.test"]},
            },
            "configs": {
                "mirror.example.test": {"auth": {"username": "robot", "password": password}},
                "registry.example.test": {
                    "auth": {"username": "robot2", "password": {"ref": "env:TEST_SECOND_PASSWORD"}}
                },
            },
        },
        "tls": {
            "registry.example.test": {
                "ca": "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
                "cert": "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n",
                "key": TLS_KEY,
            }
        },
        "nodes": nodes,
        "ssh": {"user": "deploy", "privateKey": SSH_KEY},
        "rollout": {"agentBatchSize": 2},
        "pullSecrets": {
            "namespaces": ["apps", "monitoring"],
            "registries": ["mirror.example.test"],
        },
    }


def run_program(values: dict[str, Any], tmp_path: Path) -> Capture:
    """Run the component under mocks and return what it registered."""
    capture = Capture()
    pulumi.runtime.set_mocks(
        _Mocks(),
        project="k3s-registries",
        stack="test",
        preview=False,
        monitor=_CapturingMonitor(capture),
    )
    settings = parse_settings(values, secret_keys=frozenset({"registries", "tls", "ssh"}))

    @pulumi.runtime.test  # type: ignore[misc]
    def program() -> pulumi.Output[Any]:
        deployment = RegistriesDeployment(
            "registries",
            RegistriesDeploymentArgs(settings=settings, resolver=Resolver(project_root=tmp_path)),
        )
        return deployment.masked_registries

    program()
    return capture


@pytest.fixture(autouse=True)
def _second_password(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TEST_SECOND_PASSWORD", "Zq8!second-password-from-env")
    yield


def _is_secret(raw_struct: Any, key: str) -> bool:
    value = raw_struct.fields[key]
    struct = value.struct_value
    return rpc._special_sig_key in struct.fields and (
        struct.fields[rpc._special_sig_key].string_value == rpc._special_secret_sig
    )


def _plain_text(registration: Registration) -> str:
    """Everything the engine would store in plain text for this resource."""
    plain = {
        key: value
        for key, value in registration.inputs.items()
        if key in registration.raw.fields and not _is_secret(registration.raw, key)
    }
    return json.dumps(plain, default=str)


def test_one_command_per_node(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)

    commands = capture.of_type(COMMAND_TYPE)

    assert len(commands) == 8
    assert sorted(command.name for command in commands) == sorted(
        [f"registries-server-{i}" for i in (1, 2, 3)]
        + [f"registries-agent-{i}" for i in range(1, 6)]
    )


def test_servers_chained_agents_batched(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)
    names = capture.by_urn()

    def depends_on(name: str) -> set[str]:
        command = next(c for c in capture.of_type(COMMAND_TYPE) if c.name == name)
        return {names[urn].name for urn in command.dependencies if urn in names}

    assert depends_on("registries-server-1") == set()
    assert depends_on("registries-server-2") == {"registries-server-1"}
    assert depends_on("registries-server-3") == {"registries-server-2"}
    assert depends_on("registries-agent-1") == {"registries-server-3"}
    assert depends_on("registries-agent-2") == {"registries-server-3"}
    assert depends_on("registries-agent-3") == {"registries-agent-1", "registries-agent-2"}
    assert depends_on("registries-agent-4") == {"registries-agent-1", "registries-agent-2"}
    assert depends_on("registries-agent-5") == {"registries-agent-3", "registries-agent-4"}


def test_stdin_is_secret(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)

    for command in capture.of_type(COMMAND_TYPE):
        assert _is_secret(command.raw, "stdin"), command.name
        assert PASSWORD in _decoded_payload(command.inputs["stdin"])


def test_no_secret_in_plain_inputs(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)

    for registration in capture.resources:
        plain = _plain_text(registration)
        for secret in SECRETS:
            assert secret not in plain, (registration.name, secret[:4])


def test_command_settings(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)

    for command in capture.of_type(COMMAND_TYPE):
        assert command.inputs["logging"] == "none"
        assert command.inputs["addPreviousOutputInEnv"] is False
        assert "environment" not in command.inputs
        assert "triggers" not in command.inputs


def test_masked_rendering_in_create(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)
    create = capture.of_type(COMMAND_TYPE)[0].inputs["create"]

    assert "mirror.example.test" in create
    assert "registry.example.test" in create
    assert "<secret" in create


def test_pull_secret_per_namespace(tmp_path: Path) -> None:
    capture = run_program(stack_values(), tmp_path)

    secrets = capture.of_type(SECRET_TYPE)

    assert sorted(secret.inputs["metadata"]["namespace"] for secret in secrets) == [
        "apps",
        "monitoring",
    ]
    for secret in secrets:
        assert secret.inputs["type"] == "kubernetes.io/dockerconfigjson"
        payload = base64.b64decode(secret.inputs["data"][".dockerconfigjson"]).decode()
        expected_auth = base64.b64encode(f"robot:{PASSWORD}".encode()).decode()
        assert payload == (
            '{"auths":{"mirror.example.test":{"username":"robot","password":"'
            + PASSWORD
            + '","auth":"'
            + expected_auth
            + '"}}}'
        )


def test_rotation_changes_only_carriers(tmp_path: Path) -> None:
    before = run_program(stack_values(), tmp_path)
    after = run_program(stack_values(password=ROTATED), tmp_path)

    rotated = {(resource.type, resource.name): resource for resource in after.resources}
    assert set(rotated) == {(resource.type, resource.name) for resource in before.resources}
    changed = {
        resource.name
        for resource in before.resources
        if resource.inputs != rotated[(resource.type, resource.name)].inputs
    }
    commands = {command.name for command in before.of_type(COMMAND_TYPE)}
    secrets = {secret.name for secret in before.of_type(SECRET_TYPE)}
    assert changed == commands | secrets

    for old in before.of_type(COMMAND_TYPE):
        new = rotated[(old.type, old.name)]
        assert old.inputs["stdin"] != new.inputs["stdin"]
        assert old.inputs["create"] != new.inputs["create"]
        assert ROTATED not in new.inputs["create"]
        assert old.inputs["connection"] == new.inputs["connection"]


def test_adding_node_adds_one_command(tmp_path: Path) -> None:
    before = run_program(stack_values(agents=5), tmp_path)
    after = run_program(stack_values(agents=6), tmp_path)

    before_names = {resource.name for resource in before.resources}
    after_names = {resource.name for resource in after.resources}
    assert after_names - before_names == {"registries-agent-6"}
    assert before_names - after_names == set()
    unchanged = [
        (old.name, old.inputs == new.inputs)
        for old in before.of_type(COMMAND_TYPE)
        for new in after.of_type(COMMAND_TYPE)
        if old.name == new.name
    ]
    assert all(same for _, same in unchanged)


def test_sudo_for_non_root_user(tmp_path: Path) -> None:
    values = stack_values()
    capture = run_program(values, tmp_path)
    assert all("sudo -n" in c.inputs["create"] for c in capture.of_type(COMMAND_TYPE))

    root_values = copy.deepcopy(values)
    root_values["ssh"]["user"] = "root"
    root_capture = run_program(root_values, tmp_path)
    assert all("sudo -n" not in c.inputs["create"] for c in root_capture.of_type(COMMAND_TYPE))


def _decoded_payload(stdin: str) -> str:
    """Decode every base64 run in the payload, so a test can look for a value inside."""
    decoded = [stdin]
    for token in stdin.split():
        try:
            decoded.append(base64.b64decode(token, validate=True).decode(errors="replace"))
        except ValueError:
            continue
    return "\n".join(decoded)
