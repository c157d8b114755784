"""Resolution of secret references to values, once per distinct fetch, as Pulumi secrets.

The resolver fetches eagerly when the program runs, in preview as in update,
so a missing or unreadable secret stops the run before any resource is
registered. A value depends only on what the store returns for the reference, and
nothing else (time, order, run) goes into it. Outputs therefore change exactly
when a credential is rotated in its store or a pinned version changes in
config.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Hashable, Iterable
from pathlib import Path
from typing import Any

import pulumi

from components.credentials.errors import FailureKind, FetchError, SecretError, SecretFailure
from components.credentials.json_key import select_json_key
from components.credentials.reference import SecretReference, parse_reference
from components.credentials.registry import default_sources, sources_by_scheme
from components.credentials.source import SecretSource
from components.model import Registries, SecretRef, SecretText

log = logging.getLogger(__name__)


class FetchCache:
    """Fetched values and fetch failures by fetch key, with a count of fetches per scheme.

    Its ``repr`` shows sizes only, because the entries are secret values.
    """

    def __init__(self) -> None:
        self._outcomes: dict[tuple[str, Hashable], str | FetchError] = {}
        self.fetches: Counter[str] = Counter()

    def __repr__(self) -> str:
        return f"FetchCache(entries={len(self._outcomes)}, fetches={sum(self.fetches.values())})"

    def __len__(self) -> int:
        return len(self._outcomes)

    def get(self, key: tuple[str, Hashable]) -> str | FetchError | None:
        """Return the stored value or failure for a fetch key, or None if it was not fetched."""
        return self._outcomes.get(key)

    def store(self, key: tuple[str, Hashable], outcome: str | FetchError) -> None:
        """Record one fetch and its outcome."""
        self._outcomes[key] = outcome
        self.fetches[key[0]] += 1


class Resolver:
    """Resolve secret references from stack config through the registered sources.

    Each distinct fetch (a scheme and target, such as one secret version in
    one region) runs at most once per resolver, and a failed fetch is not
    retried. One resolver per program run therefore gives every use of a
    reference the same value. Create a new resolver to read the stores again.
    """

    def __init__(
        self,
        *,
        project_root: Path,
        project: str | None = None,
        sources: Iterable[SecretSource[Any]] = (),
    ) -> None:
        """Set up the built-in sources, then ``sources``, which replace any of the same scheme.

        ``project_root`` is the folder that contains ``Pulumi.yaml``, and ``file:``
        paths are relative to it. ``project`` is the namespace of ``config:KEY``
        and defaults to the running Pulumi project's name.
        """
        self._sources = default_sources(project_root, project) | sources_by_scheme(sources)
        self._references: dict[str, SecretReference] = {}
        self._cache = FetchCache()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        schemes = ", ".join(self.schemes)
        return f"Resolver(schemes=[{schemes}], cache={self._cache!r})"

    @property
    def schemes(self) -> tuple[str, ...]:
        """Registered reference schemes, sorted."""
        return tuple(sorted(self._sources))

    @property
    def fetch_count(self) -> int:
        """Fetches made so far, successful or not; repeated references are not counted again."""
        return sum(self._cache.fetches.values())

    @property
    def fetch_counts(self) -> dict[str, int]:
        """Fetches made so far, by scheme."""
        return dict(self._cache.fetches)

    def parse(self, text: str, key: str) -> SecretReference:
        """Parse reference text; raise :class:`SecretError` naming ``key`` if it is invalid."""
        reference = self._references.get(text)
        if reference is None:
            reference = parse_reference(text, key, self._sources)
            self._references[text] = reference
        return reference

    def resolve_text(self, value: SecretText, key: str) -> str:
        """Return the plain value of a literal or reference written under config ``key``.

        A literal string is returned as it is. Raises :class:`SecretError`
        naming ``key`` and the reference text, never the value.
        """
        if isinstance(value, str):
            return value
        if not isinstance(value, SecretRef):
            raise TypeError(f"{key}: expected a string or SecretRef, got {type(value).__name__}")

        reference = self.parse(value.uri, key)
        outcome = self._fetch(reference)
        if isinstance(outcome, str) and reference.json_key is not None:
            outcome = _select(outcome, reference.json_key)
        if outcome == "":
            outcome = FetchError(
                FailureKind.EMPTY_VALUE,
                "the value is empty",
                "store a non-empty value or point the reference at another one",
            )
        if isinstance(outcome, FetchError):
            raise SecretError.from_fetch_error(outcome, key, reference.text)
        return outcome

    def resolve_output(self, value: SecretText, key: str) -> pulumi.Output[str]:
        """Resolve now, like :meth:`resolve_text`, and return the value as a Pulumi secret.

        Literal strings become secrets too, because a literal in a secret
        field is a credential written in the stack file.
        """
        return pulumi.Output.secret(self.resolve_text(value, key))

    def resolve_registries_text(self, registries: Registries, key_prefix: str = "") -> Registries:
        """Return a copy with every reference in ``auth`` replaced by its plain value.

        Every failing reference is reported in one :class:`SecretError`. Keys
        in it are ``key_prefix`` joined to the field path, such as
        ``registries.configs."registry.example.com".auth.password``.
        """
        failures: list[SecretFailure] = []

        def convert(path: str, value: SecretText) -> SecretText:
            full_key = f"{key_prefix}.{path}" if key_prefix else path
            try:
                return self.resolve_text(value, full_key)
            except SecretError as error:
                failures.extend(error.failures)
                return value

        resolved = registries.map_secrets(convert)
        if failures:
            raise SecretError(failures)
        return resolved

    def resolve_registries(
        self, registries: Registries, key_prefix: str = ""
    ) -> pulumi.Output[Registries]:
        """Resolve like :meth:`resolve_registries_text` and return the result as a Pulumi secret."""
        return pulumi.Output.secret(self.resolve_registries_text(registries, key_prefix))

    def _fetch(self, reference: SecretReference) -> str | FetchError:
        """Return the cached outcome of a fetch, fetching it first if this is its first use."""
        with self._lock:
            outcome = self._cache.get(reference.fetch_key)
            if outcome is not None:
                return outcome

            source = self._sources[reference.scheme]
            try:
                outcome = source.fetch(reference.target)
            except FetchError as error:
                outcome = error
            self._cache.store(reference.fetch_key, outcome)

        if isinstance(outcome, FetchError):
            log.debug("Fetching %s failed: %s", reference.text, outcome.kind.value)
        else:
            log.debug("Fetched %s", reference.text)
        return outcome


def _select(text: str, json_key: str) -> str | FetchError:
    try:
        return select_json_key(text, json_key)
    except FetchError as error:
        return error
