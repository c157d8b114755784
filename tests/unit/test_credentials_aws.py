"""AWS Secrets Manager and SSM Parameter Store references against moto in-process.

Every client goes to moto's in-process mock (``mock_aws``), or in the tests
for failures before any request, to a closed loopback port. Fake credentials,
empty AWS config files and ``AWS_EC2_METADATA_DISABLED=true`` keep the
credential chain off the instance metadata address and the user's files.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws
from moto.core import set_initial_no_auth_action_count

from components.credentials import (
    FailureKind,
    ParameterStoreSource,
    Resolver,
    SecretError,
    SecretsManagerSource,
)
from components.model import SecretRef

REGION = "us-east-1"
KEY = "registries.configs.registry.example.test.auth.password"


def clear_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Remove every AWS setting of the machine and point the config files at empty paths."""
    import os

    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "aws-credentials"))
    monkeypatch.setenv("HOME", str(tmp_path))


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """Fake credentials and region, with moto in-process serving every AWS call."""
    clear_aws_environment(monkeypatch, tmp_path)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    with mock_aws():
        yield


@pytest.fixture
def closed_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> str:
    """AWS settings pointing at a loopback port nothing listens on, for no-request failures."""
    clear_aws_environment(monkeypatch, tmp_path)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return url


def resolve(text: str, tmp_path: Path, resolver: Resolver | None = None) -> str:
    active = resolver if resolver is not None else Resolver(project_root=tmp_path)
    return active.resolve_text(SecretRef(text), KEY)


def failure(text: str, tmp_path: Path, resolver: Resolver | None = None) -> SecretError:
    with pytest.raises(SecretError) as caught:
        resolve(text, tmp_path, resolver)
    error = caught.value
    assert error.__cause__ is None
    assert error.__context__ is None
    assert KEY in str(error)
    assert text in str(error)
    return error


def stubbed_resolver(tmp_path: Path, service: str, code: str, status: int = 400) -> Resolver:
    """Create a resolver whose ``service`` client returns one error code for the next call."""
    client: Any = boto3.client(  # type: ignore[call-overload]
        service,
        region_name=REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        endpoint_url="http://127.0.0.1:9",
    )
    stubber = Stubber(client)
    operation = "get_secret_value" if service == "secretsmanager" else "get_parameter"
    stubber.add_client_error(operation, service_error_code=code, http_status_code=status)
    stubber.activate()

    def factory(_service: str, _region: str | None, _profile: str | None) -> Any:
        return client

    source: Any = (
        SecretsManagerSource(client_factory=factory)
        if service == "secretsmanager"
        else ParameterStoreSource(client_factory=factory)
    )
    return Resolver(project_root=tmp_path, sources=[source])


# Secrets Manager: values, JSON keys and version pins.


def test_secrets_manager_whole_string(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="prod/registry", SecretString="s3cr3t-a")
    assert resolve("aws-sm:prod/registry", tmp_path) == "s3cr3t-a"


def test_secrets_manager_json_key(aws: None, tmp_path: Path) -> None:
    document = {"username": "robot", "password": "s3cr3t-b"}
    boto3.client("secretsmanager").create_secret(
        Name="prod/registry", SecretString=json.dumps(document)
    )
    resolver = Resolver(project_root=tmp_path)

    assert resolve("aws-sm:prod/registry#password", tmp_path, resolver) == "s3cr3t-b"
    assert resolve("aws-sm:prod/registry#username", tmp_path, resolver) == "robot"
    assert resolver.fetch_count == 1


def test_secrets_manager_by_arn(aws: None, tmp_path: Path) -> None:
    arn = boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="prod/registry", SecretString="s3cr3t-arn"
    )["ARN"]

    # The ARN's region (eu-west-1) is used, not the default region us-east-1.
    assert resolve(f"aws-sm:{arn}", tmp_path) == "s3cr3t-arn"
    assert resolve(f"aws-sm:{arn}?region=eu-west-1", tmp_path) == "s3cr3t-arn"


def test_secrets_manager_region_option(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager", region_name="eu-west-1").create_secret(
        Name="regional", SecretString="s3cr3t-regional"
    )

    assert resolve("aws-sm:regional?region=eu-west-1", tmp_path) == "s3cr3t-regional"
    assert failure("aws-sm:regional", tmp_path).kind is FailureKind.NOT_FOUND


