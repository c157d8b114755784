"""Unit tests of the node script builder and the stdin payload (no SSH, no root)."""

from __future__ import annotations

import base64
import hashlib
import itertools
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from components.node_payload import PAYLOAD_HEADER, check_path
from components.node_script import (
    SCRIPT_BODY,
    NodeFile,
    ScriptSettings,
    build_create_script,
    build_delete_script,
    build_payload,
    config_dir,
    default_health_check,
    service_unit,
    summary_comment,
)

SECRET = "pa55-Qz81-unit-secret"
KINDS = list(itertools.product(["k3s", "rke2"], ["server", "agent"], [False, True]))


def make_settings(
    node: str = "s1",
    distribution: str = "k3s",
    role: str = "server",
    sudo: bool = False,
    health_check: str | None = None,
) -> ScriptSettings:
    return ScriptSettings(
        node=node,
        distribution=distribution,  # type: ignore[arg-type]
        role=role,  # type: ignore[arg-type]
        sudo=sudo,
        health_check=health_check,
        health_timeout=30,
    )


def registries(content: str = f"configs:\n  r.example:\n    auth: {{password: {SECRET}}}\n",
               directory: str = "/etc/rancher/k3s") -> NodeFile:
    return NodeFile(f"{directory}/registries.yaml", content, 0o600)


def split_script(script: str) -> tuple[list[str], str, str]:
    """Split a create script into its comment lines, its body and its invocation."""
    head, rest = script.split("\nscript='", 1)
    body, invocation = rest.split("'\n", 1)
    return head.splitlines(), body, invocation


@pytest.mark.parametrize(
    ("distribution", "role", "unit"),
    [("k3s", "server", "k3s"), ("k3s", "agent", "k3s-agent"),
     ("rke2", "server", "rke2-server"), ("rke2", "agent", "rke2-agent")],
)
def test_service_unit_per_kind(distribution: str, role: str, unit: str) -> None:
    assert service_unit(distribution, role) == unit  # type: ignore[arg-type]


def test_config_dir_per_distribution() -> None:
    assert config_dir("k3s") == "/etc/rancher/k3s"
    assert config_dir("rke2") == "/etc/rancher/rke2"


def test_unknown_distribution_rejected() -> None:
    with pytest.raises(ValueError, match="unknown distribution"):
        config_dir("k8s")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown distribution/role"):
        service_unit("k3s", "worker")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("distribution", "role", "expected"),
    [
        ("k3s", "server", "systemctl is-active --quiet k3s && k3s kubectl get --raw=/readyz"),
        ("k3s", "agent", "systemctl is-active --quiet k3s-agent"),
        ("rke2", "server", "systemctl is-active --quiet rke2-server && "
                           "/var/lib/rancher/rke2/bin/kubectl --kubeconfig "
                           "/etc/rancher/rke2/rke2.yaml get --raw=/readyz"),
        ("rke2", "agent", "systemctl is-active --quiet rke2-agent"),
    ],
)
def test_default_health_check_per_kind(distribution: str, role: str, expected: str) -> None:
    assert default_health_check(distribution, role) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "path",
    [
        "etc/rancher/k3s/registries.yaml",
        "/etc/rancher/k3s/../k3s/registries.yaml",
        "/etc/rancher/k3s//registries.yaml",
        "/etc/rancher/k3s/./registries.yaml",
        "/etc/rancher/k3s/",
        "/etc/rancher/k3s",
        "/etc/rancher/registries.yaml",
        "/etc/rancher/k3sx/registries.yaml",
        "/etc/containerd/registries.yaml",
        "/etc/rancher/k3s/certs/my registry/ca.crt",
        "/etc/rancher/k3s/certs/r$(id)/ca.crt",
        "/etc/rancher/k3s/registries.yaml\nfile 0600 1 /etc/passwd",
    ],
)
def test_node_file_rejects_bad_path(path: str) -> None:
    with pytest.raises(ValueError, match="path"):
        NodeFile(path, "x", 0o600)


def test_check_path_per_distribution() -> None:
    check_path("/etc/rancher/rke2/registries.yaml", "rke2")
    with pytest.raises(ValueError, match="outside /etc/rancher/k3s"):
        check_path("/etc/rancher/rke2/registries.yaml", "k3s")


