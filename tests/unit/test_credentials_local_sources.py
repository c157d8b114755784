"""Pulumi config, environment and file references, resolved through the resolver."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pulumi
import pytest

from components.credentials import (
    FailureKind,
    PulumiConfigSource,
    Resolver,
    SecretError,
)
from components.credentials.files import MAX_FILE_BYTES
from components.model import SecretRef

PROJECT = "k3s-registries"
KEY = "registries.configs.registry.example.test.auth.password"


def resolve(resolver: Resolver, text: str) -> str:
    return resolver.resolve_text(SecretRef(text), KEY)


def failure(resolver: Resolver, text: str) -> SecretError:
    with pytest.raises(SecretError) as caught:
        resolve(resolver, text)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert KEY in str(error)
    assert text in str(error)
    return error


@pytest.fixture
def resolver(tmp_path: Path) -> Resolver:
    return Resolver(project_root=tmp_path, project=PROJECT)


@pytest.fixture
def runtime_config() -> Iterator[None]:
    """Leave the Pulumi runtime's config and secret keys empty after the test."""
    pulumi.runtime.set_all_config({}, [])
    yield
    pulumi.runtime.set_all_config({}, [])


# Literals.


def test_literal_passes_through(resolver: Resolver) -> None:
    assert resolver.resolve_text("literal-password", KEY) == "literal-password"
    assert resolver.fetch_count == 0


def test_non_text_value_rejected(resolver: Resolver) -> None:
    with pytest.raises(TypeError, match=KEY):
        resolver.resolve_text(42, KEY)  # type: ignore[arg-type]


# Environment variables.


def test_env_value(resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", "env-s3cr3t")

    assert resolve(resolver, "env:TEST_REGISTRY_PASSWORD") == "env-s3cr3t"


def test_env_value_kept_as_is(resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", " spaced value\n")

    assert resolve(resolver, "env:TEST_REGISTRY_PASSWORD") == " spaced value\n"


def test_env_not_set(resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_REGISTRY_PASSWORD", raising=False)
    error = failure(resolver, "env:TEST_REGISTRY_PASSWORD")

    assert error.kind is FailureKind.NOT_FOUND
    assert "TEST_REGISTRY_PASSWORD is not set" in str(error)


def test_env_empty(resolver: Resolver, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_REGISTRY_PASSWORD", "")

    assert failure(resolver, "env:TEST_REGISTRY_PASSWORD").kind is FailureKind.EMPTY_VALUE


# Files.


def test_file_relative_to_project_root(
    resolver: Resolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "password").write_text("file-s3cr3t")
    monkeypatch.chdir("/")

    assert resolve(resolver, "file:secrets/password") == "file-s3cr3t"


def test_file_absolute_path(resolver: Resolver, tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("file-s3cr3t")

    assert resolve(resolver, f"file:{path}") == "file-s3cr3t"


def test_file_home_directory(
    resolver: Resolver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "password").write_text("home-s3cr3t")

    assert resolve(resolver, "file:~/password") == "home-s3cr3t"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"token\n", "token"),
        (b"token\r\n", "token"),
        (b"token\n\n", "token\n"),
        (b"token", "token"),
        (b"  token with spaces  ", "  token with spaces  "),
        (b"line one\nline two\n", "line one\nline two"),
        ("pässwört\n".encode(), "pässwört"),
    ],
)
def test_file_strips_one_line_ending(
    resolver: Resolver, tmp_path: Path, content: bytes, expected: str
) -> None:
    (tmp_path / "password").write_bytes(content)

    assert resolve(resolver, "file:password") == expected


def test_file_not_found(resolver: Resolver) -> None:
    error = failure(resolver, "file:secrets/absent")

    assert error.kind is FailureKind.NOT_FOUND
    assert "does not exist" in str(error)


def test_file_is_directory(resolver: Resolver, tmp_path: Path) -> None:
    (tmp_path / "folder").mkdir()
    error = failure(resolver, "file:folder")

    assert error.kind is FailureKind.UNREADABLE
    assert "EISDIR" in str(error)


def test_file_parent_not_directory(resolver: Resolver, tmp_path: Path) -> None:
    (tmp_path / "password").write_text("file-s3cr3t")
    error = failure(resolver, "file:password/inner")

    assert error.kind is FailureKind.UNREADABLE
    assert "ENOTDIR" in str(error)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of their mode")
def test_file_permission_denied(resolver: Resolver, tmp_path: Path) -> None:
    path = tmp_path / "locked"
    path.write_text("locked-s3cr3t")
    path.chmod(0)
    error = failure(resolver, "file:locked")

    assert error.kind is FailureKind.UNREADABLE
    assert "EACCES" in str(error)


def test_file_not_utf8(resolver: Resolver, tmp_path: Path) -> None:
    (tmp_path / "binary").write_bytes(b"\xff\xfe\x00s3cr3t")
    error = failure(resolver, "file:binary")

    assert error.kind is FailureKind.NOT_TEXT
    assert "s3cr3t" not in str(error)


def test_file_too_large(resolver: Resolver, tmp_path: Path) -> None:
    (tmp_path / "huge").write_bytes(b"x" * (MAX_FILE_BYTES + 1))

    assert failure(resolver, "file:huge").kind is FailureKind.UNREADABLE


def test_file_empty(resolver: Resolver, tmp_path: Path) -> None:
    (tmp_path / "empty").write_bytes(b"\n")

    assert failure(resolver, "file:empty").kind is FailureKind.EMPTY_VALUE


# Pulumi config.


def test_config_from_runtime(resolver: Resolver, runtime_config: None) -> None:
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:registryPassword": "config-s3cr3t"}, [f"{PROJECT}:registryPassword"]
    )

    assert resolve(resolver, "config:registryPassword") == "config-s3cr3t"
    assert resolve(resolver, f"config:{PROJECT}:registryPassword") == "config-s3cr3t"
    assert resolver.fetch_count == 1


def test_config_from_engine_environment(
    resolver: Resolver, runtime_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The language host passes config as JSON in PULUMI_CONFIG and the secret
    # keys in PULUMI_CONFIG_SECRET_KEYS.
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps({"shared:mirrorToken": "engine-s3cr3t"}))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(["shared:mirrorToken"]))

    assert resolve(resolver, "config:shared:mirrorToken") == "engine-s3cr3t"


