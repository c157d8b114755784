"""Rendering of the model to registries.yaml text: deterministic bytes, checked by parsing back.

Text comes from PyYAML with every string double-quoted, never from a string
template, so no value (``*``, ``yes``, ``p@ss: #1``) can change the YAML
structure. Maps are written with keys in a fixed order: sections and fields
in the order the file format documents them, hosts and rewrite patterns
sorted.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from components.advice import redundant_endpoints
from components.fingerprint import fingerprint
from components.model import TLS, Auth, Mirror, Registries, RegistryConfig, SecretRef, SecretText

_AUTH_FIELDS = ("username", "password", "auth", "identity_token")
_TLS_FIELDS = ("ca_file", "cert_file", "key_file", "insecure_skip_verify")


class RenderError(RuntimeError):
    """The rendered text does not parse back to the intended structure; nothing may be written."""


class _Dumper(yaml.CSafeDumper):
    """Safe dumper that double-quotes every string and never writes anchors or aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _quoted_string(dumper: _Dumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')


def _ordered_mapping(dumper: _Dumper, value: dict[str, Any]) -> yaml.MappingNode:
    # Insertion order is the intended order; sort_keys would reorder fields.
    return dumper.represent_mapping("tag:yaml.org,2002:map", value.items())


_Dumper.add_representer(str, _quoted_string)
_Dumper.add_representer(dict, _ordered_mapping)


def render(registries: Registries) -> str:
    """Render registries.yaml text for K3s from a validated model.

    Endpoints that K3s would drop or repeat are left out: the registry's own
    default endpoint and duplicates (see ``advice.redundant_endpoints``), and
    so are mirrors left without endpoints, which K3s ignores.
    Raises TypeError naming the key path of a secret field that is still a
    :class:`SecretRef`, and :class:`RenderError` if the text does not parse
    back to the same structure.
    """
    for path, value in registries.secret_values():
        if isinstance(value, SecretRef):
            raise TypeError(
                f"{path} is the unresolved secret reference {value}; resolve it before rendering"
            )
    structure = intended_structure(registries)
    text = yaml.dump(
        structure,
        Dumper=_Dumper,
        default_flow_style=False,
        allow_unicode=True,
        sort_keys=False,
        width=1 << 30,  # never fold a long string over several lines
        explicit_start=False,
    )
    _check_round_trip(text, structure)
    return text


def render_masked(registries: Registries, key: bytes) -> str:
    """Render the file with every secret field replaced by a placeholder safe to show.

    A literal value becomes ``<secret fp:1a2b3c4d5e6f>``, its keyed fingerprint
    (see :mod:`components.fingerprint`), so a diff shows which secret changed.
    A reference becomes ``<secret ref:env:NAME>``, because the reference names
    where the value lives, not the value.
    """
    return render(registries.map_secrets(lambda _path, value: mask_secret(value, key)))


def mask_secret(value: SecretText, key: bytes) -> str:
    """Return the placeholder that stands for one secret value in a masked rendering."""
    if isinstance(value, SecretRef):
        return f"<secret {value}>"
    return f"<secret fp:{fingerprint(value, key)}>"


def intended_structure(registries: Registries) -> dict[str, Any]:
    """Build the plain structure that :func:`render` writes, in its key order."""
    structure: dict[str, Any] = {}
    mirrors = {
        key: _mirror_structure(key, registries.mirrors[key]) for key in sorted(registries.mirrors)
    }
    if mirrors:
        structure["mirrors"] = mirrors
    configs = {
        key: _config_structure(registries.configs[key]) for key in sorted(registries.configs)
    }
    if configs:
        structure["configs"] = configs
    return structure


def _mirror_structure(key: str, mirror: Mirror) -> dict[str, Any]:
    dropped = {index for index, _ in redundant_endpoints(key, mirror)}
    endpoints = [url for index, url in enumerate(mirror.endpoints) if index not in dropped]
    body: dict[str, Any] = {}
    if endpoints:
        body["endpoint"] = endpoints
    if mirror.rewrite:
        body["rewrite"] = {pattern: mirror.rewrite[pattern] for pattern in sorted(mirror.rewrite)}
    return body


def _config_structure(config: RegistryConfig) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if config.auth is not None:
        body["auth"] = _fields(config.auth, _AUTH_FIELDS)
    if config.tls is not None:
        body["tls"] = _fields(config.tls, _TLS_FIELDS)
    return body


def _fields(section: Auth | TLS, names: tuple[str, ...]) -> dict[str, Any]:
    return {name: getattr(section, name) for name in names if getattr(section, name) is not None}


def _check_round_trip(text: str, structure: Mapping[str, Any]) -> None:
    parsed = yaml.load(text, Loader=yaml.CSafeLoader)
    if parsed is None:
        parsed = {}
    difference = _first_difference(parsed, structure, "")
    if difference is not None:
        # The message names the key path only: the values may be secrets.
        raise RenderError(
            f"the rendered YAML does not parse back to the model at {difference or 'top level'}"
        )


def _first_difference(actual: object, expected: object, path: str) -> str | None:
    if isinstance(expected, Mapping):
        if not isinstance(actual, Mapping) or list(actual) != list(expected):
            return path
        for key, value in expected.items():
            found = _first_difference(actual[key], value, f"{path}.{key}" if path else str(key))
            if found is not None:
                return found
        return None
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) != len(expected):
            return path
        for index, (item, value) in enumerate(zip(actual, expected, strict=True)):
            found = _first_difference(item, value, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if type(actual) is not type(expected) or actual != expected:
        return path
    return None
