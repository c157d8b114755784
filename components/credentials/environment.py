"""Secrets from environment variables: ``env:NAME``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from components.credentials.errors import FailureKind, FetchError, ReferenceSyntaxError
from components.credentials.source import ParsedReference


@dataclass(frozen=True)
class EnvironmentTarget:
    """One environment variable, by name."""

    name: str


class EnvironmentSource:
    """Read a variable from the environment of the running program.

    The variable is read when the reference is resolved, not when the source
    is created, so a test or wrapper can set it at any time before that.
    """

    scheme = "env"
    example = "env:REGISTRY_PASSWORD"

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    def __repr__(self) -> str:
        return "EnvironmentSource()"

    def parse(self, body: str) -> ParsedReference[EnvironmentTarget]:
        """Parse a variable name; it cannot be empty or contain ``=`` or a NUL character."""
        if not body:
            raise ReferenceSyntaxError("the variable name is empty", self.example)
        if "=" in body or "\0" in body:
            raise ReferenceSyntaxError(
                f"{body!r} is not a valid environment variable name", self.example
            )
        return ParsedReference(EnvironmentTarget(body))

    def fetch(self, target: EnvironmentTarget) -> str:
        """Return the variable's value; raise ``NOT_FOUND`` if it is not set."""
        environ = os.environ if self._environ is None else self._environ
        value = environ.get(target.name)
        if value is None:
            raise FetchError(
                FailureKind.NOT_FOUND,
                f"environment variable {target.name} is not set",
                "set it in the environment that runs pulumi",
            )
        return value
