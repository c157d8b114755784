"""Secret references in stack config, resolved from secret stores into Pulumi secrets.

A secret field in stack config contains a literal string or ``{ref: "SCHEME:..."}``.
:class:`Resolver` parses references (``reference.py``), fetches each distinct
one once through the source for its scheme (``pulumi_config.py``,
``environment.py``, ``files.py``, ``aws_secrets_manager.py``, ``aws_ssm.py``)
and returns plain text for the CLI or ``pulumi.Output.secret`` values for the
program. Errors (``errors.py``) name the config key and the reference, never
the value.
"""

from components.credentials.aws_secrets_manager import SecretsManagerSource, SecretsManagerTarget
from components.credentials.aws_ssm import ParameterStoreSource, ParameterTarget
from components.credentials.environment import EnvironmentSource, EnvironmentTarget
from components.credentials.errors import (
    FailureKind,
    FetchError,
    ReferenceSyntaxError,
    SecretError,
    SecretFailure,
)
from components.credentials.files import FileSource, FileTarget
from components.credentials.pulumi_config import ConfigTarget, PulumiConfigSource
from components.credentials.reference import SecretReference, parse_reference
from components.credentials.registry import default_sources
from components.credentials.resolver import Resolver
from components.credentials.source import ParsedReference, SecretSource

__all__ = [
    "ConfigTarget",
    "EnvironmentSource",
    "EnvironmentTarget",
    "FailureKind",
    "FetchError",
    "FileSource",
    "FileTarget",
    "ParameterStoreSource",
    "ParameterTarget",
    "ParsedReference",
    "PulumiConfigSource",
    "ReferenceSyntaxError",
    "Resolver",
    "SecretError",
    "SecretFailure",
    "SecretReference",
    "SecretSource",
    "SecretsManagerSource",
    "SecretsManagerTarget",
    "default_sources",
    "parse_reference",
]
