"""The sandbox registry: a real docker-registry on loopback with htpasswd auth and TLS."""

from __future__ import annotations

import base64
import http.client
import os
import shutil
import ssl
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from sandbox.registry import (
    USERNAME,
    Registry,
    RegistryError,
    check_registry_requirements,
    start_registry,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    """Start one registry for the module on a free port; skip without root or docker-registry."""
    _skip_unless_available()
    started = start_registry(tmp_path_factory.mktemp("registry"))
    try:
        yield started
    finally:
        started.stop()


def _skip_unless_available() -> None:
    if os.geteuid() != 0:
        pytest.skip("the sandbox registry tests run as root, as scripts/setup.sh does")
    try:
        check_registry_requirements()
    except RegistryError as error:
        pytest.skip(f"sandbox registry unavailable: {error}")


def get_v2(
    registry: Registry,
    *,
    context: ssl.SSLContext | None = None,
    credentials: tuple[str, str] | None = None,
) -> int:
    """Send ``GET /v2/`` to the registry and return the HTTP status."""
    if context is None:
        context = ssl.create_default_context(cafile=registry.ca_file)
    headers = {}
    if credentials is not None:
        token = base64.b64encode(":".join(credentials).encode()).decode()
        headers["Authorization"] = f"Basic {token}"
    connection = http.client.HTTPSConnection("127.0.0.1", registry.port, timeout=5,
                                             context=context)
    try:
        connection.request("GET", "/v2/", headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def test_anonymous_request_gets_401(registry: Registry) -> None:
    assert get_v2(registry) == 401


def test_basic_auth_gets_200(registry: Registry) -> None:
    status = get_v2(registry, credentials=(registry.username, registry.password()))

    assert status == 200


def test_wrong_password_gets_401(registry: Registry) -> None:
    status = get_v2(registry, credentials=(registry.username, registry.password() + "x"))

    assert status == 401


def test_tls_fails_without_ca(registry: Registry) -> None:
    with pytest.raises(ssl.SSLCertVerificationError):
        get_v2(registry, context=ssl.create_default_context())


def test_certificate_matches_localhost(registry: Registry) -> None:
    context = ssl.create_default_context(cafile=registry.ca_file)
    connection = http.client.HTTPSConnection("localhost", registry.port, timeout=5,
                                             context=context)
    try:
        connection.request("GET", "/v2/")
        status = connection.getresponse().status
    finally:
        connection.close()

    assert status == 401


def test_state_and_file_modes(registry: Registry) -> None:
    loaded = Registry.load(registry.directory)
    directory = Path(registry.directory)

    assert loaded.url == f"https://127.0.0.1:{registry.port}"
    assert loaded.host == f"127.0.0.1:{registry.port}"
    assert loaded.username == USERNAME
    assert loaded.pid == registry.pid
    assert loaded.is_running()
    for name in ("password", "ca.key", "server.key", "htpasswd", "config.yml"):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, name
    assert f"addr: 127.0.0.1:{registry.port}\n" in Path(registry.config_file).read_text()


def test_password_not_in_state_or_config(registry: Registry) -> None:
    password = registry.password()
    directory = Path(registry.directory)

    assert len(password) >= 24
    assert password not in (directory / "registry.json").read_text()
    assert password not in (directory / "config.yml").read_text()
    assert password not in (directory / "htpasswd").read_text()


def test_second_start_rejected_while_running(registry: Registry) -> None:
    with pytest.raises(RegistryError, match="still runs"):
        start_registry(registry.directory)


def test_fixed_port_taken_rejected(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match=f"port {registry.port} on 127.0.0.1 is taken"):
        start_registry(tmp_path / "other", port=registry.port)

    assert not (tmp_path / "other").exists()


def test_stop_ends_process(tmp_path: Path) -> None:
    _skip_unless_available()
    started = start_registry(tmp_path / "registry")
    loaded = Registry.load(started.directory)

    loaded.stop()
    started.stop()  # reaps the child; the process is already gone

    assert not started.is_running()
    assert not Path(f"/proc/{started.pid}").exists()
    assert loaded.status()["answering"] is False


def test_restart_keeps_ca_and_password(tmp_path: Path) -> None:
    _skip_unless_available()
    directory = tmp_path / "registry"
    first = start_registry(directory)
    password = first.password()
    ca = Path(first.ca_file).read_bytes()
    first.stop()

    second = start_registry(directory)
    try:
        status = get_v2(second, credentials=(second.username, password))

        assert second.password() == password
        assert Path(second.ca_file).read_bytes() == ca
        assert status == 200
    finally:
        second.stop()


def test_missing_credential_file_renews_all(tmp_path: Path) -> None:
    _skip_unless_available()
    directory = tmp_path / "registry"
    first = start_registry(directory)
    password = first.password()
    first.stop()
    (directory / "server.key").unlink()

    second = start_registry(directory)
    try:
        assert second.password() != password
        assert get_v2(second, credentials=(second.username, password)) == 401
    finally:
        second.stop()


def test_requirements_name_the_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shutil, "which", lambda _tool: None)

    with pytest.raises(RegistryError, match="apt-get install docker-registry"):
        check_registry_requirements()
