"""Explanation of one image pull: the endpoints containerd tries, and what it requests at each.

The lookup reproduces K3s's hosts.toml generation (k3s-io/k3s
pkg/agent/containerd/config.go, getHostConfigs) and containerd's choice of a
hosts directory (remotes/docker/config/hosts.go, hostPaths: the registry's own
directory, else ``_default``), because that is what decides a pull, not the
order of entries in registries.yaml.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from components.hosts import (
    DOCKER_HUB,
    DOCKER_HUB_ENDPOINT_HOST,
    DOCKER_HUB_LEGACY,
    HostError,
    check_host,
    config_hosts,
    default_endpoint,
    endpoint_host,
    parse_endpoint,
)
from components.model import WILDCARD, Registries, RegistryConfig, quote_key
from components.rewrite import matching_rewrites

_DEFAULT_DIRECTORY = "_default"
"""The hosts directory that K3s writes for the ``"*"`` mirror."""

# github.com/distribution/reference grammar (regexp.go).
_PATH_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}")
_IDENTIFIER = re.compile(r"[a-f0-9]{64}")
_MAX_NAME_LENGTH = 255


@dataclass(frozen=True)
class ImageReference:
    """An image reference normalized as containerd's CRI plugin does (distribution/reference)."""

    registry: str
    repository: str
    tag: str | None
    digest: str | None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def parse_image(reference: str) -> ImageReference:
    """Normalize an image reference: ``nginx`` becomes ``docker.io/library/nginx:latest``.

    Follows ParseDockerRef from github.com/distribution/reference: a first
    component without a dot or colon that is not ``localhost`` and has no
    upper-case letter is a Docker Hub path, ``index.docker.io`` becomes
    ``docker.io``, and a one-component Docker Hub name gets ``library/``.
    Raises ValueError for an invalid reference.
    """
    if reference == "" or reference != reference.strip():
        raise ValueError("the image reference is empty or has surrounding whitespace")
    if _IDENTIFIER.fullmatch(reference):
        raise ValueError("a 64-character hex string is an image ID, not a reference")
    name, at, digest = reference.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise ValueError(f"invalid digest {digest!r}; write @sha256:<64 hex characters>")
    tag = None
    colon = name.rfind(":")
    if colon > name.rfind("/"):
        name, tag = name[:colon], name[colon + 1 :]
        if not _TAG.fullmatch(tag):
            raise ValueError(f"invalid tag {tag!r}")
    registry, repository = _split_registry(name)
    _check_image_name(registry, repository)
    if tag is None and not at:
        tag = "latest"
    return ImageReference(registry, repository, tag, digest if at else None)


def _split_registry(name: str) -> tuple[str, str]:
    first, slash, rest = name.partition("/")
    is_domain = (
        any(char in first for char in ".:") or first == "localhost" or first.lower() != first
    )
    if not slash or not is_domain:
        registry, repository = DOCKER_HUB, name
    else:
        registry, repository = first, rest
    if registry == DOCKER_HUB_LEGACY:
        registry = DOCKER_HUB
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    return registry, repository


def _check_image_name(registry: str, repository: str) -> None:
    try:
        check_host(registry)
    except HostError as error:
        raise ValueError(f"registry {registry!r} {error.message}") from None
    if repository.lower() != repository:
        raise ValueError(f"repository {repository!r} must be lower case")
    for component in repository.split("/"):
        if not _PATH_COMPONENT.fullmatch(component):
            raise ValueError(
                f"repository {repository!r} has an invalid component {component!r}; "
                "use lower-case letters and digits separated by '.', '_', '__' or '-'"
            )
    if len(registry) + 1 + len(repository) > _MAX_NAME_LENGTH:
        raise ValueError(f"the image name is longer than {_MAX_NAME_LENGTH} characters")


# --------------------------------------------------------- K3s host configs


@dataclass
class _HostEndpoint:
    """One ``[host]`` entry, or the ``server`` default, of a hosts.toml that K3s writes."""

    url: str | None
    """Normalized URL; None for the ``"*"`` default, which is each registry's own."""

    tls_key: str | None
    override_path: bool = False
    rewrite: Mapping[str, str] = field(default_factory=dict)


