"""Run a stack's rollout over OpenSSH, without the Pulumi engine.

Each node gets exactly what its ``pulumi_command.remote.Command`` would
run: the same create script as the remote command, the same payload on
stdin, in the same waves. This serves where the engine or the pulumi-command
provider cannot run (the sandbox demo, a break-glass fix) and keeps no
state: every run opens one SSH session per node, and the node script itself
skips nodes whose files are already identical.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TypeVar, cast

from components.credentials import Resolver
from components.model import SecretText
from components.node_files import NodeContent, build_content, place_tls_files
from components.node_script import build_create_script
from components.problems import ConfigError, Problem
from components.rollout import plan_waves, script_settings
from components.stack_config import DeploymentSettings, Node

log = logging.getLogger(__name__)
_T = TypeVar("_T")
# Stand-in value of a failed resolution, so that later resolutions still run
# and report their own failures. It never reaches a node, because the
# collected failures are raised first.
_PLACEHOLDER = ""

UNCHANGED_MARK = ": unchanged"
"""The node script prints ``node NAME: unchanged`` when it had nothing to do."""


@dataclass(frozen=True)
class NodeResult:
    """Outcome of the rollout on one node."""

    node: str
    status: str
    """``changed``, ``unchanged``, ``failed`` or ``skipped`` (an earlier wave failed)."""
    seconds: float = 0.0
    output: str = ""


def prepare_content(settings: DeploymentSettings, resolver: Resolver) -> NodeContent:
    """Resolve every secret reference and build the files, as the component does.

    Raises one :class:`ConfigError` that lists every reference that failed.
    """
    registries, tls_files = place_tls_files(
        settings.registries, settings.tls, settings.distribution
    )
    failures = _Failures()
    resolved = failures.run(lambda: resolver.resolve_registries_text(registries, "registries"))
    tls_contents = [
        failures.run(partial(resolver.resolve_text, planned.content, planned.config_key))
        for planned in tls_files
    ]
    key = b""
    if settings.fingerprint_key is not None:
        fingerprint_key = settings.fingerprint_key
        key = failures.run(
            lambda: resolver.resolve_text(fingerprint_key, "fingerprintKey")
        ).encode()
    failures.raise_if_any()
    return build_content(resolved, tls_files, tls_contents, settings.distribution, key)


def resolve_connections(settings: DeploymentSettings, resolver: Resolver) -> dict[str, Connection]:
    """Resolve every node's SSH key and host key (and the bastion's) before any node is touched.

    Raises one :class:`ConfigError` that lists every reference that failed.
    """
    ssh = settings.ssh
    failures = _Failures()

    def text(value: SecretText | None, key: str) -> str | None:
        if value is None:
            return None
        return failures.run(lambda: resolver.resolve_text(value, key)).strip() + "\n"

    bastion = None
    if ssh.bastion is not None:
        bastion = Endpoint(
            name="bastion",
            host=ssh.bastion.host,
            port=ssh.bastion.port,
            user=ssh.bastion.user or ssh.user,
            private_key=text(ssh.bastion.private_key or ssh.private_key, "ssh.bastion.privateKey"),
            host_key=text(ssh.bastion.host_key, "ssh.bastion.hostKey"),
        )
    connections = {}
    for index, node in enumerate(settings.nodes):
        connections[node.name] = Connection(
            Endpoint(
                name=f"node {node.name}",
                host=node.host,
                port=node.port,
                user=node.user or ssh.user,
                private_key=text(node.private_key or ssh.private_key, f"nodes[{index}].privateKey"),
                host_key=text(node.host_key, f"nodes[{index}].hostKey"),
            ),
            bastion,
        )
    failures.raise_if_any()
    return connections


def run_rollout(
    settings: DeploymentSettings,
    resolver: Resolver,
    report: Callable[[NodeResult], None] = lambda result: None,
) -> list[NodeResult]:
    """Roll the content out wave by wave; a failed node stops the waves after its own.

    Every reference is resolved before the first node is touched. ``report``
    is called for every node as soon as its result is known.
    """
    content = prepare_content(settings, resolver)
    connections = resolve_connections(settings, resolver)
    results: list[NodeResult] = []
    with tempfile.TemporaryDirectory(prefix="k3s-registries-ssh-") as scratch:
        ssh = _OpenSSH(Path(scratch), settings.ssh.per_dial_timeout)

        def place(node: Node) -> NodeResult:
            script = build_create_script(script_settings(node, settings), content.summary)
            return ssh.run(node.name, connections[node.name], script, content.payload)

        failed = False
        for wave in plan_waves(settings.nodes, settings.rollout.agent_batch_size):
            if failed:
                skipped = [NodeResult(node.name, "skipped") for node in wave]
                for result in skipped:
                    report(result)
                results.extend(skipped)
                continue
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                wave_results = list(pool.map(place, wave))
            for result in wave_results:
                report(result)
            results.extend(wave_results)
            failed = any(result.status == "failed" for result in wave_results)
    return results


@dataclass(frozen=True)
class Endpoint:
    """One SSH destination with its resolved key and host key."""

    name: str
    host: str
    port: int
    user: str
    private_key: str | None
    host_key: str | None

    def __repr__(self) -> str:
        return f"Endpoint({self.name}, {self.user}@{self.host}:{self.port})"


@dataclass(frozen=True)
class Connection:
    """How to reach one node: the node itself, through an optional bastion."""

    node: Endpoint
    bastion: Endpoint | None


class _OpenSSH:
    """Runs one ``ssh`` session per node, with keys and host keys in a private scratch folder."""

    def __init__(self, scratch: Path, connect_timeout: int) -> None:
        self.scratch = scratch
        self.connect_timeout = connect_timeout
        self._files: dict[str, Path] = {}
        self._lock = threading.Lock()

    def run(self, node: str, connection: Connection, script: str, payload: str) -> NodeResult:
        argv = [*self.options(connection), "--", _destination(connection.node), script]
        started = time.monotonic()
        log.info("node %s: connecting to %s:%d", node, connection.node.host, connection.node.port)
        result = subprocess.run(argv, input=payload, capture_output=True, text=True, check=False)
        seconds = time.monotonic() - started
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            log.error("node %s: failed with exit status %d", node, result.returncode)
            if "Host key verification failed" in output:
                output += (
                    f"\nnode {node}: the SSH host key differs from the hostKey in the stack "
                    "config; check k3s-registries:nodes (or ssh.bastion) hostKey for this node"
                )
            return NodeResult(node, "failed", seconds, output)
        status = "unchanged" if f"node {node}{UNCHANGED_MARK}" in result.stdout else "changed"
        return NodeResult(node, status, seconds, output)

    def options(self, connection: Connection) -> list[str]:
        """Return the ssh options for one connection, up to the destination."""
        options = ["ssh", *self._endpoint_options(connection.node)]
        if connection.bastion is not None:
            jump = [
                "ssh",
                *self._endpoint_options(connection.bastion),
                "-W",
                "%h:%p",
                "--",
                _destination(connection.bastion),
            ]
            options += ["-o", f"ProxyCommand={shlex.join(jump)}"]
        return options

    def _endpoint_options(self, endpoint: Endpoint) -> list[str]:
        options = [
            "-F", "/dev/null",
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={self.connect_timeout}",
            "-p", str(endpoint.port),
        ]  # fmt: skip
        if endpoint.private_key is not None:
            key_file = self._write(f"key-{endpoint.name}", endpoint.private_key)
            options += ["-o", "IdentitiesOnly=yes", "-i", str(key_file)]
        if endpoint.host_key is None:
            log.warning(
                "%s: no hostKey is set, so the SSH host key of %s is not checked",
                endpoint.name,
                endpoint.host,
            )
            return [
                *options,
                "-o",
                "StrictHostKeyChecking=no",
                "-o",
                "UserKnownHostsFile=/dev/null",
            ]
        line = f"[{endpoint.host}]:{endpoint.port} {endpoint.host_key}"
        known_hosts = self._write(f"known_hosts-{endpoint.name}", line)
        return [
            *options,
            "-o",
            "StrictHostKeyChecking=yes",
            "-o",
            f"UserKnownHostsFile={known_hosts}",
        ]

    def _write(self, name: str, text: str) -> Path:
        """Write a file readable by this user only, once per name."""
        with self._lock:
            path = self._files.get(name)
            if path is None:
                path = self.scratch / name.replace(" ", "-")
                path.touch(mode=0o600)
                path.write_text(text)
                self._files[name] = path
            return path


class _Failures:
    """Collects the problems of several resolutions, so one run reports all of them."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def run(self, resolve: Callable[[], _T]) -> _T:
        try:
            return resolve()
        except ConfigError as error:
            self.problems.extend(error.problems)
            return cast(_T, _PLACEHOLDER)

    def raise_if_any(self) -> None:
        if self.problems:
            raise ConfigError(self.problems)


def _destination(endpoint: Endpoint) -> str:
    return f"{endpoint.user}@{endpoint.host}"


def summarize_results(results: Sequence[NodeResult]) -> str:
    """Return one line per node, in rollout order."""
    return "\n".join(
        f"{result.node}: {result.status}"
        + (f" in {result.seconds:.1f}s" if result.status != "skipped" else "")
        for result in results
    )
