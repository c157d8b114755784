"""Registry hosts and endpoint URLs, checked and normalized the way K3s and containerd read them.

Mirror keys, ``configs`` keys and endpoint hosts share one grammar, the domain
part of an image reference, and K3s normalizes endpoints before it compares
them, so validation, rendering and ``explain`` all take those rules from here.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from dataclasses import dataclass

from components.model import quote_key

DOCKER_HUB = "docker.io"
"""The registry name that image references without a registry normalize to."""

DOCKER_HUB_ENDPOINT_HOST = "registry-1.docker.io"
"""The host that serves Docker Hub's registry API, and so its default endpoint."""

DOCKER_HUB_LEGACY = "index.docker.io"
"""Docker Hub's legacy name; image references rewrite it to ``docker.io``."""

DOCKER_HUB_ALIASES = (DOCKER_HUB_LEGACY, DOCKER_HUB_ENDPOINT_HOST, "registry.hub.docker.com")
"""Other names of Docker Hub that people use as mirror keys by mistake."""

# Domain grammar of github.com/distribution/reference (regexp.go): labels of
# letters, digits and inner hyphens, joined by dots, with an optional port.
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?")
_PORT = re.compile(r"[0-9]+")
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cn", "Zs", "Zl", "Zp"})
_ASCII_INVISIBLE = re.compile(r"[\x00-\x20\x7f]")
"""The ASCII characters in those categories: controls, space and DEL."""