@dataclass
class _HostConfig:
    default: _HostEndpoint | None
    endpoints: list[_HostEndpoint] = field(default_factory=list)
    from_configs: bool = False


def _tls_key(configs: Mapping[str, RegistryConfig], host: str) -> str | None:
    """Return the ``configs`` key that K3s's configForHost picks for a registry host."""
    return next((key for key in config_hosts(host) if key in configs), None)


def _has_settings(registries: Registries, endpoint: _HostEndpoint | None) -> bool:
    # K3s's endpointHasConfig: an entry survives with override_path, auth, TLS or rewrites.
    if endpoint is None:
        return False
    config = registries.configs.get(endpoint.tls_key) if endpoint.tls_key else None
    has_config = config is not None and (config.auth is not None or config.tls is not None)
    return endpoint.override_path or has_config or bool(endpoint.rewrite)


def host_configs(registries: Registries, disable_default_endpoint: bool) -> dict[str, _HostConfig]:
    """Build the hosts.toml contents that K3s writes, keyed by hosts directory name."""
    hosts: dict[str, _HostConfig] = {}
    for key in registries.configs:
        url = None if key == WILDCARD else default_endpoint(key)
        directory = _DEFAULT_DIRECTORY if key == WILDCARD else key
        hosts[directory] = _HostConfig(_HostEndpoint(url, key), from_configs=True)
    for key, mirror in registries.mirrors.items():
        # K3s looks the mirror key up as written, so "*" never finds the
        # "_default" entry that configs."*" made, and replaces it.
        config = hosts.get(key)
        if config is None:
            config = _new_mirror_config(registries, key, disable_default_endpoint)
        _add_endpoints(registries, config, mirror.endpoints, mirror.rewrite)
        hosts[_DEFAULT_DIRECTORY if key == WILDCARD else key] = config
    return {
        name: config
        for name, config in hosts.items()
        if config.endpoints or _has_settings(registries, config.default)
    }


def _new_mirror_config(
    registries: Registries, key: str, disable_default_endpoint: bool
) -> _HostConfig:
    if disable_default_endpoint:
        return _HostConfig(None)
    if key == WILDCARD:
        return _HostConfig(_HostEndpoint(None, None))
    return _HostConfig(_HostEndpoint(default_endpoint(key), _tls_key(registries.configs, key)))


def _add_endpoints(
    registries: Registries, config: _HostConfig, urls: tuple[str, ...], rewrite: Mapping[str, str]
) -> None:
    seen: set[str] = set()
    for index, url in enumerate(urls):
        endpoint = parse_endpoint(url)
        normalized = endpoint.normalized
        if normalized in seen:
            continue
        seen.add(normalized)
        registry_name = (
            DOCKER_HUB
            if endpoint_host(endpoint.host) == DOCKER_HUB_ENDPOINT_HOST
            else endpoint.host
        )
        entry = _HostEndpoint(
            normalized,
            _tls_key(registries.configs, registry_name),
            override_path=not endpoint.is_api_root,
            rewrite=rewrite,
        )
        is_last = index == len(urls) - 1
        if is_last and config.default is not None and config.default.url == normalized:
            # K3s moves a last endpoint that equals the default into the
            # default slot, so it is tried once, last.
            config.default = entry
        else:
            config.endpoints.append(entry)


# ------------------------------------------------------------- explanation


@dataclass(frozen=True)
class EndpointStep:
    """One endpoint that containerd tries, with what it sends there."""

    url: str
    is_default: bool
    override_path: bool
    repository: str
    """The repository path requested at this endpoint, after any rewrite."""

    rewrite_pattern: str | None
    other_rewrites: tuple[tuple[str, str], ...]
    """Further (pattern, result) pairs that also match; K3s picks one of them at random."""

    credentials_key: str | None
    credentials: str | None
    """The kind of credentials sent, never their values."""

    tls_key: str | None
    tls: tuple[str, ...]
    uses_tls: bool


