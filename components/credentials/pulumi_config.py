"""Secrets from Pulumi stack config: ``config:KEY`` or ``config:NAMESPACE:KEY``.

The value is normally set with ``pulumi config set --secret KEY``, which keeps
it encrypted in the stack file. ``KEY`` alone is in the project's namespace,
as with ``pulumi.Config().get``. Only top-level keys are read, so a
structured value is returned as the JSON text Pulumi keeps for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import pulumi
import pulumi.runtime

from components.credentials.errors import FailureKind, FetchError, ReferenceSyntaxError
from components.credentials.source import ParsedReference

log = logging.getLogger(__name__)

ConfigLookup = Callable[[str], object]
"""Return the value of a full config key (``namespace:key``), or None if it is not set."""

SecretCheck = Callable[[str], bool]
"""Tell whether a full config key is a secret."""


@dataclass(frozen=True)
class ConfigTarget:
    """One config key, with its namespace filled in."""

    namespace: str
    key: str

    @property
    def full_key(self) -> str:
        """The key as Pulumi writes it, ``namespace:key``."""
        return f"{self.namespace}:{self.key}"


class PulumiConfigSource:
    """Read stack config through the Pulumi runtime.

    By default this reads the config that the engine passes to the running
    program with ``pulumi.runtime.get_config``, which reads values set in the
    runtime and then the ``PULUMI_CONFIG`` environment variable. A program run
    outside the engine, such as a CLI, passes its own ``lookup``.
    """

    scheme = "config"
    example = "config:registryPassword"

    def __init__(
        self,
        project: str | None = None,
        lookup: ConfigLookup | None = None,
        is_secret: SecretCheck | None = None,
    ) -> None:
        self._project = project
        self._lookup = lookup if lookup is not None else pulumi.runtime.get_config
        self._is_secret = is_secret if is_secret is not None else is_runtime_config_secret

    def __repr__(self) -> str:
        return f"PulumiConfigSource(project={self._project!r})"

    def parse(self, body: str) -> ParsedReference[ConfigTarget]:
        """Parse ``KEY`` or ``NAMESPACE:KEY``; a Pulumi config key contains at most one colon."""
        parts = body.split(":")
        if len(parts) > 2:
            raise ReferenceSyntaxError(
                f"{body!r} has more than one ':'; a config key is KEY or NAMESPACE:KEY",
                self.example,
            )
        if any(not part for part in parts):
            raise ReferenceSyntaxError(f"{body!r} has an empty namespace or key", self.example)

        if len(parts) == 1:
            namespace = self._project if self._project is not None else pulumi.get_project()
            return ParsedReference(ConfigTarget(namespace, parts[0]))
        return ParsedReference(ConfigTarget(parts[0], parts[1]))

    def fetch(self, target: ConfigTarget) -> str:
        """Return the config value; warn (without the value) if it is not a secret."""
        value = self._lookup(target.full_key)
        if value is None:
            raise FetchError(
                FailureKind.NOT_FOUND,
                f"config key {target.full_key} is not set in this stack",
                f"run: pulumi config set --secret {target.full_key} <value>",
            )
        if not isinstance(value, str):
            raise FetchError(
                FailureKind.NOT_TEXT,
                f"config key {target.full_key} holds a {type(value).__name__}, not a string",
            )

        if not self._is_secret(target.full_key):
            log.warning(
                "Config key %s is not a secret, so its value is stored in plain text in the "
                "stack file; set it with: pulumi config set --secret %s",
                target.full_key,
                target.full_key,
            )
        return value


def is_runtime_config_secret(full_key: str) -> bool:
    """Tell whether the engine marked a config key secret.

    The language host lists secret keys in ``PULUMI_CONFIG_SECRET_KEYS``,
    while ``pulumi.runtime.set_all_config`` (mocks, providers) records them in
    the runtime (pulumi 3.272 ``pulumi/runtime/config.py``), so both are read.
    """
    if pulumi.runtime.is_config_secret(full_key):
        return True
    return full_key in pulumi.runtime.get_config_secret_keys_env()
