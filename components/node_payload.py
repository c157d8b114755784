"""The files placed on a node, and the stdin payload that carries them to the node script.

Content travels only on the remote command's stdin because pulumi-command
(provider v1.2) puts the whole command string into its error message on
failure. The payload carries its own checksum so that the node script can
reject a truncated stdin before it writes anything.

Payload format, version 1, one item per line (LF line ends)::

    k3s-registries-payload 1
    file <mode, 4 octal digits> <size in bytes> <absolute path>
    <base64 of the content, 76 characters a line; no lines for an empty file>
    ... one "file" line and its base64 lines per file ...
    end <number of files> <sha256 hex of every byte before this line>

Base64 lines contain only ``A-Za-z0-9+/=``, so they never start with
``file `` or ``end ``. Files are listed in the order they are written, with
every ``registries.yaml`` last, so certificate and key files exist before the
file that points at them.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

Distribution = Literal["k3s", "rke2"]

PAYLOAD_HEADER = "k3s-registries-payload 1"
"""First line of every payload; the node script rejects any other format."""

REGISTRIES_FILE = "registries.yaml"

_CONFIG_DIRS: dict[Distribution, str] = {
    "k3s": "/etc/rancher/k3s",
    "rke2": "/etc/rancher/rke2",
}

# The node script checks paths with a shell `case` pattern, so the allowed
# characters are kept to a set that needs no quoting and no escaping there.
_PATH_CHARS = re.compile(r"[A-Za-z0-9._:/-]+")


def config_dir(distribution: Distribution) -> str:
    """Return the directory K3s or RKE2 reads ``registries.yaml`` from."""
    try:
        return _CONFIG_DIRS[distribution]
    except KeyError:
        raise ValueError(
            f"unknown distribution {distribution!r}: expected 'k3s' or 'rke2'"
        ) from None


@dataclass(frozen=True)
class NodeFile:
    """One file to place on a node.

    ``path`` is absolute and lies under ``/etc/rancher/k3s`` or
    ``/etc/rancher/rke2``. ``mode`` is 0o600 for ``registries.yaml`` and
    private keys, 0o644 for certificates. Files are always owned by root.
    """

    path: str
    content: str
    mode: int

    def __post_init__(self) -> None:
        check_path(self.path)
        if not 0 <= self.mode <= 0o777:
            raise ValueError(
                f"{self.path}: mode {self.mode:#o} is not a permission mode (0o000 to 0o777)"
            )
        if self.mode & 0o022:
            raise ValueError(
                f"{self.path}: mode {self.mode:#o} lets group or others write; use 0o600 or 0o644"
            )
        if posixpath.basename(self.path) == REGISTRIES_FILE and self.mode & 0o077:
            raise ValueError(
                f"{self.path}: mode {self.mode:#o} lets others read credentials; use 0o600"
            )


def check_path(path: str, distribution: Distribution | None = None) -> None:
    """Raise ValueError unless ``path`` is a normalized file path under a config dir.

    With ``distribution`` the path must be under that distribution's config
    dir, otherwise under either one.
    """
    dirs = [config_dir(distribution)] if distribution else list(_CONFIG_DIRS.values())
    if not _PATH_CHARS.fullmatch(path):
        raise ValueError(
            f"invalid node file path {path!r}: use only letters, digits and . _ : / -"
        )
    if posixpath.normpath(path) != path:
        raise ValueError(
            f"invalid node file path {path!r}: write it normalized, without //, . or .."
        )
    if not any(path.startswith(directory + "/") for directory in dirs):
        raise ValueError(
            f"node file path {path} is outside {' and '.join(dirs)}; K3s and RKE2 read "
            "registry files only from there"
        )


def ordered(files: Sequence[NodeFile]) -> list[NodeFile]:
    """Return ``files`` in write order: as given, with every ``registries.yaml`` last."""
    others = [f for f in files if posixpath.basename(f.path) != REGISTRIES_FILE]
    registries = [f for f in files if posixpath.basename(f.path) == REGISTRIES_FILE]
    return others + registries


def build_payload(files: Sequence[NodeFile]) -> str:
    """Encode ``files`` as the node script's stdin (the format is in the module docstring).

    Raises ValueError when ``files`` is empty, names a path twice, or mixes
    the K3s and RKE2 config dirs.
    """
    if not files:
        raise ValueError("no node files to place: pass at least registries.yaml")
    paths = [f.path for f in files]
    duplicates = sorted({path for path in paths if paths.count(path) > 1})
    if duplicates:
        raise ValueError(f"node file paths listed more than once: {', '.join(duplicates)}")
    dirs = {directory for directory in _CONFIG_DIRS.values() for path in paths
            if path.startswith(directory + "/")}
    if len(dirs) > 1:
        raise ValueError("node files mix /etc/rancher/k3s and /etc/rancher/rke2; use one")

    lines = [PAYLOAD_HEADER]
    for node_file in ordered(files):
        data = node_file.content.encode("utf-8")
        lines.append(f"file {node_file.mode:04o} {len(data)} {node_file.path}")
        lines.extend(base64.encodebytes(data).decode("ascii").splitlines())
    body = "\n".join(lines) + "\n"

    digest = hashlib.sha256(body.encode("ascii")).hexdigest()
    return f"{body}end {len(files)} {digest}\n"

