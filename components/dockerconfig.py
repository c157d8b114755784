"""The ``.dockerconfigjson`` payload of a pull Secret, byte for byte as kubectl writes it.

``kubectl create secret docker-registry`` marshals Go structs with
``encoding/json`` (kubectl pkg/cmd/create/create_secret_docker.go), so the
payload is compact, keeps the struct field order, omits empty fields, sorts
servers, and escapes strings the Go way. Tools that compare Secrets byte for
byte, or registries that read ``auth``, then see exactly what kubectl makes.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from components.hosts import (
    DOCKER_HUB,
    DOCKER_HUB_ENDPOINT_HOST,
    DOCKER_HUB_LEGACY,
    HostError,
    check_host,
)

DOCKER_HUB_SERVER = "https://index.docker.io/v1/"
"""kubectl's default ``--docker-server``, and the key kubelet's keyring reads for Docker Hub."""

_DOCKER_HUB_NAMES = frozenset({DOCKER_HUB, DOCKER_HUB_LEGACY, DOCKER_HUB_ENDPOINT_HOST})
_API_ROOT_PATHS = frozenset({"", "/", "/v1", "/v1/", "/v2", "/v2/"})
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")

# Go's encoding/json escapes <, > and & (HTMLEscape is on by default in
# json.Marshal) and U+2028/U+2029, which JavaScript treats as line ends.
_GO_EXTRA_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}


@dataclass(frozen=True)
class DockerCredential:
    """One registry login: the ``--docker-server``, ``--docker-username`` and friends of kubectl."""

    server: str
    username: str
    password: str
    email: str = ""


def normalize_server(server: str) -> str:
    """Return the auths key for a registry: ``host[:port]``, or kubectl's Docker Hub key.

    A scheme and an API root path (``/``, ``/v1/``, ``/v2/``) are dropped.
    Every name of Docker Hub becomes ``https://index.docker.io/v1/``, the key
    that kubelet reads for Docker Hub images. Raises ValueError for a path
    below the root, because kubelet would then send the credentials only for
    images under that path.
    """
    rest = server
    if "://" in rest:
        scheme, rest = rest.split("://", 1)
        if scheme.lower() not in ("http", "https"):
            raise ValueError(f"server {server!r} has scheme {scheme!r}; use host[:port]")
    host, slash, path = rest.partition("/")
    if slash + path not in _API_ROOT_PATHS:
        raise ValueError(
            f"server {server!r} has the path {slash + path!r}; give the registry as host[:port]"
        )
    if host in _DOCKER_HUB_NAMES:
        return DOCKER_HUB_SERVER
    try:
        check_host(host)
    except HostError as error:
        raise ValueError(f"server {server!r}: host {error.message}") from None
    return host


def go_json_string(text: str) -> str:
    """Encode ``text`` as Go's ``json.Marshal`` does (Go 1.22 and later), quotes included.

    Go 1.22 writes backspace and form feed as ``\\b`` and ``\\f``; older
    releases wrote ``\\u0008`` and ``\\u000c``. Raises ValueError for a string
    that is not valid Unicode (a lone surrogate), which Go would replace.
    """
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the value is not valid Unicode text") from None
    # Python writes ", \\, \n, \r, \t, \b, \f and \u00XX (lower-case hex) as Go does.
    encoded = json.dumps(text, ensure_ascii=False)
    for char, escape in _GO_EXTRA_ESCAPES.items():
        encoded = encoded.replace(char, escape)
    return encoded


def _entry(credential: DockerCredential) -> str:
    """Encode one auths entry with Go's field order: username, password, email, auth."""
    if not credential.username or not credential.password:
        raise ValueError(f"the credentials for {credential.server} need a username and a password")
    if ":" in credential.username:
        # The auth field joins username and password with ':', and readers
        # split at the first ':', so a colon in the username corrupts both.
        raise ValueError(
            f"the username for {credential.server} contains ':', which auth cannot hold"
        )
    basic = f"{credential.username}:{credential.password}".encode()
    fields = [
        ("username", credential.username),
        ("password", credential.password),
        ("email", credential.email),
        ("auth", base64.b64encode(basic).decode("ascii")),
    ]
    parts = [f"{go_json_string(name)}:{go_json_string(value)}" for name, value in fields if value]
    return "{" + ",".join(parts) + "}"


def dockerconfigjson_entries(credentials: Sequence[DockerCredential]) -> str:
    """Return the compact ``{"auths":{...}}`` JSON for several registries.

    Servers are normalized with :func:`normalize_server` and sorted by their
    UTF-8 bytes, as Go sorts map keys. Raises ValueError for invalid
    credentials or two credentials for the same server.
    """
    entries: dict[str, str] = {}
    for credential in credentials:
        server = normalize_server(credential.server)
        if server in entries:
            raise ValueError(f"two credentials are given for the server {server}")
        entries[server] = _entry(credential)
    ordered = sorted(entries, key=lambda server: server.encode("utf-8"))
    body = ",".join(f"{go_json_string(server)}:{entries[server]}" for server in ordered)
    return '{"auths":{' + body + "}}"


def dockerconfigjson(server: str, username: str, password: str, email: str = "") -> str:
    """Return the ``.dockerconfigjson`` payload that kubectl writes for one registry.

    ``email`` is left out when empty, as kubectl's ``omitempty`` does.
    """
    return dockerconfigjson_entries([DockerCredential(server, username, password, email)])


def pull_secret_manifest(name: str, namespace: str | None, payload: str) -> dict[str, Any]:
    """Build a ``kubernetes.io/dockerconfigjson`` Secret manifest holding ``payload``.

    The keys follow kubectl's JSON output order. ``namespace`` may be None or
    empty to leave it to ``kubectl apply``. Raises ValueError for a name that
    is not a DNS-1123 subdomain or a namespace that is not a DNS-1123 label.
    """
    if len(name) > 253 or not _DNS_SUBDOMAIN.fullmatch(name):
        raise ValueError(f"Secret name {name!r} is not a DNS-1123 subdomain")
    metadata: dict[str, str] = {"name": name}
    if namespace:
        if len(namespace) > 63 or not _DNS_LABEL.fullmatch(namespace):
            raise ValueError(f"namespace {namespace!r} is not a DNS-1123 label")
        metadata["namespace"] = namespace
    return {
        "kind": "Secret",
        "apiVersion": "v1",
        "metadata": metadata,
        "data": {".dockerconfigjson": base64.b64encode(payload.encode("utf-8")).decode("ascii")},
        "type": "kubernetes.io/dockerconfigjson",
    }
