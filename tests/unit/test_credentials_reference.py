"""Reference grammar: what each scheme accepts, and the errors for what it does not."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from components.credentials import (
    ConfigTarget,
    EnvironmentTarget,
    FailureKind,
    FileTarget,
    ParameterTarget,
    SecretError,
    SecretReference,
    SecretsManagerTarget,
    default_sources,
    parse_reference,
)

ROOT = Path("/srv/project")
SOURCES = default_sources(ROOT, project="k3s-registries")
KEY = "registries.configs.registry.example.test.auth.password"
SM_ARN = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:prod/registry-AbCdEf"
SSM_ARN = "arn:aws:ssm:eu-west-1:123456789012:parameter/prod/registry"
VERSION_ID = "a1b2c3d4-5678-90ab-cdef-EXAMPLE11111"


def parse(text: str) -> SecretReference:
    return parse_reference(text, KEY, SOURCES)


def malformed(text: str) -> SecretError:
    with pytest.raises(SecretError) as caught:
        parse(text)
    error = caught.value
    assert error.kind is FailureKind.MALFORMED_REFERENCE
    assert KEY in str(error)
    assert repr(text) in str(error)
    assert error.__context__ is None
    return error


# Valid references.


def test_config_key_in_project_namespace() -> None:
    reference = parse("config:registryPassword")

    assert reference.scheme == "config"
    assert reference.target == ConfigTarget("k3s-registries", "registryPassword")
    assert reference.json_key is None


def test_config_key_with_namespace() -> None:
    assert parse("config:shared:registryPassword").target == ConfigTarget(
        "shared", "registryPassword"
    )


def test_config_namespaces_share_fetch() -> None:
    short = parse("config:registryPassword")
    explicit = parse("config:k3s-registries:registryPassword")

    assert short.fetch_key == explicit.fetch_key


def test_env_name() -> None:
    assert parse("env:REGISTRY_PASSWORD").target == EnvironmentTarget("REGISTRY_PASSWORD")


def test_file_relative_to_project_root() -> None:
    assert parse("file:secrets/password").target == FileTarget(ROOT / "secrets/password")


def test_file_absolute_path() -> None:
    assert parse("file:/run/secrets/password").target == FileTarget(Path("/run/secrets/password"))


def test_file_path_keeps_question_mark_and_hash() -> None:
    target = parse("file:odd?name#1").target

    assert target == FileTarget(ROOT / "odd?name#1")


def test_file_home_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", "/home/deploy")

    assert parse("file:~/.secrets/password").target == FileTarget(
        Path("/home/deploy/.secrets/password")
    )


def test_secrets_manager_name() -> None:
    reference = parse("aws-sm:prod/registry")

    assert reference.target == SecretsManagerTarget("prod/registry")
    assert reference.json_key is None


def test_secrets_manager_all_parts() -> None:
    reference = parse(
        "aws-sm:prod/registry#password?version-stage=AWSPREVIOUS&region=us-west-2&profile=ops"
    )

    assert reference.json_key == "password"
    assert reference.target == SecretsManagerTarget(
        "prod/registry", version_stage="AWSPREVIOUS", region="us-west-2", profile="ops"
    )


def test_secrets_manager_version_id() -> None:
    target = parse(f"aws-sm:prod/registry?version-id={VERSION_ID}").target

    assert target == SecretsManagerTarget("prod/registry", version_id=VERSION_ID)


def test_secrets_manager_option_order_ignored() -> None:
    first = parse("aws-sm:app?region=us-west-2&version-stage=AWSCURRENT")
    second = parse("aws-sm:app?version-stage=AWSCURRENT&region=us-west-2")

    assert first.fetch_key == second.fetch_key


def test_secrets_manager_json_keys_share_fetch() -> None:
    username = parse("aws-sm:prod/registry#username")
    password = parse("aws-sm:prod/registry#password")

    assert username.fetch_key == password.fetch_key
    assert username.json_key != password.json_key


def test_secrets_manager_arn_keeps_colons() -> None:
    reference = parse(f"aws-sm:{SM_ARN}#password")

    assert reference.target == SecretsManagerTarget(SM_ARN, region="eu-west-1")
    assert reference.json_key == "password"


def test_secrets_manager_name_with_special_characters() -> None:
    name = "team+ops/registry_creds=v1.2@example-x"

    assert parse(f"aws-sm:{name}").target == SecretsManagerTarget(name)


def test_ssm_name() -> None:
    assert parse("aws-ssm:/prod/registry/password").target == ParameterTarget(
        "/prod/registry/password"
    )


def test_ssm_version() -> None:
    target = parse("aws-ssm:/prod/password?version=12&region=eu-central-1")

    assert target.target == ParameterTarget("/prod/password", version=12, region="eu-central-1")
    assert isinstance(target.target, ParameterTarget)
    assert target.target.selector == "/prod/password:12"


def test_ssm_label() -> None:
    target = parse("aws-ssm:/prod/password?label=stable&profile=ops").target

    assert target == ParameterTarget("/prod/password", label="stable", profile="ops")
    assert isinstance(target, ParameterTarget)
    assert target.selector == "/prod/password:stable"


def test_ssm_arn_takes_region() -> None:
    assert parse(f"aws-ssm:{SSM_ARN}").target == ParameterTarget(SSM_ARN, region="eu-west-1")


def test_reference_repr_is_reference_text() -> None:
    reference = parse("aws-sm:prod/registry#password")

    assert "aws-sm:prod/registry#password" in repr(reference)


# Malformed references.


def test_missing_scheme() -> None:
    with pytest.raises(SecretError) as caught:
        parse("REGISTRY_PASSWORD")

    assert caught.value.kind is FailureKind.MALFORMED_REFERENCE
    assert "env:" in str(caught.value)


def test_unknown_scheme_lists_known() -> None:
    with pytest.raises(SecretError) as caught:
        parse("vault:secret/registry")

    error = caught.value
    assert error.kind is FailureKind.UNKNOWN_SCHEME
    assert "'vault'" in str(error)
    for scheme in ("aws-sm:", "aws-ssm:", "config:", "env:", "file:"):
        assert scheme in str(error)


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("config:", "empty namespace or key"),
        ("config:a:b:c", "more than one ':'"),
        ("config::key", "empty namespace or key"),
        ("env:", "name is empty"),
        ("env:A=B", "not a valid environment variable name"),
        ("file:", "path is empty"),
        ("aws-sm:", "name or ARN is empty"),
        ("aws-sm:#password", "name or ARN is empty"),
        ("aws-sm:app#", "no JSON key"),
        ("aws-sm:app?", "no option"),
        ("aws-sm:app?region", "has no '=value'"),
        ("aws-sm:app?region=", "empty value"),
        ("aws-sm:app?region=a&region=b", "given twice"),
        ("aws-sm:app?version=3", "unknown option 'version'"),
        ("aws-sm:app?version-stage=AWSCURRENT&version-id=" + VERSION_ID, "keep one"),
        ("aws-sm:app?version-id=short", "32 to 64 characters"),
        ("aws-sm:app?version-stage=" + "S" * 257, "longer than 256"),
        (f"aws-sm:{SM_ARN}?region=us-east-1", "differs from the ARN's region"),
        ("aws-ssm:", "name or ARN is empty"),
        ("aws-ssm:/prod/password#key", "aws-sm references only"),
        ("aws-ssm:/prod/password:3", "':' selector"),
        (f"aws-ssm:{SSM_ARN}:3", "':' selector"),
        ("aws-ssm:/prod/password?version=0", "not a positive whole number"),
        ("aws-ssm:/prod/password?version=-1", "not a positive whole number"),
        ("aws-ssm:/prod/password?version=two", "not a positive whole number"),
        ("aws-ssm:/prod/password?label=1st", "not a valid parameter label"),
        ("aws-ssm:/prod/password?label=AWSCURRENT", "not a valid parameter label"),
        ("aws-ssm:/prod/password?label=ssm-label", "not a valid parameter label"),
        ("aws-ssm:/prod/password?label=a:b", "not a valid parameter label"),
        ("aws-ssm:/prod/password?version=1&label=stable", "keep one"),
        ("aws-ssm:/prod/password?version-stage=AWSCURRENT", "unknown option"),
    ],
)
def test_malformed_reference(text: str, complaint: str) -> None:
    error = malformed(text)

    assert complaint in str(error)
    assert "write it like" in str(error)


def test_unknown_option_lists_known() -> None:
    error = malformed("aws-ssm:/p?stage=x")

    for option in ("label", "profile", "region", "version"):
        assert option in str(error)


# Properties.


@given(st.text(max_size=80))
def test_any_text_parses_or_raises_secret_error(text: str) -> None:
    try:
        reference = parse(text)
    except SecretError as error:
        assert error.failures[0].reference == text
        assert error.failures[0].key == KEY
    else:
        assert reference.text == text
        assert reference.scheme in SOURCES


SECRET_NAME = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_+=.@-",
    min_size=1,
    max_size=64,
)
JSON_KEY = st.text(min_size=1, max_size=20).filter(lambda key: "?" not in key)
STAGE = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ_-0123456789", min_size=1, max_size=30)


@given(SECRET_NAME, st.none() | JSON_KEY, st.none() | STAGE)
def test_secrets_manager_parts_round_trip(
    name: str, json_key: str | None, stage: str | None
) -> None:
    text = f"aws-sm:{name}"
    if json_key is not None:
        text += f"#{json_key}"
    if stage is not None:
        text += f"?version-stage={stage}"

    reference = parse(text)

    assert reference.target == SecretsManagerTarget(name, version_stage=stage)
    assert reference.json_key == json_key