def test_secrets_manager_profile_option(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "aws-config").write_text("[profile mirror-reader]\nregion = ap-south-1\n")
    (tmp_path / "aws-credentials").write_text(
        "[mirror-reader]\naws_access_key_id = testing\naws_secret_access_key = testing\n"
    )
    boto3.client("secretsmanager", region_name="ap-south-1").create_secret(
        Name="in-profile-region", SecretString="s3cr3t-profile"
    )
    # botocore prefers AWS_DEFAULT_REGION to the profile's region.
    monkeypatch.delenv("AWS_DEFAULT_REGION")

    assert resolve("aws-sm:in-profile-region?profile=mirror-reader", tmp_path) == "s3cr3t-profile"


def test_secrets_manager_version_pins(aws: None, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager")
    first = client.create_secret(Name="rotated", SecretString="value-one")["VersionId"]
    second = client.put_secret_value(SecretId="rotated", SecretString="value-two")["VersionId"]

    assert resolve("aws-sm:rotated", tmp_path) == "value-two"
    assert resolve("aws-sm:rotated?version-stage=AWSCURRENT", tmp_path) == "value-two"
    assert resolve("aws-sm:rotated?version-stage=AWSPREVIOUS", tmp_path) == "value-one"
    assert resolve(f"aws-sm:rotated?version-id={first}", tmp_path) == "value-one"
    assert resolve(f"aws-sm:rotated?version-id={second}", tmp_path) == "value-two"


def test_secrets_manager_rotation(aws: None, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager")
    first = client.create_secret(Name="rotated", SecretString='{"password": "before"}')["VersionId"]
    before = resolve("aws-sm:rotated#password", tmp_path)

    client.put_secret_value(SecretId="rotated", SecretString='{"password": "after"}')
    after = resolve("aws-sm:rotated#password", tmp_path)
    pinned = resolve(f"aws-sm:rotated#password?version-id={first}", tmp_path)
    previous = resolve("aws-sm:rotated#password?version-stage=AWSPREVIOUS", tmp_path)

    assert before == "before"
    assert after == "after"
    assert pinned == "before"
    assert previous == "before"


def test_secrets_manager_resolver_keeps_value_within_run(aws: None, tmp_path: Path) -> None:
    client = boto3.client("secretsmanager")
    client.create_secret(Name="rotated", SecretString="before")
    resolver = Resolver(project_root=tmp_path)
    assert resolve("aws-sm:rotated", tmp_path, resolver) == "before"

    client.put_secret_value(SecretId="rotated", SecretString="after")

    assert resolve("aws-sm:rotated", tmp_path, resolver) == "before"
    assert resolve("aws-sm:rotated", tmp_path) == "after"


# Secrets Manager: failures.


def test_secrets_manager_secret_not_found(aws: None, tmp_path: Path) -> None:
    error = failure("aws-sm:missing/secret", tmp_path)

    assert error.kind is FailureKind.NOT_FOUND
    assert "ResourceNotFoundException" in str(error)


def test_secrets_manager_version_not_found(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="present", SecretString="value")

    by_id = failure("aws-sm:present?version-id=" + "0" * 32, tmp_path)
    by_stage = failure("aws-sm:present?version-stage=NO-SUCH-STAGE", tmp_path)

    assert by_id.kind is FailureKind.NOT_FOUND
    assert by_stage.kind is FailureKind.NOT_FOUND


def test_secrets_manager_secret_without_value(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="no-value-yet")

    assert failure("aws-sm:no-value-yet", tmp_path).kind is FailureKind.NOT_FOUND


def test_secrets_manager_access_denied_by_moto_iam(aws: None, tmp_path: Path) -> None:
    # moto 5.2 evaluates IAM policies once the initial unauthenticated request
    # count is used up; here the four setup requests.
    @set_initial_no_auth_action_count(4)
    def run() -> SecretError:
        iam = boto3.client("iam")
        iam.create_user(UserName="reader")
        iam.put_user_policy(
            UserName="reader",
            PolicyName="deny-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Deny", "Action": "*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        boto3.client("secretsmanager").create_secret(Name="guarded", SecretString="s3cr3t-guarded")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            return failure("aws-sm:guarded", tmp_path)

    error = run()

    assert error.kind is FailureKind.ACCESS_DENIED
    assert "HTTP 403" in str(error)


def test_secrets_manager_access_denied_exception(tmp_path: Path) -> None:
    # moto returns IAM denials as an XML body that botocore cannot read (see
    # the test above), so the AccessDeniedException code of the real JSON API
    # comes from botocore's Stubber.
    resolver = stubbed_resolver(tmp_path, "secretsmanager", "AccessDeniedException")
    error = failure("aws-sm:guarded", tmp_path, resolver)

    assert error.kind is FailureKind.ACCESS_DENIED
    assert "AccessDeniedException" in str(error)


def test_secrets_manager_decryption_failure(tmp_path: Path) -> None:
    # moto does not emulate KMS key policies for Secrets Manager, so the
    # DecryptionFailure code comes from botocore's Stubber.
    resolver = stubbed_resolver(tmp_path, "secretsmanager", "DecryptionFailure")
    error = failure("aws-sm:encrypted", tmp_path, resolver)

    assert error.kind is FailureKind.DECRYPTION_FAILED
    assert "DecryptionFailure" in str(error)


def test_secrets_manager_rejected_credentials(tmp_path: Path) -> None:
    resolver = stubbed_resolver(tmp_path, "secretsmanager", "UnrecognizedClientException")

    assert failure("aws-sm:any", tmp_path, resolver).kind is FailureKind.INVALID_CREDENTIALS


def test_secrets_manager_scheduled_for_deletion(tmp_path: Path) -> None:
    resolver = stubbed_resolver(tmp_path, "secretsmanager", "InvalidRequestException")
    error = failure("aws-sm:deleted", tmp_path, resolver)

    assert error.kind is FailureKind.SERVICE_ERROR
    assert "InvalidRequestException" in str(error)


def test_secrets_manager_unknown_error_code(tmp_path: Path) -> None:
    resolver = stubbed_resolver(tmp_path, "secretsmanager", "ThrottlingException")
    error = failure("aws-sm:busy", tmp_path, resolver)

    assert error.kind is FailureKind.SERVICE_ERROR
    assert "ThrottlingException" in str(error)


def test_secrets_manager_binary_secret(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="binary", SecretBinary=b"\x00\x01binary")
    error = failure("aws-sm:binary", tmp_path)

    assert error.kind is FailureKind.NOT_TEXT
    assert "SecretBinary" in str(error)


def test_secrets_manager_json_key_missing(aws: None, tmp_path: Path) -> None:
    document = {"username": "robot", "token": "s3cr3t-token"}
    boto3.client("secretsmanager").create_secret(Name="creds", SecretString=json.dumps(document))
    error = failure("aws-sm:creds#password", tmp_path)

    assert error.kind is FailureKind.JSON_KEY_MISSING
    assert "'username', 'token'" in str(error)
    assert "robot" not in str(error)
    assert "s3cr3t-token" not in str(error)


def test_secrets_manager_not_json(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="plain", SecretString="{not-json s3cr3t")
    error = failure("aws-sm:plain#password", tmp_path)

    assert error.kind is FailureKind.NOT_JSON_OBJECT
    assert "s3cr3t" not in str(error)


def test_secrets_manager_json_array(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="list", SecretString='["s3cr3t"]')
    error = failure("aws-sm:list#password", tmp_path)

    assert error.kind is FailureKind.NOT_JSON_OBJECT
    assert "JSON array" in str(error)


def test_secrets_manager_json_value_not_string(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="typed", SecretString='{"pin": 482913}')
    error = failure("aws-sm:typed#pin", tmp_path)

    assert error.kind is FailureKind.NOT_TEXT
    assert "JSON number" in str(error)
    assert "482913" not in str(error)


def test_secrets_manager_json_value_empty(aws: None, tmp_path: Path) -> None:
    boto3.client("secretsmanager").create_secret(Name="blank", SecretString='{"password": ""}')

    assert failure("aws-sm:blank#password", tmp_path).kind is FailureKind.EMPTY_VALUE


# SSM Parameter Store.


def test_ssm_secure_string(aws: None, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/prod/registry", Value="p4ss-a", Type="SecureString")

    assert resolve("aws-ssm:/prod/registry", tmp_path) == "p4ss-a"


def test_ssm_string_logs_warning(
    aws: None, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    boto3.client("ssm").put_parameter(Name="/prod/plain", Value="p4ss-plain", Type="String")

    assert resolve("aws-ssm:/prod/plain", tmp_path) == "p4ss-plain"
    assert "not a SecureString" in caplog.text
    assert "p4ss-plain" not in caplog.text


def test_ssm_string_list_rejected(aws: None, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/prod/list", Value="a,b", Type="StringList")

    assert failure("aws-ssm:/prod/list", tmp_path).kind is FailureKind.NOT_TEXT


def test_ssm_by_arn(aws: None, tmp_path: Path) -> None:
    client = boto3.client("ssm", region_name="eu-west-1")
    client.put_parameter(Name="/prod/registry", Value="p4ss-arn", Type="SecureString")
    arn = client.get_parameter(Name="/prod/registry")["Parameter"]["ARN"]

    assert resolve(f"aws-ssm:{arn}", tmp_path) == "p4ss-arn"


def test_ssm_version_and_label(aws: None, tmp_path: Path) -> None:
    client = boto3.client("ssm")
    client.put_parameter(Name="/prod/rotated", Value="p4ss-one", Type="SecureString")
    client.put_parameter(
        Name="/prod/rotated", Value="p4ss-two", Type="SecureString", Overwrite=True
    )
    client.label_parameter_version(Name="/prod/rotated", ParameterVersion=1, Labels=["previous"])

    assert resolve("aws-ssm:/prod/rotated", tmp_path) == "p4ss-two"
    assert resolve("aws-ssm:/prod/rotated?version=1", tmp_path) == "p4ss-one"
    assert resolve("aws-ssm:/prod/rotated?version=2", tmp_path) == "p4ss-two"
    assert resolve("aws-ssm:/prod/rotated?label=previous", tmp_path) == "p4ss-one"


def test_ssm_rotation(aws: None, tmp_path: Path) -> None:
    client = boto3.client("ssm")
    client.put_parameter(Name="/prod/rotated", Value="before", Type="SecureString")
    before = resolve("aws-ssm:/prod/rotated", tmp_path)

    client.put_parameter(Name="/prod/rotated", Value="after", Type="SecureString", Overwrite=True)

    assert before == "before"
    assert resolve("aws-ssm:/prod/rotated", tmp_path) == "after"
    assert resolve("aws-ssm:/prod/rotated?version=1", tmp_path) == "before"


def test_ssm_parameter_not_found(aws: None, tmp_path: Path) -> None:
    error = failure("aws-ssm:/missing", tmp_path)

    assert error.kind is FailureKind.NOT_FOUND
    assert "ParameterNotFound" in str(error)


def test_ssm_version_not_found(aws: None, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/present", Value="value", Type="SecureString")
    error = failure("aws-ssm:/present?version=9", tmp_path)

    assert error.kind is FailureKind.NOT_FOUND
    assert "ParameterVersionNotFound" in str(error)


def test_ssm_label_not_found(aws: None, tmp_path: Path) -> None:
    boto3.client("ssm").put_parameter(Name="/present", Value="value", Type="SecureString")

    assert failure("aws-ssm:/present?label=absent", tmp_path).kind is FailureKind.NOT_FOUND


def test_ssm_access_denied_by_moto_iam(aws: None, tmp_path: Path) -> None:
    @set_initial_no_auth_action_count(4)
    def run() -> SecretError:
        iam = boto3.client("iam")
        iam.create_user(UserName="reader")
        iam.put_user_policy(
            UserName="reader",
            PolicyName="deny-all",
            PolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [{"Effect": "Deny", "Action": "ssm:*", "Resource": "*"}],
                }
            ),
        )
        key = iam.create_access_key(UserName="reader")["AccessKey"]
        boto3.client("ssm").put_parameter(Name="/guarded", Value="p4ss", Type="SecureString")
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
            patch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
            return failure("aws-ssm:/guarded", tmp_path)

    assert run().kind is FailureKind.ACCESS_DENIED


def test_ssm_access_denied_exception(tmp_path: Path) -> None:
    resolver = stubbed_resolver(tmp_path, "ssm", "AccessDeniedException")

    assert failure("aws-ssm:/guarded", tmp_path, resolver).kind is FailureKind.ACCESS_DENIED


def test_ssm_invalid_key_id(tmp_path: Path) -> None:
    # GetParameter returns InvalidKeyId when the parameter's KMS key cannot be
    # used (SSM API reference); moto does not emulate that, hence the Stubber.
    resolver = stubbed_resolver(tmp_path, "ssm", "InvalidKeyId")

    assert failure("aws-ssm:/encrypted", tmp_path, resolver).kind is FailureKind.DECRYPTION_FAILED


# Failures before any request reaches a service.


def test_aws_no_region(
    closed_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    for text in ("aws-sm:prod/registry", "aws-ssm:/prod/registry"):
        error = failure(text, tmp_path)
        assert error.kind is FailureKind.NO_REGION
        assert "region=" in str(error)


def test_aws_no_credentials(
    closed_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)

    for text in ("aws-sm:prod/registry", "aws-ssm:/prod/registry"):
        assert failure(text, tmp_path).kind is FailureKind.NO_CREDENTIALS


def test_aws_profile_not_found(
    closed_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    error = failure("aws-sm:prod/registry?profile=absent", tmp_path)

    assert error.kind is FailureKind.PROFILE_NOT_FOUND
    assert "'absent'" in str(error)


def test_aws_endpoint_unreachable(
    closed_endpoint: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")

    for text in ("aws-sm:prod/registry", "aws-ssm:/prod/registry"):
        error = failure(text, tmp_path)
        assert error.kind is FailureKind.UNREACHABLE
        assert closed_endpoint in str(error)
