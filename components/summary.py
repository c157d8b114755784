"""The secret-free summary of what a node receives, shown in preview diffs.

It is the masked registries.yaml followed by one line per TLS file with the
file's path, mode and a keyed fingerprint of its content. A reviewer can
tell which mirror changed and that a certificate or key changed, but never
reads a value.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.fingerprint import fingerprint
from components.node_script import NodeFile


def summarize(masked_registries: str, files: Sequence[NodeFile], key: bytes) -> str:
    """Describe the files placed on a node without any secret value."""
    lines = [masked_registries.rstrip("\n")]
    for file in files:
        if file.path.endswith("/registries.yaml"):
            continue
        lines.append(f"# {file.path} mode {file.mode:04o} {fingerprint(file.content, key)}")
    return "\n".join(lines) + "\n"
