"""AWS references resolved over real HTTP, against a moto server on loopback.

The resolver reaches the server the way the program reaches AWS: boto3's
standard settings chain, with the endpoint taken from ``AWS_ENDPOINT_URL``
(read by boto3 >= 1.28). Fake credentials, empty AWS config files and
``AWS_EC2_METADATA_DISABLED=true`` keep every request on loopback.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import boto3
import pytest

from components.credentials import FailureKind, Resolver, SecretError
from components.model import Auth, Registries, RegistryConfig, SecretRef

pytestmark = pytest.mark.integration


@pytest.fixture
def endpoint(moto_server: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """Point boto3's settings chain at the moto server, with fake credentials."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_server)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    return moto_server


def resolve(text: str, tmp_path: Path) -> str:
    return Resolver(project_root=tmp_path).resolve_text(SecretRef(text), "registries")


def registries(username: str, password: str) -> Registries:
    auth = Auth(username=SecretRef(username), password=SecretRef(password))
    return Registries(configs={"registry.example.test": RegistryConfig(auth=auth)})


def test_endpoint_is_the_moto_server(endpoint: str) -> None:
    client: Any = boto3.client("secretsmanager")

    assert client.meta.endpoint_url == endpoint


def test_secrets_manager_registries(endpoint: str, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(
        Name="prod/registry",
        SecretString=json.dumps({"username": "robot", "password": "http-s3cr3t"}),
    )
    resolver = Resolver(project_root=tmp_path)

    resolved = resolver.resolve_registries_text(
        registries("aws-sm:prod/registry#username", "aws-sm:prod/registry#password"), "registries"
    )

    assert resolved.configs["registry.example.test"].auth == Auth(
        username="robot", password="http-s3cr3t"
    )
    assert resolver.fetch_count == 1


def test_secrets_manager_rotation(endpoint: str, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager")
    first = client.create_secret(Name="rotated", SecretString='{"password": "before"}')
    assert resolve("aws-sm:rotated#password", tmp_path) == "before"

    client.put_secret_value(SecretId="rotated", SecretString='{"password": "after"}')

    assert resolve("aws-sm:rotated#password", tmp_path) == "after"
    assert resolve(f"aws-sm:rotated#password?version-id={first['VersionId']}", tmp_path) == "before"
    assert resolve("aws-sm:rotated#password?version-stage=AWSPREVIOUS", tmp_path) == "before"


def test_secrets_manager_not_found(endpoint: str, tmp_path: Path) -> None:
    with pytest.raises(SecretError) as caught:
        resolve("aws-sm:absent", tmp_path)

    assert caught.value.kind is FailureKind.NOT_FOUND
    assert "ResourceNotFoundException" in str(caught.value)


def test_ssm_rotation(endpoint: str, tmp_path: Path) -> None:
    client = boto3.client("ssm")
    client.put_parameter(Name="/prod/registry", Value="before", Type="SecureString")
    assert resolve("aws-ssm:/prod/registry", tmp_path) == "before"

    client.put_parameter(Name="/prod/registry", Value="after", Type="SecureString", Overwrite=True)
    client.label_parameter_version(Name="/prod/registry", ParameterVersion=1, Labels=["previous"])

    assert resolve("aws-ssm:/prod/registry", tmp_path) == "after"
    assert resolve("aws-ssm:/prod/registry?version=1", tmp_path) == "before"
    assert resolve("aws-ssm:/prod/registry?version=2", tmp_path) == "after"
    assert resolve("aws-ssm:/prod/registry?label=previous", tmp_path) == "before"


def test_ssm_version_not_found(endpoint: str, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/prod/registry", Value="v", Type="SecureString")

    with pytest.raises(SecretError) as caught:
        resolve("aws-ssm:/prod/registry?version=5", tmp_path)

    assert caught.value.kind is FailureKind.NOT_FOUND


def test_response_bodies_hidden_over_http(
    endpoint: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("secretsmanager").create_secret(Name="logged", SecretString="CANARY-http-51d7")
    boto3.client("ssm").put_parameter(Name="/logged", Value="CANARY-http-8e02", Type="SecureString")
    caplog.clear()
    caplog.set_level(logging.DEBUG)

    assert resolve("aws-sm:logged", tmp_path) == "CANARY-http-51d7"
    assert resolve("aws-ssm:/logged", tmp_path) == "CANARY-http-8e02"

    messages = "\n".join(record.getMessage() for record in caplog.records)
    assert "Response body" in messages
    assert "CANARY-http" not in messages