class HostError(ValueError):
    """A host, key or endpoint that cannot be used, with what to write instead."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


def describe_character(char: str) -> str:
    """Name a character so that an invisible one can be found: ``U+00A0 (NO-BREAK SPACE)``."""
    name = unicodedata.name(char, "unnamed character")
    return f"U+{ord(char):04X} ({name})"


def find_invisible(text: str) -> str | None:
    """Return the first whitespace, control, format (such as a BOM) or unassigned character."""
    if text.isascii():
        match = _ASCII_INVISIBLE.search(text)
        return match.group(0) if match else None
    for char in text:
        if unicodedata.category(char) in _INVISIBLE_CATEGORIES:
            return char
    return None


def split_port(host: str) -> tuple[str, str | None]:
    """Split ``host[:port]`` into the name and the port text (None without a port)."""
    name, colon, port = host.rpartition(":")
    if not colon:
        return host, None
    return name, port


def check_host(host: str) -> None:
    """Raise :class:`HostError` unless ``host`` is a valid ``host[:port]``.

    The rules are those of an image reference's domain (distribution/reference),
    plus DNS limits: labels of at most 63 characters, names of at most 253, and
    ports from 1 to 65535. IPv6 literals are rejected.
    """
    if host == "":
        raise HostError("is empty")
    invisible = find_invisible(host)
    if invisible is not None:
        raise HostError(
            f"contains the invisible or whitespace character {describe_character(invisible)}",
            "retype the name without it",
        )
    if host.startswith("[") or (host.count(":") > 1 and _is_ipv6(host)):
        # containerd 1.x reads hosts.toml with go-toml v1, which cannot parse a
        # table key such as [host."https://[fd00::1]:5000"]; containerd 2.0
        # moved to go-toml v2. Docker reference grammar before
        # distribution/reference v0.5.0 had no IPv6 form at all.
        raise HostError(
            "is an IPv6 literal, which K3s releases that ship containerd 1.x cannot use "
            "as a mirror key or endpoint host",
            "give the registry a DNS name, or use its IPv4 address",
        )
    name, port = split_port(host)
    if port is not None:
        _check_port(port)
    _check_name(name)


def _is_ipv6(text: str) -> bool:
    try:
        ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return True


def _check_port(port: str) -> None:
    if not _PORT.fullmatch(port):
        raise HostError(f"has an invalid port {port!r}", "write the port as digits, e.g. :5000")
    if not 1 <= int(port) <= 65535:
        raise HostError(f"has port {port}, outside 1-65535")


def _check_name(name: str) -> None:
    if name == "":
        raise HostError("has a port but no host name")
    if not name.isascii():
        raise HostError(
            "contains non-ASCII characters, which image references do not allow",
            "write an internationalized name in its punycode form, xn--...",
        )
    if len(name) > 253:
        raise HostError(f"is {len(name)} characters long; a host name has at most 253")
    for label in name.split("."):
        if label == "":
            raise HostError("has an empty label (two dots in a row, or a leading or trailing dot)")
        if len(label) > 63:
            raise HostError(f"has a label of {len(label)} characters; DNS allows at most 63")
        if not _LABEL.fullmatch(label):
            raise HostError(
                f"has an invalid label {label!r}",
                "use letters, digits and inner hyphens only",
            )


def check_registry_key(key: str) -> None:
    """Raise :class:`HostError` unless ``key`` can be a ``mirrors`` or ``configs`` key.

    Keys are ``host[:port]`` or ``"*"``. The error hint names the key to write
    instead where one can be derived, e.g. the key without its scheme.
    """
    if key == "*":
        return
    if key == "":
        raise HostError(
            "is empty, and an empty key matches no image",
            f"image names without a registry normalize to {DOCKER_HUB}, so key the entry "
            f"{DOCKER_HUB!r}; use '*' for every registry",
        )
    stripped = key.strip()
    if stripped != key and stripped and find_invisible(stripped) is None:
        edge = key[0] if key[0] != stripped[0] else key[-1]
        raise HostError(
            f"has leading or trailing whitespace, {describe_character(edge)}",
            f"write {stripped!r}",
        )
    if "://" in key:
        host = key.split("://", 1)[1].split("/", 1)[0]
        raise HostError(
            "contains a URL scheme; keys are host[:port] only",
            f"write {host!r}, and put the URL under endpoint",
        )
    if "/" in key:
        host = key.split("/", 1)[0]
        raise HostError(
            "contains a path; keys are host[:port] only",
            f"write {host!r}; to map repositories to another path, use rewrite",
        )
    check_host(key)


def is_localhost(host: str) -> bool:
    """Tell whether ``host[:port]`` is localhost or a loopback IP (containerd's IsLocalhost)."""
    name, _ = split_port(host)
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def endpoint_host(host: str) -> str:
    """Return the host that K3s connects to for a registry host (containerd's DefaultHost).

    containerd maps ``docker.io`` to ``registry-1.docker.io``; other hosts stay.
    """
    return DOCKER_HUB_ENDPOINT_HOST if host == DOCKER_HUB else host


def default_endpoint(registry: str) -> str:
    """Return the default endpoint that containerd tries last for ``registry``.

    K3s (pkg/agent/containerd/config.go, normalizeEndpointAddress) uses http
    for localhost or a loopback IP on a port other than 443, and https
    otherwise, with ``docker.io`` mapped to ``registry-1.docker.io``.
    """
    _, port = split_port(registry)
    scheme = "http" if is_localhost(registry) and port not in (None, "443") else "https"
    return f"{scheme}://{endpoint_host(registry)}/v2"


def config_hosts(host: str) -> tuple[str, ...]:
    """Return the ``configs`` keys K3s reads for an endpoint host, in lookup order.

    K3s's configForHost tries the DefaultHost form first, so an endpoint on
    ``registry-1.docker.io`` (or ``docker.io``) reads ``configs."registry-1.docker.io"``
    and then ``configs."docker.io"``.
    """
    if host in (DOCKER_HUB, DOCKER_HUB_ENDPOINT_HOST):
        return (DOCKER_HUB_ENDPOINT_HOST, DOCKER_HUB)
    return (host,)


API_ROOT_PATHS = ("", "/", "/v2", "/v2/")
"""Endpoint paths that mean the registry API root; any other path replaces ``/v2``."""


@dataclass(frozen=True)
class Endpoint:
    """One endpoint URL, split into the parts that K3s uses."""

    url: str
    scheme: str
    host: str
    path: str

    @property
    def is_api_root(self) -> bool:
        """Tell whether the path is the API root, so that no ``override_path`` is set."""
        return self.path in API_ROOT_PATHS

    @property
    def normalized(self) -> str:
        """The URL as K3s compares endpoints: lower-case scheme, DefaultHost, root as ``/v2``."""
        path = "/v2" if self.is_api_root else self.path
        return f"{self.scheme}://{endpoint_host(self.host)}{path}"


def redact_url(url: str) -> str:
    """Replace the userinfo of a URL with ``***`` so that the URL can appear in a message."""
    scheme, separator, rest = url.partition("://")
    if not separator:
        return url
    authority, slash, path = rest.partition("/")
    if "@" not in authority:
        return url
    return f"{scheme}://***@{authority.rpartition('@')[2]}{slash}{path}"


@functools.lru_cache(maxsize=16384)
def parse_endpoint(url: str) -> Endpoint:
    """Parse an endpoint URL, or raise :class:`HostError` saying what to write instead.

    An endpoint is ``http://`` or ``https://``, a ``host[:port]`` and an
    optional path. Userinfo, query and fragment are rejected because K3s would
    pass them on, and credentials belong under ``configs``.
    """
    invisible = find_invisible(url)
    if invisible is not None:
        raise HostError(
            f"contains the invisible or whitespace character {describe_character(invisible)}",
            "retype the URL without it",
        )
    if "://" not in url:
        raise HostError(
            "has no scheme; K3s needs http:// or https://",
            f"write 'https://{url}', or 'http://{url}' for a plain-HTTP registry",
        )
    scheme, rest = url.split("://", 1)
    if scheme.lower() not in ("http", "https"):
        raise HostError(f"has scheme {scheme!r}; only http and https are supported")
    for mark, part in (("?", "a query"), ("#", "a fragment")):
        if mark in rest:
            raise HostError(f"has {part} ({mark}...), which registry endpoints do not take")
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        host = authority.rpartition("@")[2]
        raise HostError(
            "contains credentials; K3s sends none from the URL",
            f"write '{scheme}://{host}{slash}{path}' and put the credentials under "
            f"configs.{quote_key(host)}.auth",
        )
    try:
        check_host(authority)
    except HostError as error:
        raise HostError(f"host {error.message}", error.hint) from None
    return Endpoint(url=url, scheme=scheme.lower(), host=authority, path=slash + path)
