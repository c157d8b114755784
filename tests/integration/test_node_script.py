"""The generated node script, run for real over SSH on sandbox nodes.

Each test runs ``ssh -i key -p port <script>`` with the payload on stdin,
which is what pulumi-command does with ``create`` and ``stdin``: one SSH
session that runs the command string with the login shell and stdin attached.
The nodes' ``systemctl``, ``k3s`` and RKE2 ``kubectl`` are stand-ins that
record every call (see the ``sandbox`` package).
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from components.node_script import (
    NodeFile,
    ScriptSettings,
    build_create_script,
    build_delete_script,
    build_payload,
    config_dir,
)
from sandbox import PASSWORD_SUDO_USER, SUDO_USER, Sandbox

pytestmark = pytest.mark.integration

SECRET = "Zq9-sandbox-secret-7Hx2"
UNITS = {"s1": "k3s", "a1": "k3s-agent", "r1": "rke2-server", "ra1": "rke2-agent"}


def script_settings(nodes: Sandbox, node: str, *, sudo: bool = False, health_timeout: int = 5,
                    health_check: str | None = None, restart: bool = True) -> ScriptSettings:
    info = nodes.node(node)
    return ScriptSettings(
        node=node,
        distribution=info.distribution,
        role=info.role,
        sudo=sudo,
        health_check=health_check,
        health_timeout=health_timeout,
        restart=restart,
    )


def registries_file(node_dir: str, version: str) -> NodeFile:
    content = (
        "mirrors:\n"
        "  docker.io:\n"
        "    endpoint:\n"
        f"    - https://mirror-{version}.example\n"
        "configs:\n"
        f"  mirror-{version}.example:\n"
        "    auth:\n"
        "      username: puller\n"
        f"      password: {SECRET}-{version}\n"
    )
    return NodeFile(f"{node_dir}/registries.yaml", content, 0o600)


def tls_files(node_dir: str, version: str) -> list[NodeFile]:
    return [
        NodeFile(f"{node_dir}/certs/mirror.example/ca.crt", f"CA {version}\n", 0o644),
        NodeFile(f"{node_dir}/certs/mirror.example/client.crt", f"CERT {version}\n", 0o644),
        NodeFile(f"{node_dir}/certs/mirror.example/client.key",
                 f"KEY {SECRET} {version}\n", 0o600),
    ]


def place(nodes: Sandbox, node: str, files: list[NodeFile] | None = None, *,
          version: str = "v1", user: str = "root", payload: str | None = None,
          **options: object) -> subprocess.CompletedProcess[str]:
    """Run the create script on ``node`` with ``files`` (default: registries.yaml) on stdin."""
    settings = script_settings(nodes, node, sudo=user != "root", **options)  # type: ignore[arg-type]
    if files is None:
        files = [registries_file(config_dir(settings.distribution), version)]
    script = build_create_script(settings, f"mirrors: docker.io -> mirror-{version}")
    return nodes.run(node, script, build_payload(files) if payload is None else payload,
                     user=user)


def node_path(nodes: Sandbox, node: str, name: str) -> Path:
    return nodes.host_path(node, f"{config_dir(nodes.node(node).distribution)}/{name}")


def assert_no_leftovers(nodes: Sandbox, node: str) -> None:
    """Check that no work directory, temp file or copy of the content stayed behind."""
    base = node_path(nodes, node, "")
    leftovers = [str(path) for path in base.rglob(".*")]
    assert leftovers == []
    assert list(nodes.host_path(node, "/tmp").iterdir()) == []


def stat_of(path: Path) -> tuple[str, int, int]:
    status = path.stat()
    return oct(status.st_mode & 0o7777), status.st_uid, status.st_gid


# --- placing files ---------------------------------------------------------


def test_place_writes_registries_as_root_0600(nodes: Sandbox) -> None:
    result = place(nodes, "s1")

    assert result.returncode == 0, result.stderr
    target = node_path(nodes, "s1", "registries.yaml")
    assert target.read_text() == registries_file("/etc/rancher/k3s", "v1").content
    assert stat_of(target) == ("0o600", 0, 0)
    assert "node s1: registries.yaml changed, restarting k3s" in result.stdout
    assert "node s1: k3s restarted and healthy" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert_no_leftovers(nodes, "s1")


def test_place_writes_tls_files(nodes: Sandbox) -> None:
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]
    result = place(nodes, "s1", files)

    assert result.returncode == 0, result.stderr
    for node_file in files:
        path = nodes.host_path("s1", node_file.path)
        assert path.read_text() == node_file.content
        assert stat_of(path) == (oct(node_file.mode), 0, 0)
    directory = node_path(nodes, "s1", "certs/mirror.example")
    assert stat_of(directory) == ("0o700", 0, 0)
    assert len(nodes.restarts("s1")) == 1
    assert_no_leftovers(nodes, "s1")


def test_place_through_sudo(nodes: Sandbox) -> None:
    result = place(nodes, "s1", user=SUDO_USER)

    assert result.returncode == 0, result.stderr
    target = node_path(nodes, "s1", "registries.yaml")
    assert stat_of(target) == ("0o600", 0, 0)
    assert len(nodes.restarts("s1")) == 1


def test_sudo_with_password_rejected(nodes: Sandbox) -> None:
    result = place(nodes, "s1", user=PASSWORD_SUDO_USER)

    assert result.returncode != 0
    assert f"node s1: sudo -n failed for user {PASSWORD_SUDO_USER}" in result.stderr
    assert not node_path(nodes, "s1", "registries.yaml").exists()
    assert nodes.restarts("s1") == []


def test_unchanged_content_skips_restart(nodes: Sandbox) -> None:
    first = place(nodes, "s1")
    second = place(nodes, "s1")

    assert first.returncode == 0, first.stderr
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "node s1: unchanged"
    assert len(nodes.restarts("s1")) == 1
    assert_no_leftovers(nodes, "s1")


def test_changed_content_restarts_again(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    result = place(nodes, "s1", version="v2")

    assert result.returncode == 0, result.stderr
    assert f"{SECRET}-v2" in node_path(nodes, "s1", "registries.yaml").read_text()
    assert len(nodes.restarts("s1")) == 2


def test_wrong_mode_fixed_without_restart(nodes: Sandbox) -> None:
    place(nodes, "s1")
    target = node_path(nodes, "s1", "registries.yaml")
    target.chmod(0o644)
    os.chown(target, 1, 1)

    result = place(nodes, "s1")

    assert result.returncode == 0, result.stderr
    assert "set mode 0600 and owner root on registries.yaml" in result.stdout
    assert stat_of(target) == ("0o600", 0, 0)
    assert len(nodes.restarts("s1")) == 1


def test_restart_disabled_places_only(nodes: Sandbox) -> None:
    result = place(nodes, "s1", restart=False)

    assert result.returncode == 0, result.stderr
    assert node_path(nodes, "s1", "registries.yaml").exists()
    assert "restart disabled" in result.stdout
    assert nodes.restarts("s1") == []


@pytest.mark.parametrize("node", ["s1", "a1", "r1", "ra1"])
def test_restart_uses_unit_of_node(nodes: Sandbox, node: str) -> None:
    result = place(nodes, node)

    assert result.returncode == 0, result.stderr
    restarts = nodes.restarts(node)
    assert [call["unit"] for call in restarts] == [UNITS[node]]
    assert restarts[0]["exit"] == 0
    health_calls = [call for call in nodes.calls(node) if call["start"] > restarts[0]["end"]]
    assert ["is-active", "--quiet", UNITS[node]] in [call["args"] for call in health_calls]
    readyz = [call for call in health_calls if "--raw=/readyz" in call["args"]]
    if nodes.node(node).role == "server":
        assert readyz
        assert readyz[-1]["exit"] == 0
    else:
        assert readyz == []


def test_custom_health_check_runs(nodes: Sandbox) -> None:
    result = place(nodes, "a1", health_check="systemctl is-active k3s-agent && test -d /etc")

    assert result.returncode == 0, result.stderr
    assert ["is-active", "k3s-agent"] in [call["args"] for call in nodes.calls("a1")]


# --- rollback ----------------------------------------------------------------


def test_failed_restart_restores_previous_file(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    nodes.set_fail("s1", "restart", times=1)

    result = place(nodes, "s1", version="v2")

    assert result.returncode != 0
    assert "node s1: restart of k3s failed; restored the previous files" in result.stderr
    assert f"{SECRET}-v1" in node_path(nodes, "s1", "registries.yaml").read_text()
    restarts = nodes.restarts("s1")
    assert [call["exit"] for call in restarts] == [0, 1, 0]
    assert_no_leftovers(nodes, "s1")


def test_failed_restart_removes_new_files(nodes: Sandbox) -> None:
    nodes.set_fail("s1", "restart", times=1)
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]

    result = place(nodes, "s1", files)

    assert result.returncode != 0
    assert "node s1: restart of k3s failed" in result.stderr
    assert not node_path(nodes, "s1", "registries.yaml").exists()
    assert not node_path(nodes, "s1", "certs").exists()
    assert len(nodes.restarts("s1")) == 2
    assert_no_leftovers(nodes, "s1")


def test_failed_health_check_restores_previous_file(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    nodes.set_fail("s1", "readyz", times=1)

    result = place(nodes, "s1", version="v2", health_timeout=2)

    assert result.returncode != 0
    assert "node s1: health check: Error from server" in result.stderr
    assert "node s1: health check failed for 2s after restarting k3s" in result.stderr
    assert "which passes its health check" in result.stderr
    assert f"{SECRET}-v1" in node_path(nodes, "s1", "registries.yaml").read_text()
    assert len(nodes.restarts("s1")) == 3


def test_inactive_agent_rolls_back(nodes: Sandbox) -> None:
    place(nodes, "ra1", version="v1")
    nodes.set_fail("ra1", "inactive", times=1)

    result = place(nodes, "ra1", version="v2", health_timeout=2)

    assert result.returncode != 0
    assert "node ra1: health check failed for 2s after restarting rke2-agent" in result.stderr
    assert f"{SECRET}-v1" in node_path(nodes, "ra1", "registries.yaml").read_text()
    assert [call["unit"] for call in nodes.restarts("ra1")] == ["rke2-agent"] * 3


def test_lasting_failure_reported(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    nodes.set_fail("s1", "restart")

    result = place(nodes, "s1", version="v2", health_timeout=1)

    assert result.returncode != 0
    assert "restored the previous files, but k3s is unhealthy after a restart" in result.stderr
    assert f"{SECRET}-v1" in node_path(nodes, "s1", "registries.yaml").read_text()


def test_interrupted_restart_rolls_back(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    nodes.set_restart_delay("s1", 2)
    settings = script_settings(nodes, "s1")
    script = build_create_script(settings, "v2")
    payload = build_payload([registries_file("/etc/rancher/k3s", "v2")])
    process = start_ssh(nodes, "s1", script, payload)

    script_pid = wait_for_script_process(nodes, "s1", timeout=10)
    os.kill(script_pid, signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)

    assert process.returncode == 143
    assert "node s1: stopped with exit status 143 while changing files" in stderr
    assert f"{SECRET}-v1" in node_path(nodes, "s1", "registries.yaml").read_text()
    assert len(nodes.restarts("s1")) == 3
    assert_no_leftovers(nodes, "s1")


def test_dropped_connection_completes_run(nodes: Sandbox) -> None:
    place(nodes, "s1", version="v1")
    nodes.set_restart_delay("s1", 2)
    script = build_create_script(script_settings(nodes, "s1"), "v2")
    payload = build_payload([registries_file("/etc/rancher/k3s", "v2")])
    process = start_ssh(nodes, "s1", script, payload)

    script_pid = wait_for_script_process(nodes, "s1", timeout=10)
    process.kill()
    process.communicate(timeout=10)
    wait_for_exit(script_pid, timeout=30)

    assert f"{SECRET}-v2" in node_path(nodes, "s1", "registries.yaml").read_text()
    assert [call["exit"] for call in nodes.restarts("s1")] == [0, 0]
    assert_no_leftovers(nodes, "s1")


def wait_for_exit(pid: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not Path(f"/proc/{pid}").exists(), f"process {pid} still runs after {timeout}s"


def start_ssh(nodes: Sandbox, node: str, script: str, payload: str,
              user: str = "root") -> subprocess.Popen[str]:
    """Start ``script`` on ``node`` in the background with ``payload`` on stdin."""
    read_end, write_end = os.pipe()
    # The payloads here are far below the 64 KiB pipe buffer of Linux, so the
    # write completes before ssh reads.
    os.write(write_end, payload.encode())
    os.close(write_end)
    try:
        return subprocess.Popen(nodes.ssh_argv(node, script, user=user), stdin=read_end,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    finally:
        os.close(read_end)


def wait_for_script_process(nodes: Sandbox, node: str, timeout: float) -> int:
    """Return the pid of the node script once its restart of the unit has begun."""
    unit_state = nodes.state_dir(node) / "units" / nodes.node(node).unit
    namespace = nodes.node(node).mount_namespace
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if unit_state.read_text().strip() == "activating":
            for pid in _pids():
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                    in_node = os.readlink(f"/proc/{pid}/ns/mnt") == namespace
                except OSError:
                    continue
                if in_node and argv[:2] == [b"sh", b"-c"] and argv[3:4] == [b"k3s-registries"]:
                    return pid
        time.sleep(0.05)
    raise AssertionError(f"node {node}: the script did not reach its restart in {timeout}s")


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


# --- rejected input ------------------------------------------------------------


def test_directory_target_rejected(nodes: Sandbox) -> None:
    node_path(nodes, "s1", "registries.yaml").mkdir()
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]

    result = place(nodes, "s1", files)

    assert result.returncode != 0
    assert ("node s1: /etc/rancher/k3s/registries.yaml exists and is not a regular file"
            in result.stderr)
    assert "nothing was changed" in result.stderr
    assert not node_path(nodes, "s1", "certs").exists()
    assert nodes.restarts("s1") == []
    assert_no_leftovers(nodes, "s1")


def test_symlink_target_rejected(nodes: Sandbox) -> None:
    node_path(nodes, "s1", "registries.yaml").symlink_to("/etc/hostname")
    hostname_before = nodes.read_file("s1", "/etc/hostname")

    result = place(nodes, "s1")

    assert result.returncode != 0
    assert "is not a regular file (a directory or a symlink)" in result.stderr
    assert nodes.read_file("s1", "/etc/hostname") == hostname_before
    assert nodes.restarts("s1") == []


def test_symlinked_directory_rejected(nodes: Sandbox) -> None:
    node_path(nodes, "s1", "certs").symlink_to("/tmp")
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]

    result = place(nodes, "s1", files)

    assert result.returncode != 0
    assert "node s1: /etc/rancher/k3s/certs exists and is not a directory" in result.stderr
    assert list(nodes.host_path("s1", "/tmp").iterdir()) == []
    assert not node_path(nodes, "s1", "registries.yaml").exists()


def test_path_of_other_distribution_rejected(nodes: Sandbox) -> None:
    result = place(nodes, "s1", [registries_file("/etc/rancher/rke2", "v1")])

    assert result.returncode != 0
    assert "node s1: /etc/rancher/rke2/registries.yaml is outside /etc/rancher/k3s" in (
        result.stderr
    )
    assert not nodes.host_path("s1", "/etc/rancher/rke2").exists()


@pytest.mark.parametrize("cut", ["first line", "half", "last file", "last 2 characters"])
def test_truncated_payload_rejected(nodes: Sandbox, cut: str) -> None:
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]
    payload = build_payload(files)
    keep = {
        "first line": payload.index("\n") + 1,
        "half": len(payload) // 2,
        "last file": payload.rindex("\nfile ") + 1,
        "last 2 characters": len(payload) - 2,
    }[cut]

    result = place(nodes, "s1", files, payload=payload[:keep])

    assert result.returncode != 0
    assert "node s1: the payload" in result.stderr
    assert "nothing was changed" in result.stderr
    assert not node_path(nodes, "s1", "registries.yaml").exists()
    assert not node_path(nodes, "s1", "certs").exists()
    assert nodes.restarts("s1") == []
    assert_no_leftovers(nodes, "s1")


def test_empty_stdin_rejected(nodes: Sandbox) -> None:
    result = place(nodes, "s1", payload="")

    assert result.returncode != 0
    assert "node s1: the payload on stdin has no end line" in result.stderr


def test_changed_payload_rejected(nodes: Sandbox) -> None:
    payload = build_payload([registries_file("/etc/rancher/k3s", "v1")])
    lines = payload.split("\n")
    lines[2] = base64.b64encode(b"mirrors: {}\n" + b" " * 44).decode()[: len(lines[2])]

    result = place(nodes, "s1", payload="\n".join(lines))

    assert result.returncode != 0
    assert "node s1: the payload checksum does not match" in result.stderr
    assert not node_path(nodes, "s1", "registries.yaml").exists()


# --- secrets stay out of process lists -----------------------------------------


def test_secret_absent_from_process_lists(nodes: Sandbox) -> None:
    nodes.set_restart_delay("s1", 1.5)
    files = [*tls_files("/etc/rancher/k3s", "v1"), registries_file("/etc/rancher/k3s", "v1")]
    payload = build_payload(files)
    encoded_lines = [line for line in payload.splitlines()[1:-1] if not line.startswith("file ")]
    needles = [SECRET.encode(), *(line.encode() for line in encoded_lines if len(line) > 20)]
    script = build_create_script(script_settings(nodes, "s1", sudo=True), "summary")

    process = start_ssh(nodes, "s1", script, payload, user=SUDO_USER)

    found: set[str] = set()
    scans = 0
    while process.poll() is None:
        found |= scan_processes(needles)
        scans += 1
    process.communicate(timeout=30)

    assert process.returncode == 0
    assert scans > 10
    assert found == set()
    assert len(nodes.restarts("s1")) == 1


def scan_processes(needles: list[bytes]) -> set[str]:
    """Return 'pid: file' for every process whose cmdline or environ contains a needle."""
    hits = set()
    for pid in _pids():
        for name in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{name}").read_bytes()
            except OSError:
                continue
            if any(needle in data for needle in needles):
                hits.add(f"{pid}: {name}")
    return hits


# --- delete --------------------------------------------------------------------


def test_delete_remove_removes_files_and_restarts(nodes: Sandbox) -> None:
    files = [*tls_files("/etc/rancher/rke2", "v1"), registries_file("/etc/rancher/rke2", "v1")]
    place(nodes, "r1", files)
    script = build_delete_script(script_settings(nodes, "r1"), files, "remove")
    assert script is not None

    result = nodes.run("r1", script)

    assert result.returncode == 0, result.stderr
    assert "node r1: removed registries.yaml, certs/mirror.example/ca.crt" in result.stdout
    for node_file in files:
        assert not nodes.host_path("r1", node_file.path).exists()
    assert [call["unit"] for call in nodes.restarts("r1")] == ["rke2-server"] * 2
    assert node_path(nodes, "r1", "rke2.yaml").exists()
    assert_no_leftovers(nodes, "r1")


def test_delete_remove_restores_on_failure(nodes: Sandbox) -> None:
    place(nodes, "a1")
    nodes.set_fail("a1", "restart", times=1)
    script = build_delete_script(script_settings(nodes, "a1"),
                                 ["/etc/rancher/k3s/registries.yaml"], "remove")
    assert script is not None

    result = nodes.run("a1", script)

    assert result.returncode != 0
    assert "node a1: restart of k3s-agent failed; restored the previous files" in result.stderr
    target = node_path(nodes, "a1", "registries.yaml")
    assert f"{SECRET}-v1" in target.read_text()
    assert stat_of(target) == ("0o600", 0, 0)


def test_delete_of_absent_files_skips_restart(nodes: Sandbox) -> None:
    script = build_delete_script(script_settings(nodes, "s1", sudo=True),
                                 ["/etc/rancher/k3s/registries.yaml"], "remove")
    assert script is not None

    result = nodes.run("s1", script, user=SUDO_USER)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "node s1: files already absent"
    assert nodes.restarts("s1") == []
