"""Warnings on valid files whose effect on K3s differs from what they seem to say."""

from __future__ import annotations

import textwrap

import pytest
import yaml

from components.problems import Problem, Severity
from components.render import render
from components.validate import check_registries, load_registries_text

REALISTIC = """\
mirrors:
  docker.io:
    endpoint:
      - https://mirror.example.test:9000
      - https://cache.example.test
    rewrite:
      "^rancher/(.*)": "mirrored/rancher/$1"
  quay.io:
    endpoint:
      - https://mirror.example.test:9000/v2
  registry.example.test:
    endpoint:
      - https://registry.example.test
  registry.example.test:5000:
    endpoint:
      - http://registry.example.test:5000
  localhost:5000:
    endpoint:
      - http://localhost:5000
  "*":
    endpoint:
      - https://mirror.example.test:9000
configs:
  mirror.example.test:9000:
    auth:
      username: k3s-pull
      password: "p@ss:w0rd #1"
    tls:
      ca_file: /etc/rancher/k3s/certs/mirror-ca.crt
  cache.example.test:
    tls:
      cert_file: /etc/rancher/k3s/certs/client.crt
      key_file: /etc/rancher/k3s/certs/client.key
  registry.example.test:
    auth:
      auth: dXNlcjE6cGE6c3M=
  registry-1.docker.io:
    auth:
      identity_token: example-refresh-token
"""


def warnings_for(text: str) -> list[Problem]:
    _, problems = load_registries_text(textwrap.dedent(text), "test.yaml")
    assert all(problem.severity is Severity.WARNING for problem in problems)
    return problems


def assert_warning(text: str, *expected: str) -> Problem:
    """Assert that exactly one warning is found and that it contains every expected string."""
    problems = warnings_for(text)
    assert len(problems) == 1, "\n".join(str(problem) for problem in problems)
    output = str(problems[0])
    for part in expected:
        assert part in output, f"{part!r} missing from:\n{output}"
    return problems[0]


def test_realistic_file_has_no_warnings() -> None:
    assert warnings_for(REALISTIC) == []


# ------------------------------------------------------ credentials by host


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            """\
            mirrors:
              docker.io:
                endpoint: [https://mirror.example.test:9000]
            configs:
              docker.io:
                auth: {username: robot, password: pw}
            """,
            ['configs."mirror.example.test:9000"', "registry-1.docker.io", "never sent"],
        ),
        (
            """\
            configs:
              docker.io:
                auth: {username: robot, password: pw}
            """,
            ["registry-1.docker.io", "never sent"],
        ),
        (
            """\
            mirrors:
              quay.io:
                endpoint: [https://quay-mirror.example.test]
            configs:
              quay.io:
                auth: {username: robot, password: pw}
            """,
            ['configs."quay-mirror.example.test"', "default endpoint https://quay.io/v2"],
        ),
        (
            """\
            mirrors:
              ghcr.io:
                endpoint: [https://mirror.example.test, https://backup.example.test]
            configs:
              ghcr.io:
                tls: {ca_file: /etc/k3s/ca.crt}
              mirror.example.test:
                auth: {username: robot, password: pw}
            """,
            ["backup.example.test", 'configs."backup.example.test"'],
        ),
        (
            """\
            configs:
              index.docker.io:
                auth: {username: robot, password: pw}
            """,
            ["registry-1.docker.io"],
        ),
    ],
)
def test_credentials_keyed_by_wrong_host(text: str, expected: list[str]) -> None:
    problem = assert_warning(text, *expected)

    assert problem.path.startswith("configs.")


def test_configs_for_every_endpoint_host_fine() -> None:
    text = """\
    mirrors:
      quay.io:
        endpoint: [https://quay-mirror.example.test]
    configs:
      quay.io:
        auth: {username: upstream, password: pw}
      quay-mirror.example.test:
        auth: {username: mirror, password: pw}
    """
    assert warnings_for(text) == []


# ----------------------------------------------------------- endpoint lists


@pytest.mark.parametrize(
    ("endpoints", "expected"),
    [
        (
            "[https://registry-1.docker.io, https://mirror.example.test]",
            "https://registry-1.docker.io",
        ),
        ("[https://docker.io/v2, https://mirror.example.test]", "https://docker.io/v2"),
    ],
)
def test_default_endpoint_before_mirrors(endpoints: str, expected: str) -> None:
    problem = assert_warning(
        f"mirrors:\n  docker.io:\n    endpoint: {endpoints}\n",
        expected,
        "default endpoint of docker.io",
    )

    assert problem.path == 'mirrors."docker.io".endpoint[0]'


def test_default_endpoint_other_registry() -> None:
    text = "mirrors:\n  quay.io:\n    endpoint: [https://quay.io/v2, https://mirror.example.test]\n"

    assert_warning(text, "https://quay.io/v2", "default endpoint of quay.io")


def test_default_endpoint_last_is_silent() -> None:
    text = "mirrors:\n  docker.io:\n    endpoint: [https://mirror.example.test, https://registry-1.docker.io]\n"

    assert warnings_for(text) == []


