"""Secrets from AWS SSM Parameter Store: ``aws-ssm:PARAMETER_NAME[?OPTIONS]``.

``PARAMETER_NAME`` is a parameter name or ARN. Options, joined by ``&``:
``version=N`` or ``label=LABEL`` (at most one), ``region=REGION``,
``profile=PROFILE``. GetParameter is called with ``WithDecryption=True``, and
a version or label is passed the way the API accepts it, as the
``NAME:VERSION`` or ``NAME:LABEL`` selector.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from components.credentials.aws_common import (
    ClientCache,
    ClientFactory,
    call_aws,
    choose_region,
)
from components.credentials.aws_common import create_client as default_client_factory
from components.credentials.errors import FailureKind, FetchError, ReferenceSyntaxError
from components.credentials.source import ParsedReference, split_options

if TYPE_CHECKING:
    from mypy_boto3_ssm.type_defs import GetParameterResultTypeDef

log = logging.getLogger(__name__)

OPTIONS = ("version", "label", "region", "profile")

# Label rules from the SSM user guide ("Working with parameter labels"): up to
# 100 letters, digits, '.', '-' or '_'; not starting with a digit (that would
# read as a version), "aws" or "ssm" (case-insensitive).
LABEL_PATTERN = re.compile(r"(?!(?i:aws|ssm))[A-Za-z._-][A-Za-z0-9._-]{0,99}")
VERSION_PATTERN = re.compile(r"[1-9][0-9]*")


@dataclass(frozen=True)
class ParameterTarget:
    """One parameter version: the parameter, an optional version or label, and where to ask."""

    name: str
    version: int | None = None
    label: str | None = None
    region: str | None = None
    profile: str | None = None

    @property
    def selector(self) -> str:
        """The Name argument of GetParameter, with ``:VERSION`` or ``:LABEL`` when pinned."""
        if self.version is not None:
            return f"{self.name}:{self.version}"
        if self.label is not None:
            return f"{self.name}:{self.label}"
        return self.name


class ParameterStoreSource:
    """Fetch a SecureString or String parameter with GetParameter."""

    scheme = "aws-ssm"
    example = "aws-ssm:/prod/registry/password?version=3&region=eu-west-1"

    def __init__(self, client_factory: ClientFactory | None = None) -> None:
        factory = client_factory if client_factory is not None else default_client_factory
        self._clients = ClientCache("ssm", factory)

    def __repr__(self) -> str:
        return f"ParameterStoreSource({self._clients!r})"

    def parse(self, body: str) -> ParsedReference[ParameterTarget]:
        """Parse ``NAME[?OPTIONS]``; a version or label goes in an option, not after ``:``."""
        name, options = split_options(body, OPTIONS, self.example)
        if not name:
            raise ReferenceSyntaxError("the parameter name or ARN is empty", self.example)
        if "#" in name:
            raise ReferenceSyntaxError(
                "'#JSON_KEY' is supported by aws-sm references only", self.example
            )
        # Parameter names cannot contain ':', and an ARN's resource part
        # (after the fifth ':') cannot either, so a ':' there is a selector.
        resource = name
        if name.startswith("arn:") and name.count(":") >= 5:
            resource = name.split(":", 5)[5]
        if ":" in resource:
            raise ReferenceSyntaxError(
                f"{name!r} contains a ':' selector; pin with '?version=N' or '?label=LABEL'",
                self.example,
            )

        version_text = options.get("version")
        label = options.get("label")
        if version_text is not None and label is not None:
            raise ReferenceSyntaxError(
                "version and label select the version twice; keep one", self.example
            )
        if version_text is not None and not VERSION_PATTERN.fullmatch(version_text):
            raise ReferenceSyntaxError(
                f"version {version_text!r} is not a positive whole number", self.example
            )
        if label is not None and not LABEL_PATTERN.fullmatch(label):
            raise ReferenceSyntaxError(
                f"label {label!r} is not a valid parameter label (letters, digits, '.-_'; "
                "not starting with a digit, 'aws' or 'ssm')",
                self.example,
            )

        target = ParameterTarget(
            name=name,
            version=int(version_text) if version_text is not None else None,
            label=label,
            region=choose_region(name, options.get("region"), self.example),
            profile=options.get("profile"),
        )
        return ParsedReference(target)

    def fetch(self, target: ParameterTarget) -> str:
        """Return the decrypted value; a StringList is rejected because it contains a list."""
        client = self._clients.get(target.region, target.profile)
        response: GetParameterResultTypeDef = call_aws(
            lambda: client.get_parameter(Name=target.selector, WithDecryption=True),
            "parameter",
            target.profile,
        )
        parameter = response["Parameter"]
        kind = parameter.get("Type")
        if kind == "StringList":
            raise FetchError(
                FailureKind.NOT_TEXT,
                "the parameter is a StringList, which contains a comma-separated list",
                "store the secret in a SecureString parameter",
            )
        if kind == "String":
            log.warning(
                "SSM parameter %s is a String, not a SecureString, so AWS stores it unencrypted",
                target.name,
            )
        return parameter.get("Value", "")
