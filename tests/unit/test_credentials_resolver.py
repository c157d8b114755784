"""The resolver: one fetch per distinct reference, Pulumi secrets, and no value in logs or reprs."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pulumi
import pytest
from moto import mock_aws

from components.credentials import (
    FailureKind,
    FetchError,
    ParsedReference,
    Resolver,
    SecretError,
)
from components.model import Auth, Mirror, Registries, RegistryConfig, SecretRef

PROJECT = "k3s-registries"


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials and region, with moto in-process serving every AWS call."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        yield


class _Mocks(pulumi.runtime.Mocks):
    def new_resource(self, args: pulumi.runtime.MockResourceArgs) -> tuple[str, dict[str, Any]]:
        return f"{args.name}-id", dict(args.inputs)

    def call(self, args: pulumi.runtime.MockCallArgs) -> tuple[dict[str, Any], list[Any]]:
        return {}, []


def settle(make_output: Callable[[], pulumi.Output[Any]]) -> tuple[bool, Any]:
    """Create an output under Pulumi mocks and return whether it is secret, and its value."""
    pulumi.runtime.set_mocks(_Mocks(), project=PROJECT, stack="test", preview=False)
    result: dict[str, tuple[bool, Any]] = {}

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[None]:
        output = make_output()

        async def read() -> tuple[bool, Any]:
            return await output.is_secret(), await output.future()

        pair: pulumi.Output[tuple[bool, Any]] = pulumi.Output.from_input(read())
        return pair.apply(lambda value: result.update(pair=value))

    program()
    return result["pair"]


def registries_with(auths: dict[str, Auth]) -> Registries:
    return Registries(
        mirrors={"docker.io": Mirror(endpoints=("https://mirror.example.test",))},
        configs={host: RegistryConfig(auth=auth) for host, auth in auths.items()},
    )


@dataclass(frozen=True)
class MemoryTarget:
    name: str


class MemorySource:
    """An in-memory store, standing in for a new store module."""

    scheme = "memory"
    example = "memory:NAME"

    def __init__(self, values: dict[str, str]) -> None:
        self._values = values

    def parse(self, body: str) -> ParsedReference[MemoryTarget]:
        return ParsedReference(MemoryTarget(body))

    def fetch(self, target: MemoryTarget) -> str:
        if target.name not in self._values:
            raise FetchError(FailureKind.NOT_FOUND, f"{target.name} is not stored")
        return self._values[target.name]


# Fetch counting and caching.


def test_fifty_references_three_fetches(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="app/registry", SecretString=json.dumps({"username": "robot", "password": "pw-1"})
    )
    boto3.client("ssm").put_parameter(Name="/app/token", Value="token-2", Type="SecureString")
    monkeypatch.setenv("APP_MIRROR_PASSWORD", "pw-3")
    texts = [
        "aws-sm:app/registry#username",
        "aws-sm:app/registry#password",
        "aws-sm:app/registry",
        "aws-ssm:/app/token",
        "env:APP_MIRROR_PASSWORD",
    ]
    resolver = Resolver(project_root=tmp_path, project=PROJECT)

    values = [
        resolver.resolve_text(SecretRef(texts[index % 5]), f"k{index}") for index in range(50)
    ]

    assert len(values) == 50
    assert set(values) == {
        "robot",
        "pw-1",
        json.dumps({"username": "robot", "password": "pw-1"}),
        "token-2",
        "pw-3",
    }
    assert resolver.fetch_count == 3
    assert resolver.fetch_counts == {"aws-sm": 1, "aws-ssm": 1, "env": 1}


def test_registries_share_fetches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHARED_USER", "robot")
    monkeypatch.setenv("SHARED_PASSWORD", "pw-shared")
    auth = Auth(username=SecretRef("env:SHARED_USER"), password=SecretRef("env:SHARED_PASSWORD"))
    registries = registries_with({f"registry-{index}.example.test": auth for index in range(25)})
    resolver = Resolver(project_root=tmp_path)

    resolved = resolver.resolve_registries_text(registries)

    assert resolver.fetch_count == 2
    assert all(
        config.auth == Auth(username="robot", password="pw-shared")
        for config in resolved.configs.values()
    )


def test_failed_fetch_not_repeated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSENT_PASSWORD", raising=False)
    resolver = Resolver(project_root=tmp_path)

    for index in range(5):
        with pytest.raises(SecretError) as caught:
            resolver.resolve_text(SecretRef("env:ABSENT_PASSWORD"), f"key{index}")
        assert f"key{index}" in str(caught.value)

    assert resolver.fetch_count == 1


def test_distinct_pins_fetch_separately(aws: None, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="rotated", SecretString="old")
    client.put_secret_value(SecretId="rotated", SecretString="new")
    resolver = Resolver(project_root=tmp_path)

    current = resolver.resolve_text(SecretRef("aws-sm:rotated?version-stage=AWSCURRENT"), "a")
    previous = resolver.resolve_text(SecretRef("aws-sm:rotated?version-stage=AWSPREVIOUS"), "b")

    assert (current, previous) == ("new", "old")
    assert resolver.fetch_count == 2


def test_new_resolver_reads_store_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROTATING", "first")
    assert Resolver(project_root=tmp_path).resolve_text(SecretRef("env:ROTATING"), "k") == "first"

    monkeypatch.setenv("ROTATING", "second")

    assert Resolver(project_root=tmp_path).resolve_text(SecretRef("env:ROTATING"), "k") == "second"


# Registries.


def test_registries_text_resolves_references(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MIRROR_PASSWORD", "pw-mirror")
    (tmp_path / "token").write_text("token-file\n")
    registries = registries_with(
        {
            "mirror.example.test": Auth(
                username="robot", password=SecretRef("env:MIRROR_PASSWORD")
            ),
            "ghcr.example.test": Auth(identity_token=SecretRef("file:token")),
            "open.example.test": Auth(),
        }
    )

    resolved = Resolver(project_root=tmp_path).resolve_registries_text(registries, "registries")

    assert resolved.mirrors == registries.mirrors
    assert resolved.configs["mirror.example.test"].auth == Auth(
        username="robot", password="pw-mirror"
    )
    assert resolved.configs["ghcr.example.test"].auth == Auth(identity_token="token-file")
    assert resolved.configs["open.example.test"].auth == Auth()
    assert not resolved.has_references()


def test_registries_text_reports_every_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ABSENT_ONE", raising=False)
    registries = registries_with(
        {
            "a.example.test": Auth(username="robot", password=SecretRef("env:ABSENT_ONE")),
            "b.example.test": Auth(username="robot", password=SecretRef("file:absent")),
        }
    )

    with pytest.raises(SecretError) as caught:
        Resolver(project_root=tmp_path).resolve_registries_text(registries, "registries")

    keys = [failure.key for failure in caught.value.failures]
    assert keys == [
        'registries.configs."a.example.test".auth.password',
        'registries.configs."b.example.test".auth.password',
    ]
    assert 'registries.configs."a.example.test".auth.password' in str(caught.value)
    assert "env:ABSENT_ONE" in str(caught.value)


def test_registries_equal_across_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STABLE_PASSWORD", "pw-stable")
    monkeypatch.setenv("ROTATED_PASSWORD", "pw-before")
    registries = registries_with(
        {
            "stable.example.test": Auth(username="u", password=SecretRef("env:STABLE_PASSWORD")),
            "rotated.example.test": Auth(username="u", password=SecretRef("env:ROTATED_PASSWORD")),
        }
    )
    first = Resolver(project_root=tmp_path).resolve_registries_text(registries)
    again = Resolver(project_root=tmp_path).resolve_registries_text(registries)

    monkeypatch.setenv("ROTATED_PASSWORD", "pw-after")
    rotated = Resolver(project_root=tmp_path).resolve_registries_text(registries)

    assert first == again
    assert rotated.configs["stable.example.test"] == first.configs["stable.example.test"]
    assert rotated.configs["rotated.example.test"] != first.configs["rotated.example.test"]


# Pulumi outputs.


def test_output_of_reference_is_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTPUT_PASSWORD", "pw-output")
    resolver = Resolver(project_root=tmp_path)

    is_secret, value = settle(
        lambda: resolver.resolve_output(SecretRef("env:OUTPUT_PASSWORD"), "k")
    )

    assert is_secret
    assert value == "pw-output"


def test_output_of_literal_is_secret(tmp_path: Path) -> None:
    resolver = Resolver(project_root=tmp_path)

    is_secret, value = settle(lambda: resolver.resolve_output("literal-password", "k"))

    assert is_secret
    assert value == "literal-password"


def test_output_fails_before_output_exists(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ABSENT_PASSWORD", raising=False)
    resolver = Resolver(project_root=tmp_path)

    with pytest.raises(SecretError) as caught:
        resolver.resolve_output(SecretRef("env:ABSENT_PASSWORD"), "ssh.privateKey")

    assert caught.value.kind is FailureKind.NOT_FOUND
    assert "ssh.privateKey" in str(caught.value)


def test_registries_output_is_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OUTPUT_PASSWORD", "pw-output")
    registries = registries_with(
        {"mirror.example.test": Auth(username="u", password=SecretRef("env:OUTPUT_PASSWORD"))}
    )
    resolver = Resolver(project_root=tmp_path)

    is_secret, value = settle(lambda: resolver.resolve_registries(registries, "registries"))

    assert is_secret
    assert isinstance(value, Registries)
    assert value.configs["mirror.example.test"].auth == Auth(username="u", password="pw-output")


# Sources.


def test_added_source_resolves_its_scheme(tmp_path: Path) -> None:
    resolver = Resolver(project_root=tmp_path, sources=[MemorySource({"mirror": "pw-memory"})])

    assert "memory" in resolver.schemes
    assert resolver.resolve_text(SecretRef("memory:mirror"), "k") == "pw-memory"
    with pytest.raises(SecretError) as caught:
        resolver.resolve_text(SecretRef("memory:absent"), "k")
    assert caught.value.kind is FailureKind.NOT_FOUND


def test_added_source_replaces_same_scheme(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    source = MemorySource({"TOKEN": "from-memory"})
    source.scheme = "env"
    monkeypatch.setenv("TOKEN", "from-environment")

    resolver = Resolver(project_root=tmp_path, sources=[source])

    assert resolver.resolve_text(SecretRef("env:TOKEN"), "k") == "from-memory"


# No value in logs, errors or reprs.

NUMBER_CANARY = 918273645
CANARIES = {
    "sm_password": "CANARY-sm-password-4c1e",
    "sm_user": "CANARY-sm-user-9d2f",
    "sm_other": "CANARY-sm-other-77b0",
    "sm_plain": "CANARY-sm-plain-0a63",
    "sm_binary": "CANARY-sm-binary-5e81",
    "ssm_secure": "CANARY-ssm-secure-3f9a",
    "ssm_list": "CANARY-ssm-list-a,CANARY-ssm-list-b",
    "env": "CANARY-env-6b24",
    "file": "CANARY-file-12cd",
    "literal": "CANARY-literal-e5f7",
    "config": "CANARY-config-8a31",
}


def test_no_value_in_logs_errors_or_reprs(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    secretsmanager = boto3.client("secretsmanager")
    secretsmanager.create_secret(
        Name="leak/json",
        SecretString=json.dumps(
            {
                "username": CANARIES["sm_user"],
                "password": CANARIES["sm_password"],
                "other": CANARIES["sm_other"],
                "number": NUMBER_CANARY,
            }
        ),
    )
    secretsmanager.create_secret(Name="leak/plain", SecretString=CANARIES["sm_plain"])
    secretsmanager.create_secret(Name="leak/binary", SecretBinary=CANARIES["sm_binary"].encode())
    ssm = boto3.client("ssm")
    ssm.put_parameter(Name="/leak/secure", Value=CANARIES["ssm_secure"], Type="SecureString")
    ssm.put_parameter(Name="/leak/list", Value=CANARIES["ssm_list"], Type="StringList")
    monkeypatch.setenv("LEAK_ENV", CANARIES["env"])
    (tmp_path / "leak").write_text(CANARIES["file"])
    pulumi.runtime.set_all_config({f"{PROJECT}:leak": CANARIES["config"]}, [])
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    resolver = Resolver(project_root=tmp_path, project=PROJECT)
    registries = registries_with(
        {
            "sm.example.test": Auth(
                username=SecretRef("aws-sm:leak/json#username"),
                password=SecretRef("aws-sm:leak/json#password"),
            ),
            "ssm.example.test": Auth(username="robot", password=SecretRef("aws-ssm:/leak/secure")),
            "env.example.test": Auth(username="robot", password=SecretRef("env:LEAK_ENV")),
            "file.example.test": Auth(identity_token=SecretRef("file:leak")),
            "config.example.test": Auth(auth=SecretRef("config:leak")),
            "literal.example.test": Auth(username="robot", password=CANARIES["literal"]),
        }
    )
    try:
        resolved = resolver.resolve_registries_text(registries, "registries")
        plain = resolver.resolve_text(SecretRef("aws-sm:leak/plain"), "plain")
        errors: list[SecretError] = []
        for text in (
            "aws-sm:leak/json#absent",
            "aws-sm:leak/plain#password",
            "aws-sm:leak/json#number",
            "aws-sm:leak/binary",
            "aws-ssm:/leak/list",
        ):
            with pytest.raises(SecretError) as caught:
                resolver.resolve_text(SecretRef(text), "failing")
            errors.append(caught.value)
    finally:
        pulumi.runtime.set_all_config({}, [])

    # The resolution worked, so the canaries passed through the code under test.
    assert plain == CANARIES["sm_plain"]
    assert resolved.configs["sm.example.test"].auth == Auth(
        username=CANARIES["sm_user"], password=CANARIES["sm_password"]
    )
    assert resolved.configs["config.example.test"].auth == Auth(auth=CANARIES["config"])
    # botocore logged response bodies at DEBUG, and they were hidden.
    assert any("Response body" in record.getMessage() for record in caplog.records)

    texts = [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    texts += [str(error) for error in errors] + [repr(error) for error in errors]
    texts += [repr(failure) for error in errors for failure in error.failures]
    texts += [repr(resolver), repr(resolved), str(resolved)]
    texts += [
        repr(resolver.parse(SecretRef(text).uri, "k"))
        for text in ("aws-sm:leak/json#password", "env:LEAK_ENV")
    ]
    texts += [repr(source) for source in resolver._sources.values()]
    joined = "\n".join(texts)
    assert str(NUMBER_CANARY) not in joined
    for name, canary in CANARIES.items():
        assert canary not in joined, name
    for part in CANARIES["ssm_list"].split(","):
        assert part not in joined
