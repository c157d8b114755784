"""The Pulumi program: read the stack config, build the component, export its outputs.

Config problems are reported before any resource is registered, as a
:class:`pulumi.RunError`, which the engine prints without a Python traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from components.component import RegistriesDeployment, RegistriesDeploymentArgs
from components.credentials import Resolver
from components.problems import ConfigError
from components.stack_config import PROJECT, TOP_LEVEL_KEYS, parse_settings

# Keys whose value is a structure; in the engine's config environment they
# arrive as JSON text, the others as plain strings.
STRUCTURED_KEYS = frozenset({"registries", "tls", "nodes", "ssh", "rollout", "pullSecrets"})


def read_stack_config() -> tuple[dict[str, object], frozenset[str]]:
    """Return this project's config values (keys without namespace) and the secret keys."""
    prefix = f"{PROJECT}:"
    values: dict[str, object] = {}
    for full_key, raw in runtime_config.get_config_env().items():
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        values[name] = _decode(name, raw)
    secret = frozenset(
        key[len(prefix) :]
        for key in runtime_config.get_config_secret_keys_env()
        if key.startswith(prefix)
    )
    return values, secret


def run(project_root: Path) -> RegistriesDeployment:
    """Check the stack config, then create the component and export its outputs."""
    values, secret_keys = read_stack_config()
    try:
        settings = parse_settings(values, secret_keys=secret_keys)
    except ConfigError as error:
        raise pulumi.RunError(f"invalid stack config:\n{error}") from None

    resolver = Resolver(project_root=project_root)
    deployment = RegistriesDeployment(
        "registries", RegistriesDeploymentArgs(settings=settings, resolver=resolver)
    )
    pulumi.export("maskedRegistries", deployment.masked_registries)
    pulumi.export("rolloutOrder", deployment.rollout_order)
    return deployment


def _decode(name: str, raw: object) -> object:
    if name in STRUCTURED_KEYS and isinstance(raw, str):
        try:
            return json.loads(raw)
        except json.JSONDecodeError:
            return raw
    return raw


__all__ = ["TOP_LEVEL_KEYS", "read_stack_config", "run"]
