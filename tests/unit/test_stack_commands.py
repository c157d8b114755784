"""The CLI's --stack commands on a stack file in a temporary project."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import cli_runner
import pytest

PASSWORD = "Zq8!stack-command-password"

STACK = """\
config:
  k3s-registries:fingerprintKey:
    ref: env:TEST_FINGERPRINT_KEY
  k3s-registries:registries:
    mirrors:
      docker.io:
        endpoint: [https://mirror.example.test]
    configs:
      mirror.example.test:
        auth:
          username: robot
          password:
            ref: env:TEST_REGISTRY_PASSWORD
  k3s-registries:tls:
    mirror.example.test:
      ca:
        ref: file:ca.pem
  k3s-registries:nodes:
    - {name: s1, host: 127.0.0.1, role: server}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "Pulumi.yaml").write_text("name: k3s-registries\nruntime: python\n")
    (tmp_path / "stacks").mkdir()
    (tmp_path / "stacks" / "Pulumi.test.yaml").write_text(STACK)
    (tmp_path / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
    return tmp_path


def run_cli(
    project: Path, *args: str, password: str | None = PASSWORD
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("TEST_")}
    env["TEST_FINGERPRINT_KEY"] = "stack-command-fingerprint-key"
    if password is not None:
        env["TEST_REGISTRY_PASSWORD"] = password
    return cli_runner.run_cli(*args, "--project", str(project), env=env)


def test_validate_stack_valid(project: Path) -> None:
    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "stack test: valid, 1 node" in result.stdout


def test_validate_stack_missing_reference(project: Path) -> None:
    result = run_cli(project, "validate", "--stack", "test", password=None)

    assert result.returncode == 1
    assert "TEST_REGISTRY_PASSWORD" in result.stdout
    assert "configs" in result.stdout


def test_render_stack_masked_by_default(project: Path) -> None:
    result = run_cli(project, "render", "--stack", "test")

    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert "<secret fp:" in result.stdout
    assert "/etc/rancher/k3s/certs/mirror.example.test/ca.crt" in result.stdout


def test_render_stack_fingerprint_changes_with_value(project: Path) -> None:
    first = run_cli(project, "render", "--stack", "test")
    again = run_cli(project, "render", "--stack", "test")
    rotated = run_cli(project, "render", "--stack", "test", password=PASSWORD + "-rotated")

    assert first.stdout == again.stdout
    assert first.stdout != rotated.stdout


def test_render_stack_show_secrets(project: Path) -> None:
    result = run_cli(project, "render", "--stack", "test", "--show-secrets")

    assert result.returncode == 0, result.stderr
    assert f'"password": "{PASSWORD}"' in result.stdout


def test_unknown_stack_lists_known(project: Path) -> None:
    result = run_cli(project, "validate", "--stack", "prod")

    assert result.returncode == 1
    assert "stack file not found" in result.stdout
    assert "known stacks: test" in result.stdout


def test_stack_and_file_rejected(project: Path) -> None:
    result = run_cli(project, "validate", "--stack", "test", str(project / "ca.pem"))

    assert result.returncode == 2
    assert "not both" in result.stderr


def test_encrypted_value_needs_cli(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    stack.write_text(stack.read_text() + "  k3s-registries:sshKey:\n    secure: v1:AAAA\n")
    monkeypatch.setenv("PATH", "/nonexistent")

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert "k3s-registries:sshKey" in result.stdout
    assert "Pulumi CLI is not on PATH" in result.stdout


def test_validate_stack_resolves_ssh_keys(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    stack.write_text(
        stack.read_text() + "  k3s-registries:ssh:\n    privateKey:\n      ref: file:keys/missing\n"
    )

    result = run_cli(project, "validate", "--stack", "test", password=None)

    assert result.returncode == 1
    assert "ssh.privateKey" in result.stdout or "privateKey" in result.stdout
    assert "keys/missing" in result.stdout
    assert "TEST_REGISTRY_PASSWORD" in result.stdout


def test_masked_and_show_secrets_rejected(project: Path) -> None:
    result = run_cli(project, "render", "--stack", "test", "--masked", "--show-secrets")

    assert result.returncode == 2
    assert PASSWORD not in result.stdout


def test_stack_yaml_error_hides_line(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    text = stack.read_text().replace(
        "password:\n            ref: env:TEST_REGISTRY_PASSWORD", "password: Zq8leak: x"
    )
    stack.write_text(text)

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert "Zq8leak" not in result.stdout + result.stderr
    assert "Pulumi.test.yaml: line" in result.stdout


def test_mistyped_reference_key_not_echoed(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    stack.write_text(stack.read_text().replace("ref: env:TEST_REGISTRY_PASSWORD", "Zq8leak: x"))

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert "Zq8leak" not in result.stdout + result.stderr
    assert "takes only the key 'ref'" in result.stdout


def test_stack_duplicate_key_rejected(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    stack.write_text(stack.read_text() + "  k3s-registries:fingerprintKey: other\n")

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert "duplicate key 'k3s-registries:fingerprintKey'" in result.stdout


def test_unknown_home_in_file_reference(project: Path) -> None:
    stack = project / "stacks" / "Pulumi.test.yaml"
    stack.write_text(stack.read_text().replace("file:ca.pem", "file:~nosuchuser-k3s/ca.pem"))

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert "home directory that does not exist" in result.stdout


def test_tls_content_must_be_pem(project: Path) -> None:
    (project / "ca.pem").write_text("not a certificate")

    result = run_cli(project, "validate", "--stack", "test")

    assert result.returncode == 1
    assert 'k3s-registries:tls."mirror.example.test".ca: does not hold a PEM certificate' in (
        result.stdout
    )