@pytest.mark.parametrize(
    ("path", "mode", "message"),
    [
        ("/etc/rancher/k3s/certs/r/ca.crt", 0o666, "group or others write"),
        ("/etc/rancher/k3s/certs/r/ca.crt", 0o4755, "not a permission mode"),
        ("/etc/rancher/k3s/certs/r/ca.crt", -1, "not a permission mode"),
        ("/etc/rancher/k3s/registries.yaml", 0o644, "lets others read credentials"),
        ("/etc/rancher/k3s/registries.yaml", 0o640, "lets others read credentials"),
    ],
)
def test_node_file_rejects_bad_mode(path: str, mode: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        NodeFile(path, "x", mode)


def test_payload_format() -> None:
    certificate = NodeFile("/etc/rancher/k3s/certs/r.example/ca.crt", "CERT\n" * 40, 0o644)
    payload = build_payload([certificate])
    lines = payload.split("\n")

    assert lines[0] == PAYLOAD_HEADER
    assert lines[1] == f"file 0644 200 {certificate.path}"
    encoded = "".join(lines[2:-2])
    assert base64.b64decode(encoded) == certificate.content.encode()
    assert all(len(line) <= 76 for line in lines[2:-2])
    assert payload.endswith("\n")

    body, end = payload[:-1].rsplit("\n", 1)
    assert end == f"end 1 {hashlib.sha256((body + chr(10)).encode()).hexdigest()}"


def test_payload_puts_registries_last() -> None:
    files = [
        registries(),
        NodeFile("/etc/rancher/k3s/certs/r/ca.crt", "CA", 0o644),
        NodeFile("/etc/rancher/k3s/certs/r/client.key", "KEY", 0o600),
    ]
    headers = [line for line in build_payload(files).splitlines() if line.startswith("file ")]

    assert [header.split()[-1] for header in headers] == [
        "/etc/rancher/k3s/certs/r/ca.crt",
        "/etc/rancher/k3s/certs/r/client.key",
        "/etc/rancher/k3s/registries.yaml",
    ]
    assert [header.split()[1] for header in headers] == ["0644", "0600", "0600"]


def test_payload_empty_file_has_no_content_lines() -> None:
    lines = build_payload([registries("")]).splitlines()

    assert lines[1] == "file 0600 0 /etc/rancher/k3s/registries.yaml"
    assert lines[2].startswith("end 1 ")


def test_payload_keeps_secret_out_of_plain_text() -> None:
    assert SECRET not in build_payload([registries()])


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ([], "no node files"),
        ([registries(), registries("other")], "more than once"),
        ([registries(), registries(directory="/etc/rancher/rke2")], "mix"),
    ],
)
def test_payload_rejects_bad_file_lists(files: list[NodeFile], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_payload(files)


@pytest.mark.parametrize(
    ("node", "message"),
    [("", "invalid node name"), ("s 1", "invalid node name"), ("-s1", "invalid node name"),
     ("s1;reboot", "invalid node name")],
)
def test_settings_reject_bad_node_name(node: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        make_settings(node=node)


def test_settings_reject_bad_values() -> None:
    with pytest.raises(ValueError, match="health_timeout"):
        ScriptSettings("s1", "k3s", "server", False, None, 0)
    with pytest.raises(ValueError, match="health_check is empty"):
        ScriptSettings("s1", "k3s", "server", False, "  ", 10)
    with pytest.raises(ValueError, match="unknown distribution/role"):
        ScriptSettings("s1", "k3s", "worker", False, None, 10)  # type: ignore[arg-type]


def test_create_script_contains_no_content() -> None:
    script = build_create_script(make_settings(), "configs:\n  r.example: {password: '***'}\n")

    assert SECRET not in script
    assert "base64" not in split_script(script)[2]


def test_summary_becomes_comment_lines() -> None:
    summary = "mirrors:\n  docker.io:\n    endpoint:\n    - https://m.example\n"
    lines, _, _ = split_script(build_create_script(make_settings(), summary))

    assert all(line.startswith("#") for line in lines)
    assert "#       endpoint:" in lines
    assert "#       - https://m.example" in lines


@pytest.mark.parametrize(
    "breaker",
    ["\n", "\r", "\r\n", "\x0b", "\x0c", "\x85", "\u2028", "\u2029", "\x00"],
)
def test_summary_cannot_end_comment(breaker: str, tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    summary = f"mirrors: {{}}{breaker}touch {marker}{breaker}'\nscript=x; touch {marker}"
    script = build_create_script(make_settings(), summary)
    lines, _, _ = split_script(script)

    assert all(line.startswith("#") for line in lines)
    # Run the comment part alone: nothing in it may run.
    subprocess.run(["sh", "-c", "\n".join(lines)], check=True)
    assert not marker.exists()


def test_summary_escapes_control_characters() -> None:
    comment = summary_comment("a\x1b[31mred\u202eevil\tend")

    assert comment == "#   a\\u001b[31mred\\u202eevil\\u0009end"
    assert all(char.isprintable() for char in comment.replace("\n", ""))


@pytest.mark.parametrize(("distribution", "role", "sudo"), KINDS)
def test_scripts_pass_sh_syntax_check(distribution: str, role: str, sudo: bool) -> None:
    settings = make_settings(distribution=distribution, role=role, sudo=sudo)
    directory = config_dir(distribution)  # type: ignore[arg-type]
    scripts = [
        build_create_script(settings, "summary: 'x'\n"),
        build_delete_script(settings, [f"{directory}/registries.yaml"], "remove"),
    ]
    for script in scripts:
        assert script is not None
        for shell in ("sh", "bash"):
            result = subprocess.run([shell, "-n", "-c", script], capture_output=True, text=True,
                                    check=False)
            assert result.returncode == 0, f"{shell}: {result.stderr}"
    body = subprocess.run(["sh", "-n", "-c", SCRIPT_BODY], capture_output=True, text=True,
                          check=False)
    assert body.returncode == 0, body.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
@pytest.mark.parametrize(("distribution", "role", "sudo"), KINDS)
def test_scripts_pass_shellcheck(distribution: str, role: str, sudo: bool,
                                 tmp_path: Path) -> None:
    script = build_create_script(
        make_settings(distribution=distribution, role=role, sudo=sudo), "a: b\n"
    )
    body = tmp_path / "body.sh"
    body.write_text("#!/bin/sh" + SCRIPT_BODY)
    create = tmp_path / "create.sh"
    create.write_text("#!/bin/sh\n" + script)

    # SC2016: the body is single-quoted on purpose, so that it expands on the node.
    result = subprocess.run(["shellcheck", "-s", "sh", "-e", "SC2016", str(body), str(create)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout


def test_body_is_the_same_for_every_node() -> None:
    scripts = [
        build_create_script(make_settings(node=node, distribution=distribution, role=role,
                                          sudo=sudo, health_check=check), summary)
        for node, (distribution, role, sudo), check, summary in [
            ("s1", KINDS[0], None, "a: 1"),
            ("s2", KINDS[0], None, "a: 2"),
            ("a7", KINDS[2], "true", "b: 3"),
            ("r1", KINDS[5], None, ""),
        ]
    ]
    bodies = {split_script(script)[1] for script in scripts}

    assert bodies == {SCRIPT_BODY}
    assert "'" not in SCRIPT_BODY


def test_same_kind_scripts_differ_in_names() -> None:
    first = build_create_script(make_settings(node="s1"), "a: 1").replace("s1", "NODE")
    second = build_create_script(make_settings(node="s2"), "a: 2").replace("s2", "NODE")

    assert first.replace("a: 1", "a: 2") == second


def test_invocation_passes_arguments() -> None:
    check = "test \"$(cat /x)\" = 'it works' && echo ok"
    script = build_create_script(make_settings(node="n-1.a", health_check=check), "")
    invocation = split_script(script)[2].strip()

    assert shlex.split(invocation) == [
        "exec", "sh", "-c", "$script", "k3s-registries", "n-1.a", "place",
        "/etc/rancher/k3s", "k3s", "yes", "30", check,
    ]


def test_sudo_invocation_checks_sudo_first() -> None:
    invocation = split_script(build_create_script(make_settings(sudo=True), ""))[2]

    assert invocation.index("sudo -n true") < invocation.index("exec sudo -n sh -c")
    assert "node s1: sudo -n failed" in invocation


def test_restart_disabled_is_passed() -> None:
    settings = ScriptSettings("s1", "k3s", "server", False, None, 30, restart=False)
    invocation = split_script(build_create_script(settings, ""))[2]

    assert shlex.split(invocation)[9] == "no"


def test_delete_keep_returns_none() -> None:
    assert build_delete_script(make_settings(), [registries()], "keep") is None
    assert build_delete_script(make_settings(), [registries()]) is None


def test_delete_remove_lists_paths_registries_first() -> None:
    files = [NodeFile("/etc/rancher/k3s/certs/r/ca.crt", "CA", 0o644), registries()]
    script = build_delete_script(make_settings(), files, "remove")
    assert script is not None
    invocation = shlex.split(split_script(script)[2].strip())

    assert invocation[6] == "remove"
    assert invocation[-2:] == ["/etc/rancher/k3s/registries.yaml",
                               "/etc/rancher/k3s/certs/r/ca.crt"]
    assert SECRET not in script


@pytest.mark.parametrize(
    ("paths", "behaviour", "message"),
    [
        (["/etc/rancher/rke2/registries.yaml"], "remove", "outside /etc/rancher/k3s"),
        (["/etc/passwd"], "remove", "outside"),
        ([], "remove", "no node files"),
        (["/etc/rancher/k3s/registries.yaml"] * 2, "remove", "more than once"),
        (["/etc/rancher/k3s/registries.yaml"], "purge", "unknown delete behaviour"),
    ],
)
def test_delete_rejects_bad_input(paths: list[str], behaviour: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build_delete_script(make_settings(), paths, behaviour)  # type: ignore[arg-type]
