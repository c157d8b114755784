"""Explanations of image pulls: reference normalization, endpoint order, rewrites, credentials."""

from __future__ import annotations

import textwrap

import pytest

from components.explain import ImageReference, explain, format_explanation, parse_image
from components.model import Registries
from components.validate import load_registries_text

FILE = """\
mirrors:
  docker.io:
    endpoint:
      - https://mirror.example.test:9000
      - https://cache.example.test/custom/v2
    rewrite:
      "^rancher/(.*)": "mirrored/rancher/$1"
  "*":
    endpoint:
      - https://mirror.example.test:9000
configs:
  mirror.example.test:9000:
    auth:
      username: robot
      password: example-password
    tls:
      ca_file: /etc/rancher/k3s/certs/mirror-ca.crt
  registry-1.docker.io:
    auth:
      identity_token: example-token
  quay.io:
    tls:
      insecure_skip_verify: true
"""


def load(text: str) -> Registries:
    registries, _ = load_registries_text(textwrap.dedent(text), "test.yaml")
    return registries


@pytest.mark.parametrize(
    ("reference", "expected"),
    [
        ("nginx", ImageReference("docker.io", "library/nginx", "latest", None)),
        ("library/nginx:1.27", ImageReference("docker.io", "library/nginx", "1.27", None)),
        (
            "rancher/k3s:v1.30.1-k3s1",
            ImageReference("docker.io", "rancher/k3s", "v1.30.1-k3s1", None),
        ),
        ("index.docker.io/nginx", ImageReference("docker.io", "library/nginx", "latest", None)),
        ("docker.io/team/app", ImageReference("docker.io", "team/app", "latest", None)),
        (
            "registry-1.docker.io/team/app",
            ImageReference("registry-1.docker.io", "team/app", "latest", None),
        ),
        ("host:5000/app", ImageReference("host:5000", "app", "latest", None)),
        ("localhost/app:dev", ImageReference("localhost", "app", "dev", None)),
        ("Registry/app", ImageReference("Registry", "app", "latest", None)),
        ("quay.io/a/b/c:tag", ImageReference("quay.io", "a/b/c", "tag", None)),
        (
            "ghcr.io/x/y:1@sha256:" + "ab" * 32,
            ImageReference("ghcr.io", "x/y", "1", "sha256:" + "ab" * 32),
        ),
        (
            "ghcr.io/x/y@sha256:" + "ab" * 32,
            ImageReference("ghcr.io", "x/y", None, "sha256:" + "ab" * 32),
        ),
    ],
)
def test_parse_image(reference: str, expected: ImageReference) -> None:
    assert parse_image(reference) == expected


@pytest.mark.parametrize(
    "reference",
    [
        "",
        " nginx",
        "Nginx",
        "host:5000/App",
        "nginx:",
        "nginx@sha256:short",
        "a" * 64,
        "host:99999/app",
        "a//b",
    ],
)
def test_parse_image_rejects(reference: str) -> None:
    with pytest.raises(ValueError):
        parse_image(reference)


def test_mirror_order_then_default() -> None:
    result = explain(load(FILE), "nginx")

    assert result.hosts_directory == "docker.io"
    assert [step.url for step in result.steps] == [
        "https://mirror.example.test:9000/v2",
        "https://cache.example.test/custom/v2",
        "https://registry-1.docker.io/v2",
    ]
    assert [step.is_default for step in result.steps] == [False, False, True]
    assert [step.override_path for step in result.steps] == [False, True, False]


def test_rewrite_applies_to_mirrors_only() -> None:
    result = explain(load(FILE), "rancher/mirrored-pause:3.6")

    assert [step.repository for step in result.steps] == [
        "mirrored/rancher/mirrored-pause",
        "mirrored/rancher/mirrored-pause",
        "rancher/mirrored-pause",
    ]
    assert result.steps[0].rewrite_pattern == "^rancher/(.*)"
    assert result.steps[2].rewrite_pattern is None


