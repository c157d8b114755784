"""The command line, run as ``python -m components``: outputs, help and exit statuses."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from cli_runner import run_cli

from components.fingerprint import fingerprint

PASSWORD = "Pa$$w0rd: #1 <&>"

VALID = """\
mirrors:
  docker.io:
    endpoint: [https://mirror.example.test]
configs:
  mirror.example.test:
    auth:
      username: robot
      password: "Pa$$w0rd: #1 <&>"
"""

WARNING = """\
mirrors:
  docker.io:
    endpoint: [https://mirror.example.test, https://mirror.example.test]
"""

INVALID = """\
mirrors:
  docker.io:
    endpoints: [https://mirror.example.test]
configs:
  mirror.example.test:
    auth: {auth: not-base64-token}
"""


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, text in (("valid", VALID), ("warning", WARNING), ("invalid", INVALID)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(text, encoding="utf-8")
        paths[name] = path
    return paths


# ------------------------------------------------------------------ validate


def test_validate_valid(files: dict[str, Path]) -> None:
    completed = run_cli("validate", str(files["valid"]))

    assert completed.returncode == 0
    assert completed.stdout == f"{files['valid']}: valid\n"


def test_validate_warning_lines(files: dict[str, Path]) -> None:
    completed = run_cli("validate", str(files["warning"]))

    lines = completed.stdout.splitlines()
    assert completed.returncode == 0
    assert lines[0].startswith(f"{files['warning']}: warning: ")
    assert lines[-1] == f"{files['warning']}: valid, 1 warning"


def test_validate_error_lines(files: dict[str, Path]) -> None:
    completed = run_cli("validate", str(files["invalid"]))

    error_lines = [line for line in completed.stdout.splitlines() if ": error: " in line]
    assert completed.returncode == 1
    assert len(error_lines) == 2
    assert "not-base64-token" not in completed.stdout


def test_validate_several_files(files: dict[str, Path]) -> None:
    completed = run_cli(
        "validate", str(files["valid"]), str(files["invalid"]), str(files["warning"])
    )

    assert completed.returncode == 1
    assert f"{files['valid']}: valid" in completed.stdout
    assert f"{files['invalid']}: invalid, 2 errors" in completed.stdout


def test_validate_missing_file(tmp_path: Path) -> None:
    completed = run_cli("validate", str(tmp_path / "absent.yaml"))

    assert completed.returncode == 2
    assert "absent.yaml: error: cannot read" in completed.stdout


def test_validate_reads_other_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("mirrors:\n  docker.io:\n    endpoint: [https://m.example.test]\n")

    completed = run_cli("validate", str(tmp_path / "absent.yaml"), str(good))

    assert completed.returncode == 2
    assert "good.yaml: valid" in completed.stdout


def test_validate_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(
        "configs: {h.example.test: {auth: {username: r, password: \xe9}}}".encode("latin-1")
    )

    completed = run_cli("validate", str(path))

    assert completed.returncode == 2
    assert "not UTF-8" in completed.stdout


def test_validate_stdin() -> None:
    completed = run_cli("validate", "-", stdin=WARNING)

    assert completed.returncode == 0
    assert "-: warning: " in completed.stdout


def test_validate_yaml_error_is_invalid() -> None:
    completed = run_cli("validate", "-", stdin="mirrors: [\n")

    assert completed.returncode == 1
    assert "-: error: line " in completed.stdout


def test_no_command_is_usage_error() -> None:
    completed = run_cli()

    assert completed.returncode == 2


# -------------------------------------------------------------------- render


def test_render_prints_normalized_file(files: dict[str, Path]) -> None:
    completed = run_cli("render", str(files["valid"]))

    assert completed.returncode == 0
    assert yaml.safe_load(completed.stdout) == yaml.safe_load(VALID)
    assert completed.stderr == ""


def test_render_warnings_on_stderr(files: dict[str, Path]) -> None:
    completed = run_cli("render", str(files["warning"]))

    assert completed.returncode == 0
    assert yaml.safe_load(completed.stdout) == {
        "mirrors": {"docker.io": {"endpoint": ["https://mirror.example.test"]}}
    }
    assert ": warning: " in completed.stderr


def test_render_invalid(files: dict[str, Path]) -> None:
    completed = run_cli("render", str(files["invalid"]))

    assert completed.returncode == 1
    assert completed.stdout == ""
    assert ": error: " in completed.stderr


def test_render_masked_with_stack_key(files: dict[str, Path]) -> None:
    key = "cli-test-fingerprint-key-0123456789"
    env = {"REGISTRIES_FINGERPRINT_KEY": key, "PATH": "/usr/bin:/bin"}

    completed = run_cli("render", "--masked", str(files["valid"]), env=env)

    auth = yaml.safe_load(completed.stdout)["configs"]["mirror.example.test"]["auth"]
    assert completed.returncode == 0
    assert auth["password"] == f"<secret fp:{fingerprint(PASSWORD, key.encode())}>"
    assert PASSWORD not in completed.stdout


# ------------------------------------------------------------------- explain


def test_explain_lists_endpoints(files: dict[str, Path]) -> None:
    completed = run_cli("explain", str(files["valid"]), "nginx")

    assert completed.returncode == 0
    assert "image: docker.io/library/nginx:latest" in completed.stdout
    assert "1. https://mirror.example.test/v2" in completed.stdout
    assert "2. https://registry-1.docker.io/v2 (default endpoint)" in completed.stdout
    assert PASSWORD not in completed.stdout


def test_explain_disable_default(files: dict[str, Path]) -> None:
    completed = run_cli("explain", str(files["valid"]), "nginx", "--disable-default-endpoint")

    assert completed.returncode == 0
    assert "registry-1.docker.io" not in completed.stdout


def test_explain_invalid_image(files: dict[str, Path]) -> None:
    completed = run_cli("explain", str(files["valid"]), "Not Valid")

    assert completed.returncode == 2
    assert "invalid image reference" in completed.stderr


def test_explain_invalid_file(files: dict[str, Path]) -> None:
    completed = run_cli("explain", str(files["invalid"]), "nginx")

    assert completed.returncode == 1
    assert ": error: " in completed.stderr


# --------------------------------------------------------------- pull-secret


def test_pull_secret_manifest() -> None:
    completed = run_cli(
        "pull-secret",
        "--server",
        "https://registry.example.test:5000/v2/",
        "--username",
        "robot",
        "--password-stdin",
        "--namespace",
        "apps",
        "--name",
        "mirror-pull",
        stdin=PASSWORD + "\n",
    )

    manifest = json.loads(completed.stdout)
    payload = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"]))
    assert completed.returncode == 0
    assert manifest["metadata"] == {"name": "mirror-pull", "namespace": "apps"}
    assert payload["auths"]["registry.example.test:5000"]["password"] == PASSWORD
    assert PASSWORD not in completed.stderr


def test_pull_secret_docker_hub() -> None:
    completed = run_cli(
        "pull-secret",
        "--server",
        "docker.io",
        "--username",
        "robot",
        "--password-stdin",
        stdin="pw\r\n",
    )

    manifest = json.loads(completed.stdout)
    payload = json.loads(base64.b64decode(manifest["data"][".dockerconfigjson"]))
    assert list(payload["auths"]) == ["https://index.docker.io/v1/"]
    assert payload["auths"]["https://index.docker.io/v1/"]["password"] == "pw"


def test_pull_secret_needs_password_stdin() -> None:
    completed = run_cli("pull-secret", "--server", "r.example.test", "--username", "robot")

    assert completed.returncode == 2
    assert "--password-stdin" in completed.stderr


def test_pull_secret_empty_password() -> None:
    completed = run_cli(
        "pull-secret",
        "--server",
        "r.example.test",
        "--username",
        "robot",
        "--password-stdin",
        stdin="\n",
    )

    assert completed.returncode == 2
    assert "no password" in completed.stderr


def test_pull_secret_invalid_server() -> None:
    completed = run_cli(
        "pull-secret",
        "--server",
        "r.example.test/team",
        "--username",
        "u",
        "--password-stdin",
        stdin="pw",
    )

    assert completed.returncode == 2
    assert "path" in completed.stderr


# ---------------------------------------------------------------------- help


@pytest.mark.parametrize(
    ("command", "options"),
    [
        ("validate", ["FILE"]),
        ("render", ["--masked", "REGISTRIES_FINGERPRINT_KEY"]),
        ("explain", ["IMAGE", "--disable-default-endpoint"]),
        (
            "pull-secret",
            ["--server", "--username", "--password-stdin", "--email", "--name", "--namespace"],
        ),
    ],
)
def test_help_describes_options(command: str, options: list[str]) -> None:
    completed = run_cli(command, "--help")

    assert completed.returncode == 0
    for option in options:
        assert option in completed.stdout


def test_top_level_help_lists_commands() -> None:
    completed = run_cli("--help")

    assert completed.returncode == 0
    for command in ("validate", "render", "explain", "pull-secret", "Exit status"):
        assert command in completed.stdout
