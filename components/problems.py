"""Errors and warnings found in user input, each tied to the key path it concerns.

Every message names the key (``mirrors."docker.io".endpoint[0]``), says what
is wrong and what to write instead. Messages must never contain a secret
value: callers pass the key path and describe the value, they do not quote it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum


class Severity(Enum):
    """Severity of a problem: an error stops the run, a warning does not."""

    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    """One finding: where it is, what is wrong, and what to write instead."""

    path: str
    message: str
    hint: str = ""
    severity: Severity = Severity.ERROR

    def __str__(self) -> str:
        text = f"{self.severity.value}: {self.path}: {self.message}"
        if self.hint:
            text += f" ({self.hint})"
        return text


class ConfigError(Exception):
    """Input that cannot be used as it is; carries every error found, not just the first."""

    def __init__(self, problems: Iterable[Problem], source: str = "") -> None:
        self.problems = tuple(problems)
        self.source = source
        prefix = f"{source}: " if source else ""
        lines = [f"{prefix}{problem}" for problem in self.problems]
        super().__init__("\n".join(lines) if lines else f"{prefix}invalid input")
