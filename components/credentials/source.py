"""The interface every secret store implements, and option parsing shared by stores.

A source owns one scheme (the text before the first ``:`` of a reference): it
parses the rest of the reference into a hashable target and fetches the value
a target names. Adding a store (Vault, GCP, Azure, 1Password) means writing one
module with a class that fits :class:`SecretSource` and listing it in
``registry.py``.
"""

from __future__ import annotations

from collections.abc import Collection, Hashable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from components.credentials.errors import ReferenceSyntaxError

TargetT = TypeVar("TargetT", bound=Hashable)


@dataclass(frozen=True)
class ParsedReference(Generic[TargetT]):
    """Result of parsing a reference: the value to fetch and an optional JSON key in it.

    ``target`` identifies one fetch: two references with equal targets are
    fetched once per resolver. ``json_key`` selects a key of the fetched JSON
    object after the fetch, so references to different keys of one secret
    share that fetch.
    """

    target: TargetT
    json_key: str | None = None


class SecretSource(Protocol[TargetT]):
    """A secret store, addressed by the ``scheme:`` prefix of a reference."""

    scheme: str
    """Reference prefix without the colon, such as ``aws-sm``."""

    example: str
    """A valid reference, shown in errors about malformed references."""

    def parse(self, body: str) -> ParsedReference[TargetT]:
        """Parse the text after ``scheme:``; raise ``ReferenceSyntaxError`` if it is malformed."""
        ...

    def fetch(self, target: TargetT) -> str:
        """Fetch the value a target names; raise ``FetchError`` without the value on failure."""
        ...


def split_options(body: str, allowed: Collection[str], example: str) -> tuple[str, dict[str, str]]:
    """Split ``HEAD?name=value&name=value`` into the head and its options.

    The options follow the first ``?``. Each must appear at most once, have a
    value and be one of ``allowed``. Values are taken literally (no percent
    decoding), so an option value cannot contain ``&``.
    """
    head, separator, query = body.partition("?")
    options: dict[str, str] = {}
    if not separator:
        return head, options
    if not query:
        raise ReferenceSyntaxError("'?' is followed by no option", example)

    for item in query.split("&"):
        name, equals, value = item.partition("=")
        if not equals:
            raise ReferenceSyntaxError(f"option {item!r} has no '=value'", example)
        if name not in allowed:
            known = ", ".join(sorted(allowed))
            raise ReferenceSyntaxError(f"unknown option {name!r}; known options: {known}", example)
        if not value:
            raise ReferenceSyntaxError(f"option {name!r} has an empty value", example)
        if name in options:
            raise ReferenceSyntaxError(f"option {name!r} is given twice", example)
        options[name] = value
    return head, options
