"""Fixtures for integration tests: a moto server and sandbox nodes on loopback."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest
from moto.server import ThreadedMotoServer

from .sandbox_fixtures import nodes, sandbox_nodes

__all__ = ["moto_server", "nodes", "sandbox_nodes"]


@pytest.fixture
def moto_server() -> Iterator[str]:
    """Start an in-process moto server on a free loopback port; yield its URL and stop it.

    moto keeps its state in process-wide backends, which outlive one server,
    so the state is reset through moto's ``/moto-api/reset`` endpoint before
    and after each test.
    """
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    try:
        _reset(url)
        yield url
        _reset(url)
    finally:
        server.stop()


def _reset(url: str) -> None:
    # A POST (data given) to the loopback server started by the fixture.
    reset_url = f"{url}/moto-api/reset"
    with urllib.request.urlopen(reset_url, data=b"", timeout=10) as response:  # noqa: S310
        response.read()
