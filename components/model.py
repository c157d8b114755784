"""Typed model of the K3s/RKE2 ``registries.yaml`` file.

The classes mirror the file format that K3s and RKE2 read (rancher/wharfie
``registries.Registry``): ``mirrors`` keyed by registry name, ``configs`` keyed
by the host of an endpoint. They are frozen so that validated input cannot be
changed on its way to the renderer. Secret fields take either a literal string
or a :class:`SecretRef`, which the credentials layer resolves at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import TypeAlias

WILDCARD = "*"
"""Mirror key that applies to every registry without a more specific entry."""


@dataclass(frozen=True)
class SecretRef:
    """Reference to a secret value held in a secret store, such as ``env:NAME``.

    The model only carries the reference text; ``components.credentials``
    parses and resolves it. The text names where the value lives, never the
    value, so it is safe to print.
    """

    uri: str

    def __str__(self) -> str:
        return f"ref:{self.uri}"


SecretText: TypeAlias = str | SecretRef
"""A value that may be a secret: a literal string or a reference to one."""


@dataclass(frozen=True)
class Auth:
    """Credentials under ``configs.<host>.auth``.

    Valid forms: ``username`` with ``password``, ``auth`` alone (base64 of
    ``username:password``), or ``identity_token`` alone.
    """

    username: SecretText | None = None
    password: SecretText | None = None
    auth: SecretText | None = None
    identity_token: SecretText | None = None

    def __repr__(self) -> str:
        """Show references as written and hide literal values, which are credentials."""
        shown = []
        for auth_field in fields(self):
            value = getattr(self, auth_field.name)
            text = "'***'" if isinstance(value, str) else repr(value)
            shown.append(f"{auth_field.name}={text}")
        return f"Auth({', '.join(shown)})"


@dataclass(frozen=True)
class TLS:
    """TLS settings under ``configs.<host>.tls``; the files are paths on the node."""

    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    insecure_skip_verify: bool | None = None


@dataclass(frozen=True)
class RegistryConfig:
    """One ``configs`` entry: how to authenticate to, and trust, one endpoint host."""

    auth: Auth | None = None
    tls: TLS | None = None


@dataclass(frozen=True)
class Mirror:
    """One ``mirrors`` entry: where to pull a registry's images from.

    ``rewrite`` maps an RE2 pattern to a replacement for the repository path.
    Its order carries no meaning because K3s reads it into a Go map.
    """

    endpoints: tuple[str, ...] = ()
    rewrite: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Registries:
    """The whole file: ``mirrors`` and ``configs``."""

    mirrors: Mapping[str, Mirror] = field(default_factory=dict)
    configs: Mapping[str, RegistryConfig] = field(default_factory=dict)

    def secret_values(self) -> list[tuple[str, SecretText]]:
        """List every secret field as (key path, value), in file order."""
        found: list[tuple[str, SecretText]] = []
        for host, config in self.configs.items():
            if config.auth is None:
                continue
            for auth_field in fields(Auth):
                value = getattr(config.auth, auth_field.name)
                if value is not None:
                    found.append((f"configs.{quote_key(host)}.auth.{auth_field.name}", value))
        return found

    def map_secrets(self, convert: Callable[[str, SecretText], SecretText]) -> Registries:
        """Return a copy with each secret field replaced by ``convert(path, value)``."""
        configs: dict[str, RegistryConfig] = {}
        for host, config in self.configs.items():
            if config.auth is None:
                configs[host] = config
                continue
            changes: dict[str, SecretText] = {}
            for auth_field in fields(Auth):
                value = getattr(config.auth, auth_field.name)
                if value is not None:
                    path = f"configs.{quote_key(host)}.auth.{auth_field.name}"
                    changes[auth_field.name] = convert(path, value)
            configs[host] = replace(config, auth=replace(config.auth, **changes))
        return replace(self, configs=configs)

    def has_references(self) -> bool:
        """Tell whether any secret field is still a reference."""
        return any(isinstance(value, SecretRef) for _, value in self.secret_values())


def quote_key(key: str) -> str:
    """Write a map key as it appears in a key path.

    The key is quoted when it holds a dot, a special or non-printable
    character, or is empty. Inside the quotes, backslash and double quote are
    escaped, and non-printable characters are written as Python escapes
    (``\\t``, ``\\ufeff``) so that an invisible character shows in a message.
    """
    if key == "" or any(char in key for char in '.*"[] ') or not key.isprintable():
        escaped = key.replace("\\", "\\\\").replace('"', '\\"')
        escaped = "".join(char if char.isprintable() else repr(char)[1:-1] for char in escaped)
        return f'"{escaped}"'
    return key
