"""Shared parts of the AWS sources: clients, error mapping and a botocore log filter.

Clients come from ``boto3.session.Session(profile_name=..., region_name=...)``,
so without a region or profile in the reference boto3's usual settings apply
(``AWS_DEFAULT_REGION``, ``AWS_PROFILE``, the shared config and credentials
files). botocore 1.43 reads the region from ``AWS_DEFAULT_REGION``, not
``AWS_REGION``, and prefers it to the profile's ``region``. boto3 >= 1.28
(botocore >= 1.31) also reads the endpoint from ``AWS_ENDPOINT_URL`` or
``AWS_ENDPOINT_URL_<SERVICE>``, which is how tests point these sources at moto.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from typing import Any, TypeVar

import boto3.session
import botocore.exceptions

from components.credentials.errors import FailureKind, FetchError, ReferenceSyntaxError

ClientFactory = Callable[[str, str | None, str | None], Any]
"""Create a boto3 client from (service name, region or None, profile or None)."""

ResultT = TypeVar("ResultT")

# Error codes as the services return them (Secrets Manager GetSecretValue and
# SSM GetParameter API references, plus the codes every AWS JSON API returns
# for authentication and authorization).
NOT_FOUND_CODES = frozenset(
    {"ResourceNotFoundException", "ParameterNotFound", "ParameterVersionNotFound"}
)
ACCESS_DENIED_CODES = frozenset({"AccessDeniedException", "AccessDenied"})
DECRYPTION_CODES = frozenset({"DecryptionFailure", "InvalidKeyId"})
INVALID_CREDENTIALS_CODES = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredToken",
        "ExpiredTokenException",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "IncompleteSignature",
    }
)

NO_CREDENTIALS_ERRORS: tuple[type[botocore.exceptions.BotoCoreError], ...] = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.TokenRetrievalError,
    botocore.exceptions.SSOError,
)
UNREACHABLE_ERRORS: tuple[type[botocore.exceptions.BotoCoreError], ...] = (
    botocore.exceptions.ConnectionError,
    botocore.exceptions.HTTPClientError,
)

# botocore's response parser logs every response body at DEBUG
# ("Response body:" in botocore/parsers.py, botocore 1.43), and a
# GetSecretValue or GetParameter body contains the secret. The filter below hides
# those bodies while a secret fetch runs in the current thread or task.
_SECRET_CALL_ACTIVE: ContextVar[bool] = ContextVar("secret_call_active", default=False)
_BOTOCORE_PARSER_LOGGER = "botocore.parsers"
_filter_lock = threading.Lock()


class ResponseBodyFilter(logging.Filter):
    """Replace botocore's logged response body with a placeholder during a secret fetch."""

    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRET_CALL_ACTIVE.get() and str(record.msg).startswith("Response body"):
            record.msg = "Response body: (hidden because it contains a secret value)"
            record.args = None
        return True


def install_response_body_filter() -> None:
    """Attach :class:`ResponseBodyFilter` to botocore's parser logger once per process."""
    logger = logging.getLogger(_BOTOCORE_PARSER_LOGGER)
    with _filter_lock:
        if not any(isinstance(existing, ResponseBodyFilter) for existing in logger.filters):
            logger.addFilter(ResponseBodyFilter())


@contextlib.contextmanager
def secret_call() -> Iterator[None]:
    """Mark the AWS call made inside this block as one whose response contains a secret."""
    token = _SECRET_CALL_ACTIVE.set(True)
    try:
        yield
    finally:
        _SECRET_CALL_ACTIVE.reset(token)


def create_client(service: str, region: str | None, profile: str | None) -> Any:
    """Create a client through boto3's standard settings chain."""
    session = boto3.session.Session(profile_name=profile, region_name=region)
    return session.client(service)  # type: ignore[call-overload]


class ClientCache:
    """Clients by (region, profile) for one service, created on first use."""

    def __init__(self, service: str, factory: ClientFactory) -> None:
        self._service = service
        self._factory = factory
        self._clients: dict[tuple[str | None, str | None], Any] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"ClientCache(service={self._service!r}, clients={len(self._clients)})"

    def get(self, region: str | None, profile: str | None) -> Any:
        """Return the client for a region and profile; raise ``FetchError`` if none can be made."""
        with self._lock:
            client = self._clients.get((region, profile))
            if client is None:
                client = call_aws(
                    lambda: self._factory(self._service, region, profile), "client", profile
                )
                self._clients[(region, profile)] = client
            return client


