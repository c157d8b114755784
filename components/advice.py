"""Warnings about a valid registries.yaml whose effect on K3s differs from what it seems to say.

Each rule compares entries with each other (a ``configs`` key with the
endpoint hosts, an endpoint with the registry's default endpoint), so the
rules run only on a file without errors. Every rule names the fix, and none
fires on a file that works as written.
"""

from __future__ import annotations

from collections.abc import Iterator

from components.hosts import (
    DOCKER_HUB,
    DOCKER_HUB_ALIASES,
    DOCKER_HUB_ENDPOINT_HOST,
    DOCKER_HUB_LEGACY,
    Endpoint,
    default_endpoint,
    endpoint_host,
    is_localhost,
    parse_endpoint,
)
from components.model import WILDCARD, Mirror, Registries, quote_key
from components.problems import Problem, Severity


def find_warnings(registries: Registries) -> list[Problem]:
    """Return every warning for a validated model, mirrors first, then configs."""
    warnings: list[Problem] = []
    for key, mirror in registries.mirrors.items():
        warnings.extend(_mirror_warnings(registries, key, mirror))
    endpoints = _endpoints_by_host(registries)
    for key in registries.configs:
        warnings.extend(_config_warnings(registries, key, endpoints.get(key, [])))
    return warnings


def _warning(path: str, message: str, hint: str = "") -> Problem:
    return Problem(path, message, hint, Severity.WARNING)


def endpoints_of(mirror: Mirror) -> list[Endpoint]:
    """Parse the endpoints of a validated mirror."""
    return [parse_endpoint(url) for url in mirror.endpoints]


def redundant_endpoints(key: str, mirror: Mirror) -> list[tuple[int, str]]:
    """List the endpoints that rendering drops, as (index, reason) pairs.

    A reason is ``"default"`` for the registry's own default endpoint, which
    containerd tries last anyway, and ``"duplicate"`` for an endpoint that
    normalizes to an earlier one. K3s compares endpoints after normalizing
    them (pkg/agent/containerd/config.go, normalizeEndpointAddress), so
    ``https://host`` and ``https://host/v2`` are the same endpoint.
    """
    default = None if key == WILDCARD else default_endpoint(key)
    last = len(mirror.endpoints) - 1
    seen: set[str] = set()
    dropped: list[tuple[int, str]] = []
    for index, endpoint in enumerate(endpoints_of(mirror)):
        normalized = endpoint.normalized
        if normalized in seen:
            dropped.append((index, "duplicate"))
        elif normalized == default and index != last:
            # Listed last, it is kept: K3s then treats it as the default
            # endpoint, and on a node started with
            # --disable-default-registry-endpoint it stays the route upstream.
            dropped.append((index, "default"))
        seen.add(normalized)
    return dropped


# ------------------------------------------------------------------ mirrors


def _mirror_warnings(registries: Registries, key: str, mirror: Mirror) -> Iterator[Problem]:
    path = f"mirrors.{quote_key(key)}"
    yield from _mirror_key_warnings(path, key)
    if not mirror.endpoints:
        # An entry without endpoints is how K3s's embedded registry mirror
        # (--embedded-registry) learns which registries to share between
        # nodes, so it is kept and only rewrites without an endpoint warn.
        if mirror.rewrite:
            yield _warning(
                path,
                "has rewrites but no endpoint, so the rewrites apply to no mirror endpoint",
                "add endpoint: [https://...], or remove the rewrites",
            )
        return
    yield from _redundancy_warnings(path, key, mirror)
    for index, endpoint in enumerate(endpoints_of(mirror)):
        endpoint_path = f"{path}.endpoint[{index}]"
        yield from _path_warning(endpoint_path, endpoint)
        yield from _plain_http_warning(registries, endpoint_path, endpoint)


def _mirror_key_warnings(path: str, key: str) -> Iterator[Problem]:
    if key == DOCKER_HUB_LEGACY:
        yield _warning(
            path,
            f"is never used: image names on {DOCKER_HUB_LEGACY} normalize to {DOCKER_HUB} "
            "before containerd looks up a mirror",
            f"key the mirror {DOCKER_HUB!r}",
        )
    elif key in DOCKER_HUB_ALIASES:
        yield _warning(
            path,
            f"applies only to image names that spell out {key}; Docker Hub images "
            f"(nginx, library/nginx, {DOCKER_HUB}/...) are looked up as {DOCKER_HUB}",
            f"key the mirror {DOCKER_HUB!r}",
        )
    if key != key.lower():
        yield _warning(
            path,
            "contains upper-case letters; containerd compares mirror keys with the image's "
            "registry name exactly, and image names use lower case",
            f"write {key.lower()!r}",
        )


def _redundancy_warnings(path: str, key: str, mirror: Mirror) -> Iterator[Problem]:
    for index, reason in redundant_endpoints(key, mirror):
        url = mirror.endpoints[index]
        endpoint_path = f"{path}.endpoint[{index}]"
        if reason == "duplicate":
            yield _warning(
                endpoint_path,
                f"{url} is listed more than once; some K3s releases then write duplicate "
                "hosts.toml tables that containerd rejects, so no endpoint is used",
                "the rendered file keeps only the first occurrence",
            )
        else:
            yield _warning(
                endpoint_path,
                f"{url} is the default endpoint of {key}, which containerd tries last anyway; "
                "listed before other endpoints it is tried twice, first in this position",
                "the rendered file leaves it out, so it is tried once, after the mirrors"
                + (" and without rewrites" if mirror.rewrite else ""),
            )


