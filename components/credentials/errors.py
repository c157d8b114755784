"""Failures of secret references, each named by config key and reference text.

No message, attribute or ``repr`` here contains a secret value. Sources
describe what went wrong in their own words (``FetchError``) and the resolver
adds the config key and the reference text (``SecretError``), so every error a
user sees says where the reference is written and what it points to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import Enum

from components.problems import ConfigError, Problem


class FailureKind(Enum):
    """Cause of a failed secret reference."""

    MALFORMED_REFERENCE = "malformed reference"
    UNKNOWN_SCHEME = "unknown scheme"
    NOT_FOUND = "not found"
    ACCESS_DENIED = "access denied"
    DECRYPTION_FAILED = "decryption failed"
    NO_REGION = "no region"
    PROFILE_NOT_FOUND = "profile not found"
    NO_CREDENTIALS = "no credentials"
    INVALID_CREDENTIALS = "invalid credentials"
    UNREACHABLE = "endpoint unreachable"
    SERVICE_ERROR = "service error"
    UNREADABLE = "unreadable"
    NOT_TEXT = "not text"
    NOT_JSON_OBJECT = "not a JSON object"
    JSON_KEY_MISSING = "JSON key missing"
    EMPTY_VALUE = "empty value"


class FetchError(Exception):
    """A source failed to parse or fetch a reference; the message never holds a value."""

    def __init__(self, kind: FailureKind, message: str, hint: str = "") -> None:
        self.kind = kind
        self.message = message
        self.hint = hint
        super().__init__(message if not hint else f"{message} ({hint})")


class ReferenceSyntaxError(FetchError):
    """The reference text does not follow its scheme's grammar."""

    def __init__(self, message: str, example: str) -> None:
        super().__init__(FailureKind.MALFORMED_REFERENCE, message, f"write it like {example!r}")


@dataclass(frozen=True)
class SecretFailure:
    """One reference that could not be resolved: where it is written and why it failed."""

    key: str
    reference: str
    kind: FailureKind
    message: str
    hint: str = ""

    def problem(self) -> Problem:
        """Describe the failure as a config problem at ``key``."""
        return Problem(
            path=self.key or "(no key)",
            message=f"secret reference {self.reference!r}: {self.message}",
            hint=self.hint,
        )


class SecretError(ConfigError):
    """One or more secret references could not be resolved.

    A :class:`ConfigError`, so callers that report config errors report these
    too. ``failures`` keeps the structured form for callers and tests.
    """

    def __init__(self, failures: Iterable[SecretFailure]) -> None:
        self.failures = tuple(failures)
        super().__init__([failure.problem() for failure in self.failures], source="secrets")

    @property
    def kind(self) -> FailureKind:
        """The kind of the first failure."""
        return self.failures[0].kind

    @classmethod
    def from_fetch_error(cls, error: FetchError, key: str, reference: str) -> SecretError:
        """Name a source's failure by the config key and reference text it concerns."""
        return cls([SecretFailure(key, reference, error.kind, error.message, error.hint)])