def test_config_default_namespace_is_project(
    tmp_path: Path, runtime_config: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pulumi, "get_project", lambda: "other-project")
    pulumi.runtime.set_all_config(
        {"other-project:token": "project-s3cr3t"}, ["other-project:token"]
    )

    assert resolve(Resolver(project_root=tmp_path), "config:token") == "project-s3cr3t"


def test_config_key_missing(resolver: Resolver, runtime_config: None) -> None:
    error = failure(resolver, "config:registryPassword")

    assert error.kind is FailureKind.NOT_FOUND
    assert f"pulumi config set --secret {PROJECT}:registryPassword" in str(error)


def test_config_not_secret_warns(
    resolver: Resolver, runtime_config: None, caplog: pytest.LogCaptureFixture
) -> None:
    pulumi.runtime.set_all_config({f"{PROJECT}:registryPassword": "plain-s3cr3t"}, [])

    assert resolve(resolver, "config:registryPassword") == "plain-s3cr3t"
    assert "is not a secret" in caplog.text
    assert "plain-s3cr3t" not in caplog.text


def test_config_secret_does_not_warn(
    resolver: Resolver, runtime_config: None, caplog: pytest.LogCaptureFixture
) -> None:
    pulumi.runtime.set_all_config(
        {f"{PROJECT}:registryPassword": "config-s3cr3t"}, [f"{PROJECT}:registryPassword"]
    )
    resolve(resolver, "config:registryPassword")

    assert "is not a secret" not in caplog.text


def test_config_empty(resolver: Resolver, runtime_config: None) -> None:
    pulumi.runtime.set_all_config({f"{PROJECT}:blank": ""}, [f"{PROJECT}:blank"])

    assert failure(resolver, "config:blank").kind is FailureKind.EMPTY_VALUE


def test_config_custom_lookup(tmp_path: Path) -> None:
    values = {"cli:token": "cli-s3cr3t"}
    source = PulumiConfigSource(project="cli", lookup=values.get, is_secret=lambda _key: True)
    resolver = Resolver(project_root=tmp_path, sources=[source])

    assert resolve(resolver, "config:token") == "cli-s3cr3t"


def test_config_value_not_text(tmp_path: Path) -> None:
    source = PulumiConfigSource(project="cli", lookup={"cli:port": 5000}.get)
    resolver = Resolver(project_root=tmp_path, sources=[source])

    assert failure(resolver, "config:port").kind is FailureKind.NOT_TEXT
