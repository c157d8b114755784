"""Secrets from AWS Secrets Manager: ``aws-sm:SECRET_ID[#JSON_KEY][?OPTIONS]``.

``SECRET_ID`` is a secret name or ARN. ``#JSON_KEY`` selects one top-level
key of a secret whose SecretString is a JSON object, as the console's
key/value secrets are stored. Options, joined by ``&``: ``version-stage=STAGE``
or ``version-id=ID`` (at most one; GetSecretValue reads ``AWSCURRENT``
without them), ``region=REGION``, ``profile=PROFILE``. Without ``region`` an
ARN's own region is used, else boto3's usual settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

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
    from mypy_boto3_secretsmanager.type_defs import GetSecretValueResponseTypeDef

OPTIONS = ("version-stage", "version-id", "region", "profile")

# Limits from the Secrets Manager API reference (GetSecretValue request).
VERSION_ID_LENGTH = range(32, 65)
VERSION_STAGE_LENGTH = range(1, 257)


@dataclass(frozen=True)
class SecretsManagerTarget:
    """One secret version: the secret, an optional version pin, and where to ask."""

    secret_id: str
    version_stage: str | None = None
    version_id: str | None = None
    region: str | None = None
    profile: str | None = None


class SecretsManagerSource:
    """Fetch the SecretString of a secret version with GetSecretValue."""

    scheme = "aws-sm"
    example = "aws-sm:prod/registry#password?version-stage=AWSCURRENT&region=eu-west-1"

    def __init__(self, client_factory: ClientFactory | None = None) -> None:
        factory = client_factory if client_factory is not None else default_client_factory
        self._clients = ClientCache("secretsmanager", factory)

    def __repr__(self) -> str:
        return f"SecretsManagerSource({self._clients!r})"

    def parse(self, body: str) -> ParsedReference[SecretsManagerTarget]:
        """Parse ``SECRET_ID[#JSON_KEY][?OPTIONS]``; the first ``?`` starts the options.

        Secret names cannot contain ``#`` or ``?`` (the API allows letters,
        digits and ``/_+=.@-``), and an ARN's ``:`` stay in the ID. A JSON key
        therefore cannot contain ``?``.
        """
        head, options = split_options(body, OPTIONS, self.example)
        secret_id, hash_sign, json_key = head.partition("#")
        if not secret_id:
            raise ReferenceSyntaxError("the secret name or ARN is empty", self.example)
        if hash_sign and not json_key:
            raise ReferenceSyntaxError("'#' is followed by no JSON key", self.example)

        stage = options.get("version-stage")
        version_id = options.get("version-id")
        if stage is not None and version_id is not None:
            raise ReferenceSyntaxError(
                "version-stage and version-id select the version twice; keep one", self.example
            )
        if version_id is not None and len(version_id) not in VERSION_ID_LENGTH:
            raise ReferenceSyntaxError(
                f"version-id {version_id!r} is not a Secrets Manager version ID "
                "(32 to 64 characters)",
                self.example,
            )
        if stage is not None and len(stage) not in VERSION_STAGE_LENGTH:
            raise ReferenceSyntaxError("version-stage is longer than 256 characters", self.example)

        region = choose_region(secret_id, options.get("region"), self.example)
        target = SecretsManagerTarget(
            secret_id=secret_id,
            version_stage=stage,
            version_id=version_id,
            region=region,
            profile=options.get("profile"),
        )
        return ParsedReference(target, json_key or None)

    def fetch(self, target: SecretsManagerTarget) -> str:
        """Return the SecretString; a secret holding only SecretBinary is rejected."""
        client = self._clients.get(target.region, target.profile)
        request: dict[str, Any] = {"SecretId": target.secret_id}
        if target.version_stage is not None:
            request["VersionStage"] = target.version_stage
        if target.version_id is not None:
            request["VersionId"] = target.version_id

        response: GetSecretValueResponseTypeDef = call_aws(
            lambda: client.get_secret_value(**request), "secret", target.profile
        )
        text = response.get("SecretString")
        if text is None:
            has_binary = "SecretBinary" in response
            raise FetchError(
                FailureKind.NOT_TEXT,
                "the secret holds SecretBinary, not SecretString"
                if has_binary
                else "the secret version holds no SecretString",
                "store the value as a secret string",
            )
        return text
