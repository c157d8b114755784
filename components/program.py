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
    """Return this project's config values (keys without namespace) and the secret keys.

    The engine hands config to a program in two ways (pulumi 3.272
    ``pulumi/runtime/config.py``): the ``PULUMI_CONFIG`` environment variable
    for a program started by the language host, and ``set_all_config`` for
    Automation API inline programs and mocks. Both are read, the latter first.
    """
    prefix = f"{PROJECT}:"
    full_keys = set(runtime_config.get_config_env()) | set(runtime_config.CONFIG.get())
    values: dict[str, object] = {}
    secret: set[str] = set()
    environment_secrets = set(runtime_config.get_config_secret_keys_env())
    for full_key in sorted(full_keys):
        if not full_key.startswith(prefix):
            continue
        name = full_key[len(prefix) :]
        values[name] = _decode(name, runtime_config.get_config(full_key))
        if full_key in environment_secrets or runtime_config.is_config_secret(full_key):
            secret.add(name)
    return values, frozenset(secret)


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
