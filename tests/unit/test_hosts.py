"""Registry hosts and endpoints as K3s and containerd normalize them."""

from __future__ import annotations

import pytest

from components.hosts import (
    HostError,
    check_host,
    config_hosts,
    default_endpoint,
    is_localhost,
    parse_endpoint,
    redact_url,
)


@pytest.mark.parametrize(
    ("registry", "expected"),
    [
        ("docker.io", "https://registry-1.docker.io/v2"),
        ("quay.io", "https://quay.io/v2"),
        ("registry.example.test:5000", "https://registry.example.test:5000/v2"),
        ("localhost", "https://localhost/v2"),
        ("localhost:443", "https://localhost:443/v2"),
        ("localhost:5000", "http://localhost:5000/v2"),
        ("127.0.0.1:5000", "http://127.0.0.1:5000/v2"),
        ("10.0.0.10:5000", "https://10.0.0.10:5000/v2"),
    ],
)
def test_default_endpoint(registry: str, expected: str) -> None:
    assert default_endpoint(registry) == expected


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("localhost:80", True),
        ("127.0.0.2:5000", True),
        ("10.0.0.1", False),
        ("local", False),
    ],
)
def test_is_localhost(host: str, expected: bool) -> None:
    assert is_localhost(host) is expected


@pytest.mark.parametrize(
    ("url", "normalized"),
    [
        ("https://m.example.test", "https://m.example.test/v2"),
        ("https://m.example.test/", "https://m.example.test/v2"),
        ("https://m.example.test/v2/", "https://m.example.test/v2"),
        ("HTTPS://m.example.test/v2", "https://m.example.test/v2"),
        ("https://docker.io", "https://registry-1.docker.io/v2"),
        ("https://m.example.test/prefix", "https://m.example.test/prefix"),
    ],
)
def test_endpoint_normalized(url: str, normalized: str) -> None:
    assert parse_endpoint(url).normalized == normalized


def test_endpoint_parts() -> None:
    endpoint = parse_endpoint("http://registry.example.test:5000/mirror/v2")

    assert endpoint.scheme == "http"
    assert endpoint.host == "registry.example.test:5000"
    assert endpoint.path == "/mirror/v2"
    assert endpoint.is_api_root is False


@pytest.mark.parametrize(
    "host", ["a" * 64 + ".test", "x." * 127 + "test", "a_b.test", "a.test:", "a.test:+1"]
)
def test_invalid_hosts(host: str) -> None:
    with pytest.raises(HostError):
        check_host(host)


def test_redact_url_hides_userinfo() -> None:
    assert redact_url("https://robot:secret@m.example.test/v2") == "https://***@m.example.test/v2"
    assert redact_url("https://m.example.test") == "https://m.example.test"


@pytest.mark.parametrize(
    ("host", "keys"),
    [
        ("docker.io", ("registry-1.docker.io", "docker.io")),
        ("registry-1.docker.io", ("registry-1.docker.io", "docker.io")),
        ("quay.io", ("quay.io",)),
    ],
)
def test_config_hosts_order(host: str, keys: tuple[str, ...]) -> None:
    assert config_hosts(host) == keys