def call_aws(call: Callable[[], ResultT], resource: str, profile: str | None) -> ResultT:
    """Run a boto3 call and turn its botocore errors into ``FetchError``.

    ``resource`` names what is fetched ("secret", "parameter") in messages.
    Only the error class, the error code and the HTTP status are kept. The
    service's message is dropped and the FetchError is raised outside the
    except block, so no botocore exception travels with it as cause or
    context.
    """
    install_response_body_filter()
    failure: FetchError
    with secret_call():
        try:
            return call()
        except botocore.exceptions.ClientError as error:
            failure = client_error_failure(error, resource)
        except botocore.exceptions.BotoCoreError as error:
            failure = botocore_error_failure(error, profile)
    raise failure


def client_error_failure(error: botocore.exceptions.ClientError, resource: str) -> FetchError:
    """Map a service error response to a failure kind by its code, else by HTTP status."""
    code = str(error.response.get("Error", {}).get("Code", ""))
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    detail = f"{code or 'no error code'}, HTTP {status}" if status else code or "no error code"

    if code in NOT_FOUND_CODES:
        return FetchError(
            FailureKind.NOT_FOUND,
            f"{resource} not found ({detail})",
            "check the name, the version pin, the region and the account",
        )
    if code in ACCESS_DENIED_CODES:
        return FetchError(
            FailureKind.ACCESS_DENIED,
            f"access to the {resource} denied ({detail})",
            "grant the caller's IAM identity read access to it and its KMS key",
        )
    if code in DECRYPTION_CODES:
        return FetchError(
            FailureKind.DECRYPTION_FAILED,
            f"the {resource} cannot be decrypted ({detail})",
            "grant the caller kms:Decrypt on the KMS key that encrypts it",
        )
    if code in INVALID_CREDENTIALS_CODES:
        return FetchError(
            FailureKind.INVALID_CREDENTIALS,
            f"AWS rejected the credentials ({detail})",
            "refresh the credentials, for example with aws sso login",
        )
    if code == "InvalidRequestException":
        return FetchError(
            FailureKind.SERVICE_ERROR,
            f"the request is invalid for the {resource}'s current state ({detail})",
            "a secret scheduled for deletion cannot be read; restore it or change the reference",
        )
    # moto 5.2 returns an XML body for a request its IAM emulation denies,
    # which botocore cannot read for these JSON APIs, so only the status 403 is left.
    if status == 403:
        return FetchError(
            FailureKind.ACCESS_DENIED,
            f"access to the {resource} denied ({detail})",
            "grant the caller's IAM identity read access to it and its KMS key",
        )
    return FetchError(FailureKind.SERVICE_ERROR, f"AWS request failed ({detail})")


def botocore_error_failure(
    error: botocore.exceptions.BotoCoreError, profile: str | None
) -> FetchError:
    """Map an error raised by botocore itself (no response from the service)."""
    name = type(error).__name__
    if isinstance(error, botocore.exceptions.NoRegionError):
        return FetchError(
            FailureKind.NO_REGION,
            f"no AWS region is set ({name})",
            "add '?region=REGION' to the reference or set AWS_DEFAULT_REGION",
        )
    if isinstance(error, botocore.exceptions.ProfileNotFound):
        return FetchError(
            FailureKind.PROFILE_NOT_FOUND,
            f"AWS profile {profile!r} is not in the AWS config files ({name})",
            "fix the profile option or AWS_PROFILE",
        )
    if isinstance(error, NO_CREDENTIALS_ERRORS):
        return FetchError(
            FailureKind.NO_CREDENTIALS,
            f"no usable AWS credentials were found ({name})",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or log in",
        )
    if isinstance(error, UNREACHABLE_ERRORS):
        endpoint = error.kwargs.get("endpoint_url")
        where = f" {endpoint}" if endpoint else ""
        return FetchError(
            FailureKind.UNREACHABLE,
            f"the AWS endpoint{where} cannot be reached ({name})",
            "check the network, the region and AWS_ENDPOINT_URL",
        )
    return FetchError(FailureKind.SERVICE_ERROR, f"the AWS SDK failed ({name})")


def arn_region(arn: str) -> str | None:
    """Return the region field of an ARN (``arn:PARTITION:SERVICE:REGION:...``), if any."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return None
    return parts[3] or None


def choose_region(resource_id: str, option: str | None, example: str) -> str | None:
    """Pick the region option, else an ARN's own region; reject a region that differs from it.

    A client in another region than the ARN's cannot read the resource, so a
    mismatch is a mistake in the reference.
    """
    from_arn = arn_region(resource_id)
    if option is not None and from_arn is not None and option != from_arn:
        raise ReferenceSyntaxError(
            f"region={option} differs from the ARN's region {from_arn}", example
        )
    return option if option is not None else from_arn
