"""Read a stack's config outside the Pulumi engine, for the CLI's ``--stack`` option.

Plain values come straight from ``stacks/Pulumi.<stack>.yaml``. Values set
with ``pulumi config set --secret`` are stored encrypted (``secure:``), and
only the Pulumi CLI can decrypt them, with the stack's secrets provider. So
they are read through ``pulumi config --show-secrets --json``, and only when
the file has any.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from components.problems import ConfigError, Problem
from components.stack_config import PROJECT
from components.validate import load_yaml

STACK_DIRECTORY = "stacks"
"""Folder of the stack files, as set by ``stackConfigDir`` in Pulumi.yaml."""


@dataclass(frozen=True)
class StackConfig:
    """One stack's config values by full key (``namespace:key``), and which are secret."""

    values: Mapping[str, object]
    secret_keys: frozenset[str]

    def __repr__(self) -> str:
        return f"StackConfig(keys={sorted(self.values)}, secret_keys={sorted(self.secret_keys)})"

    def project_values(self) -> dict[str, object]:
        """Return this project's values with keys stripped of the namespace."""
        prefix = f"{PROJECT}:"
        return {
            key[len(prefix) :]: value
            for key, value in self.values.items()
            if key.startswith(prefix)
        }

    def project_secret_keys(self) -> frozenset[str]:
        """Return this project's secret keys, stripped of the namespace."""
        prefix = f"{PROJECT}:"
        return frozenset(key[len(prefix) :] for key in self.secret_keys if key.startswith(prefix))

    def lookup(self, full_key: str) -> object:
        """Return a value as the engine passes it to a program: structures as JSON text."""
        value = self.values.get(full_key)
        if value is None or isinstance(value, str):
            return value
        return json.dumps(value)

    def is_secret(self, full_key: str) -> bool:
        """Tell whether a key was set with ``--secret``."""
        return full_key in self.secret_keys


def stack_path(project_root: Path, stack: str) -> Path:
    """Return the stack file's path."""
    return project_root / STACK_DIRECTORY / f"Pulumi.{stack}.yaml"


def load_stack_config(project_root: Path, stack: str) -> StackConfig:
    """Read a stack's config; decrypt ``secure:`` values with the Pulumi CLI if there are any.

    Raises :class:`ConfigError` when the file is missing or unreadable, or
    when it has encrypted values and the Pulumi CLI cannot decrypt them.
    """
    path = stack_path(project_root, stack)
    try:
        # The strict loader names only line and column on a syntax error: a
        # snippet of the stack file could show a secret value.
        document = load_yaml(path.read_text(encoding="utf-8"), str(path)) or {}
    except FileNotFoundError:
        available = sorted(
            candidate.name[len("Pulumi.") : -len(".yaml")]
            for candidate in (project_root / STACK_DIRECTORY).glob("Pulumi.*.yaml")
        )
        raise ConfigError(
            [Problem(str(path), "stack file not found", f"known stacks: {', '.join(available)}")]
        ) from None
    except ConfigError as error:
        raise ConfigError(
            [
                Problem(f"{path}: {problem.path}", problem.message, problem.hint)
                for problem in error.problems
            ]
        ) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([Problem(str(path), f"cannot read the stack file: {error}")]) from None

    config = document.get("config") if isinstance(document, Mapping) else None
    if config is None:
        return StackConfig({}, frozenset())
    if not isinstance(config, Mapping):
        raise ConfigError([Problem(f"{path}: config", "expected a mapping of config keys")])

    try:
        encrypted = sorted(str(key) for key, value in config.items() if _has_secure(value))
    except RecursionError:
        raise ConfigError(
            [Problem(f"{path}: config", "nested too deeply, or an alias refers to itself")]
        ) from None
    if encrypted:
        return _decrypt_with_cli(project_root, stack, encrypted)
    return StackConfig({str(key): value for key, value in config.items()}, frozenset())


def _has_secure(value: object) -> bool:
    if isinstance(value, Mapping):
        if set(value) == {"secure"}:
            return True
        return any(_has_secure(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_secure(item) for item in value)
    return False


def _decrypt_with_cli(project_root: Path, stack: str, encrypted: list[str]) -> StackConfig:
    """Read every value, decrypted, through ``pulumi config --show-secrets --json``."""
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise ConfigError(
            [
                Problem(
                    key,
                    "encrypted with `pulumi config set --secret`, "
                    "and the Pulumi CLI is not on PATH",
                    "put the Pulumi CLI on PATH (scripts/engine.sh builds one) and log in to the "
                    "stack's backend, or use a reference such as {ref: env:NAME} instead",
                )
                for key in encrypted
            ]
        )
    # The output contains decrypted values, so it is parsed here and never printed.
    result = subprocess.run(
        [pulumi, "config", "--show-secrets", "--json", "--stack", stack, "--non-interactive"],
        cwd=project_root,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ""
        raise ConfigError(
            [
                Problem(
                    f"stack {stack}",
                    f"`pulumi config --show-secrets` failed: {message}",
                    "check PULUMI_BACKEND_URL and PULUMI_CONFIG_PASSPHRASE for this stack",
                )
            ]
        )
    entries = json.loads(result.stdout)
    values: dict[str, object] = {}
    secret_keys: set[str] = set()
    for key, entry in entries.items():
        values[key] = entry.get("objectValue", entry.get("value"))
        if entry.get("secret"):
            secret_keys.add(key)
    return StackConfig(values, frozenset(secret_keys))
