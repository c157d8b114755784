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
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from components.credentials import Resolver
from components.model import SecretText
from components.node_files import NodeContent, build_content, place_tls_files
from components.node_script import build_create_script
from components.rollout import plan_waves, script_settings
from components.stack_config import DeploymentSettings, Node

log = logging.getLogger(__name__)

UNCHANGED_MARK = ": unchanged"
"""The node script prints ``node NAME: unchanged`` when it had nothing to do."""


@dataclass(frozen=True)
class NodeResult:
    """What happened on one node."""

    node: str
    status: str
    """``changed``, ``unchanged``, ``failed`` or ``skipped`` (an earlier wave failed)."""
    seconds: float = 0.0
    output: str = ""


def prepare_content(settings: DeploymentSettings, resolver: Resolver) -> NodeContent:
    """Resolve every secret reference and build the files, as the component does."""
    registries, tls_files = place_tls_files(
        settings.registries, settings.tls, settings.distribution
    )
    resolved = resolver.resolve_registries_text(registries, "registries")
    tls_contents = [
        resolver.resolve_text(planned.content, planned.config_key) for planned in tls_files
    ]
    key = b""
    if settings.fingerprint_key is not None:
        key = resolver.resolve_text(settings.fingerprint_key, "fingerprintKey").encode()
    return build_content(resolved, tls_files, tls_contents, settings.distribution, key)


def run_rollout(
    settings: DeploymentSettings,
    resolver: Resolver,
    report: Callable[[NodeResult], None] = lambda result: None,
    connect_timeout: int = 15,
) -> list[NodeResult]:
    """Roll the content out wave by wave; a failed node stops the waves after its own.

    ``report`` is called for every node as soon as its result is known.
    """
    content = prepare_content(settings, resolver)
    results: list[NodeResult] = []
    with tempfile.TemporaryDirectory(prefix="k3s-registries-ssh-") as scratch:
        session = _SSHSession(Path(scratch), settings, resolver, connect_timeout)
        failed = False
        for wave in plan_waves(settings.nodes, settings.rollout.agent_batch_size):
            if failed:
                skipped = [NodeResult(node.name, "skipped") for node in wave]
                for result in skipped:
                    report(result)
                results.extend(skipped)
                continue
            with ThreadPoolExecutor(max_workers=len(wave)) as pool:
                wave_results = list(pool.map(lambda node: session.place(node, content), wave))
            for result in wave_results:
                report(result)
            results.extend(wave_results)
            failed = any(result.status == "failed" for result in wave_results)
    return results


class _SSHSession:
    """Builds one ``ssh`` call per node, with the key and host keys in a private scratch folder."""

    def __init__(
        self,
        scratch: Path,
        settings: DeploymentSettings,
        resolver: Resolver,
        connect_timeout: int,
    ) -> None:
        self.scratch = scratch
        self.settings = settings
        self.resolver = resolver
        self.connect_timeout = connect_timeout
        self._files: dict[str, Path] = {}

    def place(self, node: Node, content: NodeContent) -> NodeResult:
        script = build_create_script(script_settings(node, self.settings), content.summary)
        argv = [
            *self.ssh_options(node),
            f"{node.user or self.settings.ssh.user}@{node.host}",
            script,
        ]
        started = time.monotonic()
        log.info("node %s: connecting to %s:%d", node.name, node.host, node.port)
        result = subprocess.run(
            argv, input=content.payload, capture_output=True, text=True, check=False
        )
        seconds = time.monotonic() - started
        output = (result.stdout + result.stderr).strip()
        if result.returncode != 0:
            log.error("node %s: failed with exit status %d", node.name, result.returncode)
            return NodeResult(node.name, "failed", seconds, output)
        status = "unchanged" if f"node {node.name}{UNCHANGED_MARK}" in result.stdout else "changed"
        return NodeResult(node.name, status, seconds, output)

    def ssh_options(self, node: Node) -> list[str]:
        """Return the ssh command line up to the destination, for one node."""
        ssh = self.settings.ssh
        options = [
            "ssh",
            "-F",
            "/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            f"ConnectTimeout={self.connect_timeout}",
            "-p",
            str(node.port),
        ]
        key = node.private_key or ssh.private_key
        if key is not None:
            options += ["-o", "IdentitiesOnly=yes", "-i", str(self._key_file(key, node.name))]
        options += self._host_key_options(node.host, node.port, node.host_key, node.name)
        if ssh.bastion is not None:
            bastion = ssh.bastion
            jump = ["ssh", "-F", "/dev/null", "-o", "BatchMode=yes", "-p", str(bastion.port)]
            bastion_key = bastion.private_key or ssh.private_key
            if bastion_key is not None:
                jump += ["-i", str(self._key_file(bastion_key, "bastion"))]
            jump += self._host_key_options(bastion.host, bastion.port, bastion.host_key, "bastion")
            jump += ["-W", "%h:%p", f"{bastion.user or ssh.user}@{bastion.host}"]
            options += ["-o", f"ProxyCommand={shlex.join(jump)}"]
        return options

    def _host_key_options(
        self, host: str, port: int, host_key: SecretText | None, name: str
    ) -> list[str]:
        if host_key is None:
            log.warning(
                "%s: no hostKey is set, so the SSH host key of %s is not checked", name, host
            )
            return ["-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null"]
        line = self.resolver.resolve_text(host_key, f"{name}.hostKey").strip()
        known_hosts = self._write(f"known_hosts-{name}", f"[{host}]:{port} {line}\n")
        return ["-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={known_hosts}"]

    def _key_file(self, key: SecretText, name: str) -> Path:
        text = self.resolver.resolve_text(key, f"{name}.privateKey")
        # OpenSSH rejects a key file without its final newline.
        return self._write(f"key-{name}", text if text.endswith("\n") else text + "\n")

    def _write(self, name: str, text: str) -> Path:
        path = self._files.get(name)
        if path is None:
            path = self.scratch / name
            path.touch(mode=0o600)
            path.write_text(text)
            self._files[name] = path
        return path


def summarize_results(results: Sequence[NodeResult]) -> str:
    """Return one line per node, in rollout order."""
    return "\n".join(
        f"{result.node}: {result.status}"
        + (f" in {result.seconds:.1f}s" if result.status != "skipped" else "")
        for result in results
    )