@dataclass(frozen=True)
class Explanation:
    """The result of :func:`explain`."""

    image: ImageReference
    hosts_directory: str | None
    """The hosts.toml directory containerd uses: the registry, ``_default``, or None."""

    hosts_entry: str | None
    """The registries.yaml entry that made that directory, such as ``mirrors."docker.io"``."""

    steps: tuple[EndpointStep, ...]
    notes: tuple[str, ...]


def explain(
    registries: Registries, image: str, *, disable_default_endpoint: bool = False
) -> Explanation:
    """Explain how a node with this file pulls ``image``.

    ``disable_default_endpoint`` models K3s's
    ``--disable-default-registry-endpoint``. Raises ValueError for an invalid
    image reference.
    """
    reference = parse_image(image)
    hosts = host_configs(registries, disable_default_endpoint)
    directory = reference.registry if reference.registry in hosts else None
    if directory is None and _DEFAULT_DIRECTORY in hosts:
        directory = _DEFAULT_DIRECTORY
    notes: list[str] = []
    if directory is None:
        entries = [(_HostEndpoint(default_endpoint(reference.registry), None), True)]
        notes.append(
            f"no mirror applies to {reference.registry}, so containerd uses its default endpoint"
        )
        if disable_default_endpoint:
            notes.append(
                "--disable-default-registry-endpoint affects only registries with a mirror entry"
            )
    else:
        config = hosts[directory]
        entries = [(entry, False) for entry in config.endpoints]
        if config.default is not None:
            # Rewrites never apply at the default endpoint (K3s documentation,
            # "Default Endpoint Fallback"), and the "*" default is each
            # registry's own default endpoint.
            url = config.default.url or default_endpoint(reference.registry)
            entries.append(
                (_HostEndpoint(url, config.default.tls_key, config.default.override_path), True)
            )
        notes.extend(
            _directory_notes(registries, reference, directory, config, disable_default_endpoint)
        )
    steps = tuple(_step(registries, reference, entry, is_default) for entry, is_default in entries)
    notes.extend(_step_notes(steps))
    return Explanation(
        reference, directory, _entry_name(registries, directory), steps, tuple(notes)
    )


def _entry_name(registries: Registries, directory: str | None) -> str | None:
    if directory is None:
        return None
    if directory == _DEFAULT_DIRECTORY:
        return f"mirrors.{quote_key(WILDCARD)}"
    section = "mirrors" if directory in registries.mirrors else "configs"
    return f"{section}.{quote_key(directory)}"


def _directory_notes(
    registries: Registries,
    reference: ImageReference,
    directory: str,
    config: _HostConfig,
    disable_default_endpoint: bool,
) -> list[str]:
    notes: list[str] = []
    if directory == _DEFAULT_DIRECTORY:
        notes.append(f'no entry is keyed {reference.registry}, so the "*" mirror applies')
    elif WILDCARD in registries.mirrors and reference.registry not in registries.mirrors:
        notes.append(
            f"configs.{quote_key(reference.registry)} makes K3s write a hosts.toml for "
            f'{reference.registry}, so the "*" mirror does not apply to it'
        )
    if disable_default_endpoint and config.default is not None and config.from_configs:
        notes.append(
            "K3s keeps the default endpoint despite --disable-default-registry-endpoint, because "
            f"configs.{quote_key(directory)} exists and K3s reuses the hosts.toml entry it made "
            "for it"
        )
    if config.default is None:
        notes.append("the default endpoint is disabled, so the pull fails if every endpoint fails")
    return notes