def test_credentials_and_tls_per_endpoint() -> None:
    steps = explain(load(FILE), "nginx").steps

    assert steps[0].credentials == "username and password"
    assert steps[0].credentials_key == "mirror.example.test:9000"
    assert steps[0].tls == ("CA /etc/rancher/k3s/certs/mirror-ca.crt",)
    assert steps[1].credentials is None
    assert steps[2].credentials == "identity token"
    assert steps[2].credentials_key == "registry-1.docker.io"


def test_wildcard_mirror_for_other_registries() -> None:
    result = explain(load(FILE), "ghcr.io/team/app:1")

    assert result.hosts_directory == "_default"
    assert result.hosts_entry == 'mirrors."*"'
    assert [step.url for step in result.steps] == [
        "https://mirror.example.test:9000/v2",
        "https://ghcr.io/v2",
    ]
    assert result.steps[0].repository == "team/app"


def test_configs_entry_shadows_wildcard() -> None:
    result = explain(load(FILE), "quay.io/team/app")

    assert result.hosts_directory == "quay.io"
    assert result.hosts_entry == 'configs."quay.io"'
    assert [step.url for step in result.steps] == ["https://quay.io/v2"]
    assert result.steps[0].tls == ("certificate not verified (insecure_skip_verify)",)
    assert any('"*" mirror does not apply' in note for note in result.notes)


def test_disable_default_endpoint() -> None:
    result = explain(load(FILE), "nginx", disable_default_endpoint=True)

    assert [step.is_default for step in result.steps] == [False, False]
    assert any("default endpoint is disabled" in note for note in result.notes)


def test_disable_default_kept_with_configs_entry() -> None:
    text = """\
    mirrors:
      registry.example.test:
        endpoint: [https://mirror.example.test]
    configs:
      registry.example.test:
        tls: {ca_file: /etc/k3s/ca.crt}
    """
    result = explain(load(text), "registry.example.test/app", disable_default_endpoint=True)

    assert [step.url for step in result.steps] == [
        "https://mirror.example.test/v2",
        "https://registry.example.test/v2",
    ]
    assert any("keeps the default endpoint" in note for note in result.notes)


def test_disable_default_without_mirror_entry() -> None:
    result = explain(Registries(), "nginx", disable_default_endpoint=True)

    assert [step.url for step in result.steps] == ["https://registry-1.docker.io/v2"]
    assert result.hosts_directory is None


def test_localhost_default_is_http() -> None:
    result = explain(Registries(), "localhost:5000/app")

    assert result.steps[0].url == "http://localhost:5000/v2"
    assert result.steps[0].uses_tls is False


def test_last_default_endpoint_becomes_default() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [https://mirror.example.test, https://registry-1.docker.io]
    """
    result = explain(load(text), "nginx")

    assert [step.url for step in result.steps] == [
        "https://mirror.example.test/v2",
        "https://registry-1.docker.io/v2",
    ]


def test_duplicate_endpoints_tried_once() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [https://m.example.test, https://m.example.test/v2]
    """
    result = explain(load(text), "nginx")

    assert [step.url for step in result.steps] == [
        "https://m.example.test/v2",
        "https://registry-1.docker.io/v2",
    ]


def test_ambiguous_rewrites_noted() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [https://m.example.test]
        rewrite:
          "^library/(.*)": "hub/library/$1"
          "^(.*)$": "all/$1"
    """
    result = explain(load(text), "nginx")

    assert result.steps[0].other_rewrites == (("^(.*)$", "all/library/nginx"),)
    assert any("several rewrites match" in note for note in result.notes)


def test_format_hides_secrets() -> None:
    text = format_explanation(explain(load(FILE), "nginx"))

    assert "example-password" not in text
    assert "example-token" not in text
    assert "1. https://mirror.example.test:9000/v2" in text
    assert "(default endpoint)" in text
    assert 'configs."mirror.example.test:9000"' in text


def test_tls_not_used_over_http() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [http://registry.example.test:5000]
      registry.example.test:5000:
        endpoint: [http://registry.example.test:5000]
    configs:
      registry.example.test:5000:
        tls: {insecure_skip_verify: true}
    """
    result = explain(load(text), "registry.example.test:5000/app")

    assert result.steps[0].uses_tls is False
    assert any("TLS settings are not used" in note for note in result.notes)