def _path_warning(path: str, endpoint: Endpoint) -> Iterator[Problem]:
    if endpoint.is_api_root:
        return
    yield _warning(
        path,
        f"{endpoint.url} has the path {endpoint.path!r}, which replaces the registry API root "
        "/v2 (containerd override_path); it is not a repository prefix",
        "to pull repositories from a sub-path, point the endpoint at the host and add a "
        'rewrite such as "^(.*)$": "prefix/$1"',
    )


def _plain_http_warning(registries: Registries, path: str, endpoint: Endpoint) -> Iterator[Problem]:
    if endpoint.scheme != "http" or endpoint.host in registries.mirrors:
        return
    if default_endpoint(endpoint.host).startswith("http://"):
        # containerd already uses plain HTTP for localhost on a port other than 443.
        return
    host = endpoint.host
    yield _warning(
        path,
        f"{host} is reached over plain HTTP only as a mirror here; images named "
        f"{host}/... have no mirror entry, so containerd pulls them over HTTPS and fails",
        f'add mirrors."{host}" with endpoint: ["http://{host}"]',
    )


# ------------------------------------------------------------------ configs


def _config_warnings(
    registries: Registries, key: str, endpoints: list[Endpoint]
) -> Iterator[Problem]:
    """Warn about one ``configs`` entry; ``endpoints`` are all endpoints on its host."""
    path = f"configs.{quote_key(key)}"
    config = registries.configs[key]
    mirror = registries.mirrors.get(key)
    if key == DOCKER_HUB and config.auth is not None:
        yield _docker_hub_credentials(registries, path, mirror)
    elif mirror is not None and mirror.endpoints and key != WILDCARD:
        yield from _config_under_mirror_key(registries, path, key, mirror)
    elif key in (DOCKER_HUB_LEGACY, "registry.hub.docker.com") and not endpoints:
        yield _warning(
            path,
            f"is used only for endpoints on {key}, and no endpoint is on it; Docker Hub's "
            f"default endpoint is {DOCKER_HUB_ENDPOINT_HOST}",
            f"key Docker Hub credentials {DOCKER_HUB_ENDPOINT_HOST!r}",
        )
    if config.tls is not None:
        yield from _tls_over_http(path, key, endpoints)


def _endpoints_by_host(registries: Registries) -> dict[str, list[Endpoint]]:
    hosts: dict[str, list[Endpoint]] = {}
    for mirror in registries.mirrors.values():
        for endpoint in endpoints_of(mirror):
            hosts.setdefault(endpoint.host, []).append(endpoint)
            if endpoint_host(endpoint.host) == DOCKER_HUB_ENDPOINT_HOST:
                hosts.setdefault(DOCKER_HUB, []).append(endpoint)
    return hosts


def _docker_hub_credentials(registries: Registries, path: str, mirror: Mirror | None) -> Problem:
    """Warn that credentials under ``configs."docker.io"`` are never sent.

    containerd's CRI plugin looks credentials up by the host it connects to
    (``Registry.Configs[host]`` in its registryHosts), and K3s connects to
    Docker Hub as ``registry-1.docker.io``, so no connection uses this key.
    """
    hosts = [endpoint.host for endpoint in endpoints_of(mirror)] if mirror is not None else []
    missing = [
        host
        for host in dict.fromkeys(hosts)
        if endpoint_host(host) != DOCKER_HUB_ENDPOINT_HOST and host not in registries.configs
    ]
    hint = f"key Docker Hub credentials {DOCKER_HUB_ENDPOINT_HOST!r}"
    if missing:
        hint = f'move credentials for the mirror to configs."{missing[0]}"; ' + hint
    where = f", not {', '.join(missing)}" if missing else ""
    return _warning(
        path,
        "containerd looks credentials up by the host it connects to, and it reaches Docker Hub "
        f"as {DOCKER_HUB_ENDPOINT_HOST}{where}, so these credentials are never sent",
        hint,
    )


def _config_under_mirror_key(
    registries: Registries, path: str, key: str, mirror: Mirror
) -> Iterator[Problem]:
    """Warn when a ``configs`` key names a mirror but none of that mirror's endpoint hosts.

    containerd looks ``configs`` up by the host of each endpoint, so such an
    entry applies only to the registry's default endpoint, which is tried
    last. Endpoint hosts that already have their own entry are fine.
    """
    own_hosts = {key, endpoint_host(key)}
    hosts = [endpoint.host for endpoint in endpoints_of(mirror)]
    if any(endpoint_host(host) in own_hosts for host in hosts):
        return
    missing = [host for host in dict.fromkeys(hosts) if host not in registries.configs]
    if not missing:
        return
    names = ", ".join(missing)
    hint = f'move the entry to configs."{missing[0]}"'
    yield _warning(
        path,
        f"containerd looks configs up by endpoint host, so this entry is used only for the "
        f"default endpoint {default_endpoint(key)}, not for the mirror endpoints on {names}",
        hint,
    )


def _tls_over_http(path: str, key: str, endpoints: list[Endpoint]) -> Iterator[Problem]:
    if not endpoints or any(endpoint.scheme == "https" for endpoint in endpoints):
        return
    if is_localhost(key) and default_endpoint(key).startswith("http://"):
        reach = "so they have no effect"
    else:
        default = default_endpoint(key)
        reach = f"so they apply only to direct pulls through the default endpoint {default}"
    yield _warning(
        f"{path}.tls",
        f"every endpoint on {key} uses http://, and TLS settings apply only to HTTPS, {reach}",
        "switch the endpoints to https:// for these settings to take effect, or remove tls",
    )