def _step(
    registries: Registries, reference: ImageReference, entry: _HostEndpoint, is_default: bool
) -> EndpointStep:
    url = entry.url or default_endpoint(reference.registry)
    endpoint = parse_endpoint(url)
    matches = matching_rewrites(entry.rewrite, reference.repository)
    repository = matches[0][1] if matches else reference.repository
    connection_host = endpoint_host(endpoint.host)
    credentials_config = registries.configs.get(connection_host)
    tls_config = registries.configs.get(entry.tls_key) if entry.tls_key else None
    return EndpointStep(
        url=url,
        is_default=is_default,
        override_path=entry.override_path,
        repository=repository,
        rewrite_pattern=matches[0][0] if matches else None,
        other_rewrites=tuple(matches[1:]),
        credentials_key=connection_host if credentials_config and credentials_config.auth else None,
        credentials=_credentials_kind(credentials_config),
        tls_key=entry.tls_key if tls_config and tls_config.tls else None,
        tls=_tls_summary(tls_config),
        uses_tls=endpoint.scheme == "https",
    )


def _credentials_kind(config: RegistryConfig | None) -> str | None:
    # Same precedence as containerd's ParseAuth: username, identity token, auth.
    auth = config.auth if config else None
    if auth is None:
        return None
    if auth.username is not None:
        return "username and password"
    if auth.identity_token is not None:
        return "identity token"
    if auth.auth is not None:
        return "auth (base64 of username:password)"
    return None


def _tls_summary(config: RegistryConfig | None) -> tuple[str, ...]:
    tls = config.tls if config else None
    if tls is None:
        return ()
    parts: list[str] = []
    if tls.ca_file:
        parts.append(f"CA {tls.ca_file}")
    if tls.cert_file or tls.key_file:
        parts.append(f"client certificate {tls.cert_file} with key {tls.key_file}")
    if tls.insecure_skip_verify:
        parts.append("certificate not verified (insecure_skip_verify)")
    return tuple(parts)


def _step_notes(steps: tuple[EndpointStep, ...]) -> list[str]:
    notes: list[str] = []
    for number, step in enumerate(steps, start=1):
        if step.other_rewrites:
            patterns = ", ".join(
                repr(pattern) for pattern, _ in ((step.rewrite_pattern, ""), *step.other_rewrites)
            )
            notes.append(
                f"endpoint {number}: several rewrites match ({patterns}); K3s keeps rewrites in a "
                "Go map and applies the first match in its random order, so the path can change "
                "from pull to pull"
            )
        if step.tls and not step.uses_tls:
            notes.append(f"endpoint {number} uses http://, so its TLS settings are not used")
    if any(step.credentials for step in steps):
        notes.append(
            "credentials that kubelet passes from a pod's imagePullSecrets take precedence over "
            "configs entries"
        )
    return notes


def format_explanation(explanation: Explanation) -> str:
    """Write an explanation as text for the command line."""
    image = explanation.image
    lines = [f"image: {image}", f"registry: {image.registry}, repository: {image.repository}"]
    if explanation.hosts_directory is None:
        lines.append("hosts.toml: none")
    else:
        lines.append(f"hosts.toml: {explanation.hosts_directory} (from {explanation.hosts_entry})")
    lines.append("endpoints, in the order containerd tries them:")
    for number, step in enumerate(explanation.steps, start=1):
        lines.extend(_format_step(number, step))
    if explanation.notes:
        lines.append("notes:")
        lines.extend(f"  - {note}" for note in explanation.notes)
    return "\n".join(lines) + "\n"


def _format_step(number: int, step: EndpointStep) -> list[str]:
    label = " (default endpoint)" if step.is_default else ""
    if step.override_path:
        label += " (path replaces /v2)"
    lines = [f"  {number}. {step.url}{label}"]
    if step.rewrite_pattern is not None:
        lines.append(f"     repository: {step.repository} (rewrite {step.rewrite_pattern!r})")
    else:
        lines.append(f"     repository: {step.repository}")
    if step.credentials:
        source = quote_key(step.credentials_key or "")
        lines.append(f"     credentials: {step.credentials} from configs.{source}")
    else:
        lines.append("     credentials: none (anonymous)")
    if step.tls and step.uses_tls:
        lines.append(
            f"     tls: {'; '.join(step.tls)} from configs.{quote_key(step.tls_key or '')}"
        )
    elif step.uses_tls:
        lines.append("     tls: system CAs")
    else:
        lines.append("     tls: none (plain HTTP)")
    return lines