@pytest.mark.parametrize(
    ("endpoints", "duplicate"),
    [
        ("[https://m.example.test, https://m.example.test]", "https://m.example.test"),
        ("[https://m.example.test, https://m.example.test/v2]", "https://m.example.test/v2"),
        (
            "[https://m.example.test/, https://n.example.test, https://m.example.test]",
            "https://m.example.test",
        ),
    ],
)
def test_duplicate_endpoint_warns(endpoints: str, duplicate: str) -> None:
    problem = assert_warning(
        f"mirrors:\n  docker.io:\n    endpoint: {endpoints}\n", duplicate, "more than once"
    )

    assert problem.path.endswith("]")


def test_scheme_makes_endpoints_distinct() -> None:
    text = "mirrors:\n  m.example.test:\n    endpoint: [http://m.example.test, https://m.example.test]\n"

    assert warnings_for(text) == []


@pytest.mark.parametrize("path", ["/prefix", "/prefix/v2", "/v1"])
def test_endpoint_path_suggests_rewrite(path: str) -> None:
    text = f"mirrors:\n  docker.io:\n    endpoint: [https://mirror.example.test{path}]\n"

    assert_warning(text, f"'{path}'", "rewrite")


@pytest.mark.parametrize("path", ["", "/", "/v2", "/v2/"])
def test_endpoint_api_root_fine(path: str) -> None:
    text = f"mirrors:\n  docker.io:\n    endpoint: [https://mirror.example.test{path}]\n"

    assert warnings_for(text) == []


# -------------------------------------------------------------- plain HTTP


@pytest.mark.parametrize(
    ("key", "endpoint", "host"),
    [
        ("docker.io", "http://registry.example.test:5000", "registry.example.test:5000"),
        ("quay.io", "http://10.0.0.10:5000", "10.0.0.10:5000"),
        ('"*"', "http://cache.example.test", "cache.example.test"),
    ],
)
def test_plain_http_mirror_warns(key: str, endpoint: str, host: str) -> None:
    problem = assert_warning(
        f"mirrors:\n  {key}:\n    endpoint: [{endpoint}]\n", host, f'mirrors."{host}"', "HTTPS"
    )

    assert problem.path.endswith("endpoint[0]")


def test_plain_http_with_own_entry_fine() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [http://registry.example.test:5000]
      registry.example.test:5000:
        endpoint: [http://registry.example.test:5000]
    """
    assert warnings_for(text) == []


def test_plain_http_localhost_fine() -> None:
    text = "mirrors:\n  docker.io:\n    endpoint: [http://localhost:5000, http://127.0.0.1:5001]\n"

    assert warnings_for(text) == []


def test_tls_over_http_warns() -> None:
    text = """\
    mirrors:
      registry.example.test:5000:
        endpoint: [http://registry.example.test:5000]
    configs:
      registry.example.test:5000:
        tls: {insecure_skip_verify: true}
    """
    problem = assert_warning(text, "http://", "TLS settings apply only to HTTPS")

    assert problem.path == 'configs."registry.example.test:5000".tls'


def test_tls_over_http_localhost_no_effect() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [http://localhost:5000]
    configs:
      localhost:5000:
        tls: {ca_file: /etc/k3s/ca.crt}
    """
    assert_warning(text, "no effect")


# --------------------------------------------------------------- mirror keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("index.docker.io", "never used"),
        ("registry-1.docker.io", "spell out registry-1.docker.io"),
        ("registry.hub.docker.com", "spell out registry.hub.docker.com"),
    ],
)
def test_docker_hub_alias_key(key: str, expected: str) -> None:
    problem = assert_warning(
        f"mirrors:\n  {key}:\n    endpoint: [https://mirror.example.test]\n",
        expected,
        "'docker.io'",
    )

    assert problem.path == f'mirrors."{key}"'


def test_upper_case_key_warns() -> None:
    assert_warning(
        "mirrors:\n  Docker.io:\n    endpoint: [https://m.example.test]\n", "'docker.io'"
    )


def test_rewrites_without_endpoint_warn() -> None:
    assert_warning(
        "mirrors:\n  docker.io: {rewrite: {'^(.*)$': 'x/$1'}}\n",
        "has rewrites but no endpoint",
        "no mirror endpoint",
    )


def test_empty_mirror_entry_kept() -> None:
    """An entry without endpoints enables K3s's embedded registry mirror for that registry."""
    text = "mirrors:\n  docker.io:\n  registry.k8s.io: {}\n  '*':\n"
    registries, problems = check_registries(yaml.safe_load(text))

    assert problems == []
    assert yaml.safe_load(render(registries)) == {
        "mirrors": {"*": {}, "docker.io": {}, "registry.k8s.io": {}}
    }


def test_last_default_endpoint_kept() -> None:
    text = (
        "mirrors:\n  docker.io:\n    endpoint:\n"
        "    - https://mirror.example.test\n    - https://registry-1.docker.io\n"
    )
    registries, problems = check_registries(yaml.safe_load(text))

    assert problems == []
    assert yaml.safe_load(render(registries))["mirrors"]["docker.io"]["endpoint"] == [
        "https://mirror.example.test",
        "https://registry-1.docker.io",
    ]


def test_no_cross_warnings_with_errors() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: [https://mirror.example.test, https://mirror.example.test]
        endpiont: [x]
    """
    _, problems = check_registries(yaml.safe_load(textwrap.dedent(text)))

    assert [problem.severity for problem in problems] == [Severity.ERROR]
