"""The secret sources a resolver registers by default, keyed by scheme.

A new store is one module with a :class:`SecretSource` class, plus one line in
:func:`default_sources`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from components.credentials.aws_secrets_manager import SecretsManagerSource
from components.credentials.aws_ssm import ParameterStoreSource
from components.credentials.environment import EnvironmentSource
from components.credentials.files import FileSource
from components.credentials.pulumi_config import PulumiConfigSource
from components.credentials.source import SecretSource

SourceMap = dict[str, SecretSource[Any]]
"""Sources by scheme, the text before the first ``:`` of a reference."""


def default_sources(project_root: Path, project: str | None = None) -> SourceMap:
    """Create one source per built-in scheme: config, env, file, aws-sm and aws-ssm."""
    return sources_by_scheme(
        [
            PulumiConfigSource(project=project),
            EnvironmentSource(),
            FileSource(project_root),
            SecretsManagerSource(),
            ParameterStoreSource(),
        ]
    )


def sources_by_scheme(sources: Iterable[SecretSource[Any]]) -> SourceMap:
    """Key sources by scheme; a later source replaces an earlier one with the same scheme."""
    return {source.scheme: source for source in sources}
