"""Parsing of reference text (``SCHEME:BODY``) into a typed, hashable reference."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from components.credentials.errors import (
    FailureKind,
    FetchError,
    ReferenceSyntaxError,
    SecretError,
)
from components.credentials.source import SecretSource


@dataclass(frozen=True)
class SecretReference:
    """A parsed reference: its text, scheme, what to fetch and an optional JSON key.

    It contains where a value lives, never the value, so its ``repr`` is safe to
    print. Two references with the same scheme and target share one fetch.
    """

    text: str
    scheme: str
    target: Hashable
    json_key: str | None = None

    @property
    def fetch_key(self) -> tuple[str, Hashable]:
        """What identifies one fetch: the scheme and the target, without the JSON key."""
        return (self.scheme, self.target)


def parse_reference(
    text: str, key: str, sources: Mapping[str, SecretSource[Any]]
) -> SecretReference:
    """Parse ``SCHEME:BODY`` with the source registered for ``SCHEME``.

    Raises :class:`SecretError` naming ``key`` (the config key the reference
    is written under) if the scheme is unknown or the body is malformed.
    """
    failure = _parse(text, sources)
    if isinstance(failure, SecretReference):
        return failure
    raise SecretError.from_fetch_error(failure, key, text)


def _parse(text: str, sources: Mapping[str, SecretSource[Any]]) -> SecretReference | FetchError:
    """Return the parsed reference or the error, so the caller raises outside any except block."""
    scheme, colon, body = text.partition(":")
    known = ", ".join(f"{name}:" for name in sorted(sources))
    if not colon or not scheme:
        return FetchError(
            FailureKind.MALFORMED_REFERENCE,
            "a reference starts with a scheme and ':'",
            f"known schemes: {known}; for example 'env:REGISTRY_PASSWORD'",
        )

    source = sources.get(scheme)
    if source is None:
        return FetchError(
            FailureKind.UNKNOWN_SCHEME,
            f"unknown scheme {scheme!r}",
            f"known schemes: {known}",
        )

    try:
        parsed = source.parse(body)
    except ReferenceSyntaxError as error:
        return error
    return SecretReference(text=text, scheme=scheme, target=parsed.target, json_key=parsed.json_key)
