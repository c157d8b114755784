"""Plan and build the files each node receives: registries.yaml and the registry TLS files.

TLS material given in stack config is placed in one directory per registry
host under the distribution's config directory, and the rendered
registries.yaml points at those paths, so the two always agree. The same
content (files, payload, masked summary) serves every node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from components.model import TLS, Registries, RegistryConfig, SecretText, quote_key
from components.node_payload import REGISTRIES_FILE, NodeFile, build_payload, config_dir
from components.problems import ConfigError, Problem
from components.render import render, render_masked
from components.stack_config import Distribution, TLSMaterial, key_path
from components.summary import summarize
from components.validate import load_registries_text

CERTIFICATE_MODE = 0o644
PRIVATE_MODE = 0o600

# File name, mode, and the registries.yaml key that points at the file.
_TLS_FILES = (
    ("ca", "ca.crt", CERTIFICATE_MODE, "ca_file"),
    ("cert", "client.crt", CERTIFICATE_MODE, "cert_file"),
    ("key", "client.key", PRIVATE_MODE, "key_file"),
)


@dataclass(frozen=True)
class PlannedFile:
    """A TLS file to place on every node; ``content`` may still be a secret reference."""

    path: str
    mode: int
    content: SecretText
    config_key: str


@dataclass(frozen=True)
class NodeContent:
    """Content that every node receives, built once from resolved values.

    ``payload`` contains secret values and goes to the command's stdin; ``masked``
    and ``summary`` are secret-free and go where reviewers read them.
    """

    files: tuple[NodeFile, ...]
    payload: str
    masked: str
    summary: str

    def __repr__(self) -> str:
        return f"NodeContent(files={[file.path for file in self.files]})"


def registries_path(distribution: Distribution) -> str:
    """Return where the distribution reads registries.yaml."""
    return f"{config_dir(distribution)}/{REGISTRIES_FILE}"


def tls_directory(distribution: Distribution, host: str) -> str:
    """Return the per-registry directory for TLS files; ``host:port`` becomes ``host_port``."""
    return f"{config_dir(distribution)}/certs/{host.replace(':', '_')}"


def place_tls_files(
    registries: Registries,
    materials: Mapping[str, TLSMaterial],
    distribution: Distribution,
) -> tuple[Registries, list[PlannedFile]]:
    """Plan the TLS files and fill their node paths into ``configs.<host>.tls``.

    Returns the updated registries and the files, in host order.
    """
    configs: dict[str, RegistryConfig] = dict(registries.configs)
    files: list[PlannedFile] = []
    for host in sorted(materials):
        material = materials[host]
        directory = tls_directory(distribution, host)
        config = configs.get(host, RegistryConfig())
        tls = config.tls or TLS()
        for name, file_name, mode, tls_key in _TLS_FILES:
            content = getattr(material, name)
            if content is None:
                continue
            path = f"{directory}/{file_name}"
            tls = _with_path(tls, tls_key, path)
            files.append(PlannedFile(path, mode, content, f"tls.{quote_key(host)}.{name}"))
        configs[host] = replace(config, tls=tls)
    return replace(registries, configs=configs), files


def build_content(
    registries: Registries,
    tls_files: Sequence[PlannedFile],
    tls_contents: Sequence[str],
    distribution: Distribution,
    fingerprint_key: bytes,
) -> NodeContent:
    """Render the resolved registries and assemble the files, payload and masked summary.

    ``tls_contents`` are the resolved contents of ``tls_files``, in order.
    registries.yaml comes last, so the node writes it after the files it names.
    """
    check_pem(tls_files, tls_contents)
    files = [
        NodeFile(planned.path, text, planned.mode)
        for planned, text in zip(tls_files, tls_contents, strict=True)
    ]
    files.append(NodeFile(registries_path(distribution), render_checked(registries), PRIVATE_MODE))
    masked = render_masked(registries, fingerprint_key)
    return NodeContent(
        files=tuple(files),
        payload=build_payload(files),
        masked=masked,
        summary=summarize(masked, files, fingerprint_key),
    )


def check_pem(tls_files: Sequence[PlannedFile], tls_contents: Sequence[str]) -> None:
    """Check that each TLS file contains PEM of its kind; raise one error listing every bad file.

    containerd reads these files only when it first connects to the registry,
    so a wrong file would otherwise show up as a failed pull, not as an error.
    """
    problems = []
    for planned, text in zip(tls_files, tls_contents, strict=True):
        kind = "private key" if planned.mode == PRIVATE_MODE else "certificate"
        marker = "PRIVATE KEY-----" if kind == "private key" else "-----BEGIN CERTIFICATE-----"
        if marker not in text:
            problems.append(
                Problem(
                    key_path(planned.config_key),
                    f"does not hold a PEM {kind}",
                    f"give the PEM text, starting with -----BEGIN "
                    f"{'... PRIVATE KEY' if kind == 'private key' else 'CERTIFICATE'}-----",
                )
            )
    if problems:
        raise ConfigError(problems)


def render_checked(registries: Registries) -> str:
    """Render the resolved file and validate it again, now with the secret values in place.

    Checks that need a value, such as ``auth`` decoding to ``user:password``,
    are skipped for references when the stack config is read; they run here.
    Messages name the key, never the value.
    """
    text = render(registries)
    load_registries_text(text, source="registries after resolving secret references")
    return text


def _with_path(tls: TLS, tls_key: str, path: str) -> TLS:
    if tls_key == "ca_file":
        return replace(tls, ca_file=path)
    if tls_key == "cert_file":
        return replace(tls, cert_file=path)
    return replace(tls, key_file=path)
