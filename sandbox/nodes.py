"""Sandbox nodes: real sshd processes on loopback that look like K3s/RKE2 nodes.

Each node is Debian's sshd in its own mount namespace (``unshare --mount
--propagation private``). Inside it, private directories from the node's state
directory are bind-mounted over ``/etc``, ``/var/lib``, ``/usr/local/bin`` and
``/tmp``, a tmpfs covers ``/run``, and a stand-in is bind-mounted over
``/usr/bin/systemctl``. A script sent over SSH therefore runs unchanged
against the real paths (``/etc/rancher/k3s/registries.yaml``), while the host's
files stay untouched. The private ``/etc`` is a copy of the host's, without
secrets (see ``_copy_etc``), with two extra users for sudo tests. The
stand-ins record every call, and tests can slow restarts down or make them fail.

Layout of a sandbox directory::

    inventory.json        nodes, ports, keys (format in docs/sandbox.md)
    client_key(.pub)      the SSH key every node accepts for every user
    known_hosts           every node's host key, for ``ssh -o UserKnownHostsFile``
    nodes/<name>/         state directory of one node:
        etc/ var-lib/ usr-local-bin/ tmp/   mounted over /etc, /var/lib, ...
        ssh/              host key, sshd_config, authorized_keys/<user>
        units/<unit>      unit state as the stand-in systemctl reports it
        control/          restart-delay (seconds), fail.json
        calls.jsonl       one JSON object per stand-in call
        sshd.log          sshd's own log
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from sandbox.standin import FAIL_MODES

log = logging.getLogger(__name__)

Role = Literal["server", "agent"]
Distribution = Literal["k3s", "rke2"]

HOST = "127.0.0.1"
ROOT_USER = "root"
SUDO_USER = "deploy"
"""Non-root user with passwordless sudo (NOPASSWD)."""
PASSWORD_SUDO_USER = "deploy-pw"  # noqa: S105 - a user name, not a password
"""Non-root user whose sudo requires a password, so ``sudo -n`` fails."""

SSHD = "/usr/sbin/sshd"
UNITS = {
    ("k3s", "server"): "k3s",
    ("k3s", "agent"): "k3s-agent",
    ("rke2", "server"): "rke2-server",
    ("rke2", "agent"): "rke2-agent",
}

# Paths hidden inside a node by its private mounts. The sandbox directory and
# the Python that runs the stand-ins must lie outside them, or the node could
# not see them.
_HIDDEN = ("/etc", "/var/lib", "/usr/local/bin", "/tmp", "/run")  # noqa: S108 - mount points
_MARKER = ".k3s-registries-sandbox"
"""File that marks a sandbox directory, which ``start_nodes`` may delete and replace."""

_MOUNTED = {
    "/etc": "etc",
    "/var/lib": "var-lib",
    "/usr/local/bin": "usr-local-bin",
    "/tmp": "tmp",  # noqa: S108 - the node's private /tmp, a directory in its state dir
}

# Runs inside the new mount namespace as root; $1 is the node's state directory.
_NODE_INIT = r"""
set -eu
state=$1
mount --bind "$state/etc" /etc
mount --bind "$state/var-lib" /var/lib
mount --bind "$state/usr-local-bin" /usr/local/bin
mount --bind "$state/bin/systemctl" /usr/bin/systemctl
mount --bind "$state/tmp" /tmp
mount -t tmpfs -o mode=0755 sandbox-run /run
mkdir -m 0755 /run/sshd
# sshd reads authorized_keys as the logging-in user, who may not be able to
# reach the state directory (a project cloned under a 0700 folder), so the
# keys are offered at a path that every user can traverse.
mkdir -m 0755 /run/sandbox-authorized-keys
mount --bind "$state/ssh/authorized_keys" /run/sandbox-authorized-keys
exec /usr/sbin/sshd -D -e -f "$state/ssh/sshd_config"
"""

_SSHD_CONFIG = """\
# sshd for sandbox node {name}; only loopback, only the sandbox key.
Port {port}
ListenAddress {host}
HostKey {state}/ssh/host_ed25519_key
PidFile {state}/sshd.pid
AuthorizedKeysFile /run/sandbox-authorized-keys/%u
AllowUsers {users}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
# The authorized_keys files live in the state directory, which the SSH users
# do not own.
StrictModes no
UsePAM no
PrintMotd no
PrintLastLog no
MaxStartups 100
LogLevel VERBOSE
"""

_WRAPPER = """\
#!/bin/sh
# Sandbox stand-in for {tool} on node {name}.
exec {python} -I -S {standin} {tool} {state} "$@"
"""


class SandboxError(Exception):
    """A sandbox node could not be started, found or controlled."""


@dataclass(frozen=True)
class NodeSpec:
    """A node to start: its name, role, distribution and optional fixed port."""

    name: str
    role: Role
    distribution: Distribution = "k3s"
    port: int | None = None
    """Fixed sshd port on 127.0.0.1; None chooses a free one."""

    @classmethod
    def parse(cls, text: str, distribution: Distribution = "k3s") -> NodeSpec:
        """Parse ``name:role`` or ``name:role:distribution``, such as ``s1:server:rke2``."""
        parts = text.split(":")
        if len(parts) not in (2, 3) or not parts[0]:
            raise SandboxError(
                f"invalid node {text!r}: write name:role or name:role:distribution, "
                "such as s1:server or r1:agent:rke2"
            )
        role = parts[1]
        chosen = parts[2] if len(parts) == 3 else distribution
        if role not in ("server", "agent"):
            raise SandboxError(f"invalid role {role!r} in {text!r}: expected server or agent")
        if chosen not in ("k3s", "rke2"):
            raise SandboxError(f"invalid distribution {chosen!r} in {text!r}: expected k3s or rke2")
        if not all(char.isalnum() or char in "-_." for char in parts[0]):
            raise SandboxError(f"invalid node name {parts[0]!r}: use letters, digits, - _ .")
        return cls(parts[0], role, chosen)  # type: ignore[arg-type]


@dataclass
class NodeInfo:
    """One started node, as written to ``inventory.json``."""

    name: str
    host: str
    port: int
    role: Role
    distribution: Distribution
    unit: str
    user: str
    sudo_user: str
    password_sudo_user: str
    private_key: str
    host_key: str
    state_dir: str
    pid: int
    mount_namespace: str


@dataclass
class Sandbox:
    """Started sandbox nodes and the controls tests need.

    Files inside a node are plain files under its state directory on the
    host: ``host_path(node, "/etc/rancher/k3s/registries.yaml")`` maps one.
    """

    directory: Path
    nodes: dict[str, NodeInfo]
    _processes: list[subprocess.Popen[bytes]] = field(default_factory=list, repr=False)

    @classmethod
    def load(cls, directory: str | Path) -> Sandbox:
        """Read the inventory of a sandbox started earlier, for example by the CLI."""
        path = Path(directory).resolve() / "inventory.json"
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise SandboxError(f"no sandbox inventory at {path}: start nodes first") from None
        nodes = {entry["name"]: NodeInfo(**entry) for entry in data["nodes"]}
        return cls(Path(data["directory"]), nodes)

    @property
    def known_hosts(self) -> Path:
        return self.directory / "known_hosts"

    @property
    def private_key(self) -> Path:
        return self.directory / "client_key"

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def node(self, name: str) -> NodeInfo:
        try:
            return self.nodes[name]
        except KeyError:
            raise SandboxError(
                f"no sandbox node {name!r}; nodes: {', '.join(self.nodes)}"
            ) from None

    def state_dir(self, name: str) -> Path:
        return Path(self.node(name).state_dir)

    # --- processes -------------------------------------------------------

    def stop(self) -> None:
        """Stop every process in each node's mount namespace: sshd and its sessions."""
        for info in self.nodes.values():
            _stop_namespace(info)
        for process in self._processes:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log.warning("sshd process %d did not exit", process.pid)
        self._processes.clear()

    def status(self) -> list[dict[str, Any]]:
        """Report for each node whether its sshd runs and accepts SSH connections on its port."""
        report = []
        for info in self.nodes.values():
            pids = _namespace_pids(info.mount_namespace)
            report.append({
                "name": info.name,
                "role": info.role,
                "distribution": info.distribution,
                "port": info.port,
                "processes": len(pids),
                "answering": _ssh_banner(info.port, timeout=1.0),
            })
        return report

    # --- stand-in controls ----------------------------------------------

    def calls(self, node: str) -> list[dict[str, Any]]:
        """Return the stand-in calls (systemctl, k3s, kubectl) of ``node``, oldest first."""
        path = self.state_dir(node) / "calls.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line]

    def restarts(self, node: str) -> list[dict[str, Any]]:
        """Return the recorded ``systemctl restart`` calls of ``node``."""
        return [
            call for call in self.calls(node)
            if call["tool"] == "systemctl" and call.get("action") == "restart"
        ]

    def set_restart_delay(self, node: str, seconds: float) -> None:
        """Make every restart of the node's units take ``seconds``."""
        (self.state_dir(node) / "control" / "restart-delay").write_text(f"{seconds}\n")

    def set_fail(self, node: str, mode: str, times: int | None = None) -> None:
        """Make the next ``times`` restarts (None: all) fail in ``mode``.

        Modes: ``restart`` (systemctl restart exits 1, unit failed),
        ``inactive`` (exits 0, unit failed afterwards), ``readyz`` (unit
        active, API readiness check fails until the next good restart).
        """
        if mode not in FAIL_MODES:
            raise SandboxError(f"invalid failure mode {mode!r}: expected one of {FAIL_MODES}")
        if times is not None and times < 1:
            raise SandboxError(f"times must be at least 1 or None, not {times}")
        control = self.state_dir(node) / "control" / "fail.json"
        control.write_text(json.dumps({"mode": mode, "times": times}))

    def clear_fail(self, node: str) -> None:
        """Let restarts of ``node`` succeed again."""
        (self.state_dir(node) / "control" / "fail.json").unlink(missing_ok=True)

    def reset(self, node: str) -> None:
        """Return a node to its state after start: files, unit state, controls and call log."""
        info = self.node(node)
        state = self.state_dir(node)
        self.clear_fail(node)
        (state / "control" / "restart-delay").unlink(missing_ok=True)
        (state / "calls.jsonl").unlink(missing_ok=True)
        shutil.rmtree(state / "etc" / "rancher", ignore_errors=True)
        for child in (state / "tmp").iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
        _make_rancher_dirs(state, info.distribution, info.role)
        for unit_file in (state / "units").iterdir():
            unit_file.unlink()
        (state / "units" / info.unit).write_text("active\n")

    # --- files and SSH ---------------------------------------------------

    def host_path(self, node: str, path: str) -> Path:
        """Map an absolute path inside ``node`` to the host file behind it.

        Only paths under the node's private mounts (/etc, /var/lib,
        /usr/local/bin, /tmp) are the node's own.
        """
        for prefix, name in _MOUNTED.items():
            if path == prefix or path.startswith(prefix + "/"):
                return self.state_dir(node) / name / path[len(prefix):].lstrip("/")
        raise SandboxError(
            f"{path} is not under a private mount of node {node} ({', '.join(_MOUNTED)})"
        )

    def read_file(self, node: str, path: str) -> bytes:
        """Return the content of ``path`` inside ``node``."""
        return self.host_path(node, path).read_bytes()

    def ssh_argv(self, node: str, command: str, user: str = ROOT_USER) -> list[str]:
        """Return an ``ssh`` command line that runs ``command`` on ``node`` as ``user``.

        The host key is checked against the sandbox's known_hosts file.
        """
        info = self.node(node)
        return [
            "ssh", "-F", "/dev/null",
            "-i", info.private_key,
            "-p", str(info.port),
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "GlobalKnownHostsFile=/dev/null",
            "-o", "StrictHostKeyChecking=yes",
            "-o", "BatchMode=yes",
            "-o", "IdentitiesOnly=yes",
            "-o", "LogLevel=ERROR",
            f"{user}@{info.host}",
            command,
        ]

    def run(
        self,
        node: str,
        command: str,
        stdin: bytes | str = b"",
        user: str = ROOT_USER,
        timeout: float = 120,
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` on ``node`` over SSH with ``stdin`` attached, as pulumi-command does."""
        data = stdin.encode() if isinstance(stdin, str) else stdin
        result = subprocess.run(
            self.ssh_argv(node, command, user), input=data, capture_output=True,
            timeout=timeout, check=False,
        )
        return subprocess.CompletedProcess(
            result.args, result.returncode,
            result.stdout.decode(errors="replace"), result.stderr.decode(errors="replace"),
        )


def start_nodes(
    specs: Iterable[str | NodeSpec],
    directory: str | Path = ".sandbox/default",
    distribution: Distribution = "k3s",
) -> Sandbox:
    """Start one sandbox node per spec under ``directory`` and write its inventory.

    ``specs`` are NodeSpec objects or ``name:role[:distribution]`` strings.
    Raises SandboxError when a requirement is missing (root, sshd, sudo,
    unshare) or a node does not start.
    """
    nodes = [spec if isinstance(spec, NodeSpec) else NodeSpec.parse(spec, distribution)
             for spec in specs]
    names = [node.name for node in nodes]
    if not nodes or len(set(names)) != len(names):
        raise SandboxError(f"node names must be given and unique, not {names}")
    ports = [node.port for node in nodes if node.port is not None]
    if len(set(ports)) != len(ports) or not all(1 <= port <= 65535 for port in ports):
        raise SandboxError(f"fixed node ports must be unique and 1 to 65535, not {ports}")
    check_requirements()

    base = Path(directory).resolve()
    if any(str(base) == hidden or str(base).startswith(hidden + "/") for hidden in _HIDDEN):
        raise SandboxError(
            f"sandbox directory {base} is under {', '.join(_HIDDEN)}, which nodes do not see; "
            "choose another directory, such as .sandbox/ in the project"
        )
    if (base / "inventory.json").exists():
        running = [entry["name"] for entry in Sandbox.load(base).status() if entry["processes"]]
        if running:
            raise SandboxError(f"sandbox {base} still runs nodes {running}: stop it first")
    for node in nodes:
        if node.port is not None and _port_taken(node.port):
            raise _port_taken_error(node)
    if base.exists():
        if any(base.iterdir()) and not (base / _MARKER).exists():
            raise SandboxError(
                f"{base} is not a sandbox directory ({_MARKER} file missing); "
                "choose a new or empty directory"
            )
        shutil.rmtree(base)
    (base / "nodes").mkdir(parents=True)
    base.chmod(0o755)
    (base / _MARKER).write_text("This directory belongs to sandbox nodes; start replaces it.\n")

    _ssh_keygen(base / "client_key", "k3s-registries-sandbox")
    users = _pick_users()
    python = _stand_in_python()

    sandbox = Sandbox(base, {})
    try:
        for spec in nodes:
            info, process = _start_node(base, spec, users, python)
            sandbox.nodes[spec.name] = info
            sandbox._processes.append(process)
            log.info("node %s (%s %s) listens on %s:%d", spec.name, spec.distribution,
                     spec.role, HOST, info.port)
    except BaseException:
        sandbox.stop()
        raise
    _write_inventory(sandbox)
    return sandbox


def check_requirements() -> None:
    """Raise SandboxError unless this process can start sandbox nodes."""
    if os.geteuid() != 0:
        raise SandboxError("sandbox nodes need root (mount namespaces and bind mounts)")
    missing = [tool for tool in (SSHD, "/usr/bin/sudo", "unshare", "ssh", "ssh-keygen")
               if shutil.which(tool) is None]
    if missing:
        raise SandboxError(
            f"missing {', '.join(missing)}: install Debian's openssh-server, openssh-client, "
            "sudo and util-linux (apt-get install openssh-server openssh-client sudo)"
        )


# --- starting one node -----------------------------------------------------


@dataclass(frozen=True)
class _User:
    name: str
    uid: int
    sudoers: str


def _start_node(
    base: Path, spec: NodeSpec, users: list[_User], python: str
) -> tuple[NodeInfo, subprocess.Popen[bytes]]:
    state = base / "nodes" / spec.name
    state.mkdir()
    state.chmod(0o755)
    unit = UNITS[(spec.distribution, spec.role)]

    for name in ("var-lib", "usr-local-bin", "bin", "units", "control", "ssh", "home"):
        (state / name).mkdir(mode=0o755)
    _copy_etc(state / "etc")
    _add_users(state, users)
    (state / "tmp").mkdir()
    (state / "tmp").chmod(0o1777)
    _make_rancher_dirs(state, spec.distribution, spec.role)
    (state / "units" / unit).write_text("active\n")
    (state / "node.json").write_text(json.dumps(
        {"name": spec.name, "role": spec.role, "distribution": spec.distribution, "unit": unit}
    ))

    standin = Path(__file__).with_name("standin.py").resolve()
    wrappers = {"systemctl": state / "bin" / "systemctl"}
    if spec.distribution == "k3s":
        wrappers["k3s"] = state / "usr-local-bin" / "k3s"
    else:
        wrappers["kubectl"] = state / "var-lib" / "rancher" / "rke2" / "bin" / "kubectl"
    for tool, path in wrappers.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(_WRAPPER.format(tool=tool, name=spec.name, python=python,
                                        standin=standin, state=state))
        path.chmod(0o755)

    _ssh_keygen(state / "ssh" / "host_ed25519_key", f"sandbox-node-{spec.name}")
    keys = state / "ssh" / "authorized_keys"
    keys.mkdir(mode=0o755)
    client_public = (base / "client_key.pub").read_text()
    for user in [ROOT_USER, *(user.name for user in users)]:
        (keys / user).write_text(client_public)
        (keys / user).chmod(0o644)
    host_key = " ".join((state / "ssh" / "host_ed25519_key.pub").read_text().split()[:2])

    # A fixed port is tried once: another port would not match what the
    # caller (such as a committed stack file) expects.
    last_error = ""
    for _attempt in range(3 if spec.port is None else 1):
        port = spec.port if spec.port is not None else _free_port()
        (state / "ssh" / "sshd_config").write_text(_SSHD_CONFIG.format(
            name=spec.name, port=port, host=HOST, state=state,
            users=" ".join([ROOT_USER, *(user.name for user in users)]),
        ))
        with open(state / "sshd.log", "ab") as sshd_log:
            process = subprocess.Popen(
                ["unshare", "--mount", "--propagation", "private", "--",
                 "sh", "-c", _NODE_INIT, "sandbox-node-init", str(state)],
                stdin=subprocess.DEVNULL, stdout=sshd_log, stderr=sshd_log,
                start_new_session=True,
            )
        if _wait_for_sshd(process, port):
            namespace = os.readlink(f"/proc/{process.pid}/ns/mnt")
            if namespace == os.readlink("/proc/self/ns/mnt"):
                process.kill()
                raise SandboxError(f"node {spec.name}: sshd runs in the host's mount namespace")
            info = NodeInfo(
                name=spec.name, host=HOST, port=port, role=spec.role,
                distribution=spec.distribution, unit=unit, user=ROOT_USER,
                sudo_user=SUDO_USER, password_sudo_user=PASSWORD_SUDO_USER,
                private_key=str(base / "client_key"), host_key=host_key,
                state_dir=str(state), pid=process.pid, mount_namespace=namespace,
            )
            return info, process
        if process.poll() is None:
            process.kill()
        process.wait()
        last_error = _tail(state / "sshd.log")
        if "Address already in use" not in last_error:
            break
        if spec.port is not None:
            raise _port_taken_error(spec)
        log.info("node %s: port %d was taken, trying another", spec.name, port)
    raise SandboxError(f"node {spec.name}: sshd did not start; sshd.log ends with:\n{last_error}")


def _make_rancher_dirs(state: Path, distribution: Distribution, role: Role) -> None:
    """Create what an installed node has: the config dir and, on servers, a kubeconfig."""
    config = state / "etc" / "rancher" / distribution
    config.mkdir(parents=True, exist_ok=True, mode=0o755)
    (state / "var-lib" / "rancher" / distribution).mkdir(parents=True, exist_ok=True)
    if role == "server":
        kubeconfig = config / f"{distribution}.yaml"
        kubeconfig.write_text("# sandbox stand-in kubeconfig\n")
        kubeconfig.chmod(0o600)


# Host files that must not be copied into a node: secrets and the host's own
# registry settings. The copies of passwd, group, shadow and gshadow are
# rewritten by _add_users, and sudoers.d is replaced.
_ETC_SKIP_DIRS = {"rancher", "ssl/private", "sudoers.d"}
_ETC_SKIP_FILES = {"shadow", "shadow-", "gshadow", "gshadow-", "passwd-", "group-"}


def _copy_etc(target: Path) -> None:
    """Copy the host's /etc to ``target`` with owners and modes, leaving secrets out."""
    source = Path("/etc")
    for directory, dirnames, filenames in os.walk(source):
        relative = Path(directory).relative_to(source)
        dirnames[:] = [name for name in dirnames
                       if str(relative / name) not in _ETC_SKIP_DIRS]
        destination = target / relative
        stat = os.lstat(directory)
        destination.mkdir(exist_ok=True)
        os.chown(destination, stat.st_uid, stat.st_gid)
        destination.chmod(stat.st_mode & 0o7777)
        for name in [*dirnames, *filenames]:
            path = Path(directory) / name
            if not path.is_symlink() and path.is_dir():
                continue
            if str(relative / name) in _ETC_SKIP_FILES or _is_host_key(relative, name):
                continue
            _copy_entry(path, destination / name)
    (target / "sudoers.d").mkdir(mode=0o755)


def _is_host_key(relative: Path, name: str) -> bool:
    return str(relative) == "ssh" and name.startswith("ssh_host_") and not name.endswith(".pub")


def _copy_entry(path: Path, destination: Path) -> None:
    stat = os.lstat(path)
    if path.is_symlink():
        os.symlink(os.readlink(path), destination)
    elif path.is_file():
        shutil.copyfile(path, destination)
        destination.chmod(stat.st_mode & 0o7777)
    else:
        return  # sockets and FIFOs
    os.lchown(destination, stat.st_uid, stat.st_gid)


def _pick_users() -> list[_User]:
    """Choose unused uids on the host for the sudo users."""
    taken = {int(line.split(":")[2]) for line in Path("/etc/passwd").read_text().splitlines()
             if line.count(":") >= 6}
    taken |= {int(line.split(":")[2]) for line in Path("/etc/group").read_text().splitlines()
              if line.count(":") >= 3}
    free = (uid for uid in range(2000, 60000) if uid not in taken)
    return [
        _User(SUDO_USER, next(free), f"{SUDO_USER} ALL=(ALL:ALL) NOPASSWD: ALL"),
        _User(PASSWORD_SUDO_USER, next(free), f"{PASSWORD_SUDO_USER} ALL=(ALL:ALL) ALL"),
    ]


def _add_users(state: Path, users: list[_User]) -> None:
    """Write the node's passwd, group, shadow, gshadow and sudoers.d with the sandbox users."""
    etc = state / "etc"
    passwd = Path("/etc/passwd").read_text().rstrip("\n").splitlines()
    group = Path("/etc/group").read_text().rstrip("\n").splitlines()
    for user in users:
        home = state / "home" / user.name
        passwd.append(f"{user.name}:x:{user.uid}:{user.uid}:sandbox user:{home}:/bin/sh")
        group.append(f"{user.name}:x:{user.uid}:")
    (etc / "passwd").write_text("\n".join(passwd) + "\n")
    (etc / "group").write_text("\n".join(group) + "\n")

    # "*" is not a valid password hash, so password logins fail, but the
    # account is not locked ("!"), which sshd rejects without PAM.
    names = [line.split(":")[0] for line in passwd]
    shadow_group = next((int(line.split(":")[2]) for line in group
                         if line.startswith("shadow:")), 0)
    for name, lines in (("shadow", [f"{name}:*:19000:0:99999:7:::" for name in names]),
                        ("gshadow", [f"{line.split(':')[0]}:!::" for line in group])):
        path = etc / name
        path.write_text("\n".join(lines) + "\n")
        os.chown(path, 0, shadow_group)
        path.chmod(0o640)

    sudoers = etc / "sudoers.d" / "k3s-registries-sandbox"
    sudoers.write_text("\n".join(user.sudoers for user in users) + "\n")
    sudoers.chmod(0o440)

    for user in users:
        home = state / "home" / user.name
        home.mkdir(parents=True, mode=0o755)
        os.chown(home, user.uid, user.uid)


def _stand_in_python() -> str:
    """Return a Python interpreter that sandbox nodes can run."""
    for candidate in (os.path.realpath(sys.executable), "/usr/bin/python3"):
        if os.path.exists(candidate) and not any(
            candidate.startswith(hidden + "/") for hidden in _HIDDEN
        ):
            return candidate
    raise SandboxError("no Python outside /usr/local/bin for the stand-ins: install python3")


def _ssh_keygen(path: Path, comment: str) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
        check=True, stdin=subprocess.DEVNULL,
    )


def _free_port() -> int:
    """Return a loopback port that was free a moment ago (bound to port 0, then closed)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _port_taken(port: int) -> bool:
    """Tell whether another socket listens on ``127.0.0.1:port``.

    SO_REUSEADDR, which sshd also sets, lets connections in TIME_WAIT from an
    earlier node pass.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((HOST, port))
        except OSError:
            return True
        return False


def _port_taken_error(spec: NodeSpec) -> SandboxError:
    return SandboxError(
        f"node {spec.name}: port {spec.port} on {HOST} is taken; stop the process that "
        "listens there or choose another base port"
    )


def _ssh_banner(port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=timeout) as connection:
            return connection.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def _wait_for_sshd(process: subprocess.Popen[bytes], port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        if _ssh_banner(port, timeout=0.5):
            return True
        time.sleep(0.05)
    return False


def _tail(path: Path, lines: int = 10) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except FileNotFoundError:
        return ""


def _write_inventory(sandbox: Sandbox) -> None:
    data = {
        "directory": str(sandbox.directory),
        "nodes": [asdict(info) for info in sandbox.nodes.values()],
    }
    temporary = sandbox.directory / "inventory.json.tmp"
    temporary.write_text(json.dumps(data, indent=2) + "\n")
    temporary.replace(sandbox.directory / "inventory.json")
    sandbox.known_hosts.write_text("".join(
        f"[{info.host}]:{info.port} {info.host_key}\n" for info in sandbox.nodes.values()
    ))


# --- stopping ----------------------------------------------------------------


def _namespace_pids(namespace: str) -> list[int]:
    """Return the processes in mount namespace ``namespace`` (such as ``mnt:[4026532]``)."""
    if namespace == os.readlink("/proc/self/ns/mnt"):
        return []  # never the host's own namespace
    pids = []
    for entry in _proc_pids():
        try:
            if os.readlink(f"/proc/{entry}/ns/mnt") == namespace:
                pids.append(entry)
        except OSError:
            continue  # exited, or a kernel thread
    return pids


def _proc_pids() -> Iterator[int]:
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            yield int(entry)


def _stop_namespace(info: NodeInfo, timeout: float = 5) -> None:
    """Send SIGTERM, then SIGKILL, to each process in the node's mount namespace, by pid."""
    pids = _namespace_pids(info.mount_namespace)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while pids and time.monotonic() < deadline:
            time.sleep(0.05)
            pids = _namespace_pids(info.mount_namespace)
        if not pids:
            log.info("node %s stopped", info.name)
            return
    log.warning("node %s: processes %s survived SIGKILL", info.name, pids)
