"""The stack config schema: read, check and type everything the program needs.

All checks run before any resource is registered, so a typo in a stack file
fails the preview with the key named instead of reaching a node. The
``registries`` value is the registries.yaml structure itself and is checked
by :mod:`components.validate`; this module checks everything around it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Literal, cast

from components.model import Registries, SecretText, quote_key
from components.problems import ConfigError, Problem, Severity
from components.validate import check_secret_field, parse_registries

PROJECT = "k3s-registries"
"""The Pulumi project name, and so the namespace of this program's config keys."""

Distribution = Literal["k3s", "rke2"]
Role = Literal["server", "agent"]
DeleteBehaviour = Literal["keep", "remove"]

TOP_LEVEL_KEYS = (
    "distribution",
    "registries",
    "tls",
    "nodes",
    "ssh",
    "rollout",
    "pullSecrets",
    "fingerprintKey",
)
NODE_KEYS = ("name", "host", "port", "role", "user", "privateKey", "hostKey", "healthCheck")
SSH_KEYS = ("user", "privateKey", "bastion", "perDialTimeout", "dialErrorLimit")
BASTION_KEYS = ("host", "port", "user", "privateKey", "hostKey")
ROLLOUT_KEYS = (
    "agentBatchSize",
    "healthTimeout",
    "serverHealthCheck",
    "agentHealthCheck",
    "restart",
    "onDelete",
)
TLS_KEYS = ("ca", "cert", "key")
PULL_SECRET_KEYS = (
    "name",
    "namespaces",
    "registries",
    "patchDefaultServiceAccount",
    "kubeconfig",
    "context",
)

# A node name becomes part of Pulumi resource names and of log lines, so it is
# kept to the characters of a DNS label, like a Kubernetes node name.
NODE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Kubernetes object names and namespaces are DNS-1123 labels or subdomains.
DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
# Destinations that ssh(1) and pulumi-command take without surprises: no
# leading '-' (an ssh option), no '@' and no whitespace.
SSH_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._:%\[\]-]*$")
SSH_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9._-]*\$?$")
DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$")


@dataclass(frozen=True)
class Node:
    """One K3s/RKE2 node reached over SSH, with its per-node overrides."""

    name: str
    host: str
    role: Role
    port: int = 22
    user: str | None = None
    private_key: SecretText | None = None
    host_key: SecretText | None = None
    health_check: str | None = None


@dataclass(frozen=True)
class Bastion:
    """A jump host that SSH connections to the nodes go through."""

    host: str
    port: int = 22
    user: str | None = None
    private_key: SecretText | None = None
    host_key: SecretText | None = None


@dataclass(frozen=True)
class SSHSettings:
    """How to reach the nodes: default user and key, optional bastion."""

    user: str = "root"
    private_key: SecretText | None = None
    bastion: Bastion | None = None
    per_dial_timeout: int = 15
    dial_error_limit: int = 10


@dataclass(frozen=True)
class RolloutSettings:
    """Rollout settings: batch size, health checks and delete behaviour."""

    agent_batch_size: int = 2
    health_timeout: int = 180
    server_health_check: str | None = None
    agent_health_check: str | None = None
    restart: bool = True
    on_delete: DeleteBehaviour = "keep"


@dataclass(frozen=True)
class TLSMaterial:
    """PEM contents to place on the nodes for one registry host."""

    ca: SecretText | None = None
    cert: SecretText | None = None
    key: SecretText | None = None


@dataclass(frozen=True)
class PullSecretSettings:
    """Pull Secret settings: names, namespaces, registries and the cluster to reach."""

    namespaces: tuple[str, ...]
    name: str = "registry-credentials"
    registries: tuple[str, ...] = ()
    patch_default_service_account: bool = False
    kubeconfig: SecretText | None = None
    context: str | None = None


@dataclass(frozen=True)
class DeploymentSettings:
    """Everything one stack deploys, checked and typed."""

    distribution: Distribution
    registries: Registries
    nodes: tuple[Node, ...]
    ssh: SSHSettings = field(default_factory=SSHSettings)
    rollout: RolloutSettings = field(default_factory=RolloutSettings)
    tls: Mapping[str, TLSMaterial] = field(default_factory=dict)
    pull_secrets: PullSecretSettings | None = None
    fingerprint_key: SecretText | None = None
    warnings: tuple[Problem, ...] = ()


def parse_settings(
    values: Mapping[str, object],
    secret_keys: frozenset[str] = frozenset(),
    source: str = "stack config",
) -> DeploymentSettings:
    """Check the program's config values (keys without namespace) and type them.

    ``secret_keys`` names the keys set with ``pulumi config set --secret``. A
    literal secret value under any other key is stored in plain text in the
    stack file, so it gets a warning. Raises :class:`ConfigError` listing every
    problem found, each naming the key as ``k3s-registries:nodes[2].role``.
    """
    reader = _Reader()
    # Keys that a `config:KEY` reference reads are this program's keys too.
    reader.check_keys(values, TOP_LEVEL_KEYS + tuple(sorted(_referenced_config_keys(values))), "")

    distribution = reader.choice(values, "distribution", ("k3s", "rke2"), "", default="k3s")
    registries = reader.registries(values.get("registries"))
    nodes = reader.nodes(values.get("nodes"))
    ssh = reader.ssh(values.get("ssh"))
    rollout = reader.rollout(values.get("rollout"))
    tls = reader.tls(values.get("tls"), registries)
    pull_secrets = reader.pull_secrets(values.get("pullSecrets"), registries)
    fingerprint_key = reader.secret(values, "fingerprintKey", "")

    if fingerprint_key is None and (registries.secret_values() or tls):
        reader.error(
            "fingerprintKey",
            "missing: the masked preview needs a per-stack key to fingerprint secret values",
            'run `pulumi config set --secret fingerprintKey "$(openssl rand -hex 32)"`',
        )
    if reader.errors:
        raise ConfigError(reader.errors, source)

    settings = DeploymentSettings(
        distribution=cast(Distribution, distribution),
        registries=registries,
        nodes=nodes,
        ssh=ssh,
        rollout=rollout,
        tls=tls,
        pull_secrets=pull_secrets,
        fingerprint_key=fingerprint_key,
        warnings=tuple(reader.warnings),
    )
    plain = _warn_plain_secrets(settings, secret_keys)
    return replace(settings, warnings=settings.warnings + tuple(plain))


def key_path(path: str) -> str:
    """Write a config path with the project namespace, as users type it in a stack file."""
    return f"{PROJECT}:{path}" if path else PROJECT


class _Reader:
    """Collects problems while reading the config, so one run reports all of them."""

    def __init__(self) -> None:
        self.errors: list[Problem] = []
        self.warnings: list[Problem] = []

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.errors.append(Problem(key_path(path), message, hint))

    def check_keys(self, values: Mapping[str, object], known: tuple[str, ...], path: str) -> None:
        for name in values:
            if name in known:
                continue
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = f"did you mean `{close[0]}`?" if close else f"known keys: {', '.join(known)}"
            self.error(_join(path, str(name)), "unknown key", hint)

    def mapping(self, value: object, path: str) -> Mapping[str, object] | None:
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.error(path, f"expected a mapping, found {_type_name(value)}")
            return None
        return cast(Mapping[str, object], value)

    def text(
        self, values: Mapping[str, object], name: str, path: str, *, required: bool = False
    ) -> str | None:
        value = values.get(name)
        if value is None:
            if required:
                self.error(_join(path, name), "missing", f"set `{name}`")
            return None
        if not isinstance(value, str):
            self.error(_join(path, name), f"expected a string, found {_type_name(value)}")
            return None
        if not value.strip():
            self.error(_join(path, name), "empty", f"set `{name}` to a value, or remove the key")
            return None
        return value

    def integer(
        self,
        values: Mapping[str, object],
        name: str,
        path: str,
        *,
        default: int,
        low: int,
        high: int,
    ) -> int:
        value = values.get(name, default)
        if isinstance(value, float):
            self.error(_join(path, name), f"expected a whole number, found {value}")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            self.error(_join(path, name), f"expected a whole number, found {_type_name(value)}")
            return default
        if not low <= value <= high:
            self.error(_join(path, name), f"{value} is out of range", f"use {low} to {high}")
            return default
        return value

    def boolean(self, values: Mapping[str, object], name: str, path: str, default: bool) -> bool:
        value = values.get(name, default)
        if not isinstance(value, bool):
            self.error(_join(path, name), f"expected true or false, found {_type_name(value)}")
            return default
        return value

    def choice(
        self,
        values: Mapping[str, object],
        name: str,
        allowed: tuple[str, ...],
        path: str,
        *,
        default: str,
    ) -> str:
        value = values.get(name, default)
        if value not in allowed:
            self.error(
                _join(path, name),
                f"invalid value {value!r}",
                f"use one of: {', '.join(allowed)}",
            )
            return default
        return str(value)

    def secret(self, values: Mapping[str, object], name: str, path: str) -> SecretText | None:
        """Read a value that may be a secret: a string or ``{ref: "<reference>"}``."""
        value = values.get(name)
        if value is None:
            return None
        where = key_path(_join(path, name))
        if value == "":
            self.errors.append(
                Problem(where, "empty", "set a value or a reference such as {ref: env:NAME}")
            )
            return None
        secret, problems = check_secret_field(where, value)
        self.errors.extend(problems)
        return secret

    def registries(self, value: object) -> Registries:
        if value is None:
            self.error(
                "registries", "missing", "set the registries.yaml content under `registries`"
            )
            return Registries()
        try:
            registries, warnings = parse_registries(
                value, allow_references=True, source=key_path("registries")
            )
        except ConfigError as error:
            self.errors.extend(_prefixed(error.problems))
            return Registries()
        self.warnings.extend(_prefixed(warnings))
        return registries

    def nodes(self, value: object) -> tuple[Node, ...]:
        if not isinstance(value, list) or not value:
            self.error(
                "nodes",
                "expected a non-empty list of nodes",
                "list each node with name, host and role",
            )
            return ()
        nodes: list[Node] = []
        seen: set[str] = set()
        for index, item in enumerate(value):
            path = f"nodes[{index}]"
            entry = self.mapping(item, path)
            if entry is None:
                continue
            self.check_keys(entry, NODE_KEYS, path)
            name = self.text(entry, "name", path, required=True)
            host = self.host(entry, path)
            role = ""
            if "role" in entry:
                role = self.choice(entry, "role", ("server", "agent"), path, default="")
            if name is not None and not NODE_NAME.match(name):
                self.error(
                    f"{path}.name",
                    f"invalid node name {name!r}",
                    "use lower-case letters, digits and '-', as in a Kubernetes node name",
                )
            if name is not None and name in seen:
                self.error(
                    f"{path}.name", f"node {name!r} is listed twice", "give each node one entry"
                )
            if name is not None:
                seen.add(name)
            if "role" not in entry:
                self.error(f"{path}.role", "missing", "set `role: server` or `role: agent`")
            if name is None or host is None or role not in ("server", "agent"):
                continue
            nodes.append(
                Node(
                    name=name,
                    host=host,
                    role=cast(Role, role),
                    port=self.integer(entry, "port", path, default=22, low=1, high=65535),
                    user=self.user(entry, path),
                    private_key=self.secret(entry, "privateKey", path),
                    host_key=self.host_key(entry, path),
                    health_check=self.text(entry, "healthCheck", path),
                )
            )
        if nodes and not any(node.role == "server" for node in nodes):
            self.warnings.append(
                Problem(
                    key_path("nodes"),
                    "no server is listed, so only agents are updated",
                    "list the servers too: every node needs the same registries.yaml",
                    Severity.WARNING,
                )
            )
        return tuple(nodes)

    def host(self, values: Mapping[str, object], path: str) -> str | None:
        """Read a host name or address that SSH connects to."""
        host = self.text(values, "host", path, required=True)
        if host is not None and not SSH_HOST.match(host):
            self.error(
                _join(path, "host"),
                f"invalid host {host!r}",
                "write a host name or an IP address, without user, port or scheme",
            )
            return None
        return host

    def user(self, values: Mapping[str, object], path: str) -> str | None:
        """Read an SSH user name."""
        user = self.text(values, "user", path)
        if user is not None and not SSH_USER.match(user):
            self.error(
                _join(path, "user"),
                f"invalid user name {user!r}",
                "use letters, digits, '.', '_' and '-', starting with a letter, digit or '_'",
            )
            return None
        return user

    def host_key(self, values: Mapping[str, object], path: str) -> SecretText | None:
        """Read a host key line, or a reference to a file that holds one."""
        host_key = self.secret(values, "hostKey", path)
        # An OpenSSH public key line: "<type> <base64>[ comment]".
        if isinstance(host_key, str) and not re.match(
            r"^(ssh-|ecdsa-)\S+ [A-Za-z0-9+/=]+( .*)?$", host_key
        ):
            self.error(
                _join(path, "hostKey"),
                "not an OpenSSH public key line",
                "copy a line such as `ssh-ed25519 AAAA...` from the node's "
                "/etc/ssh/ssh_host_*_key.pub",
            )
            return None
        return host_key

    def ssh(self, value: object) -> SSHSettings:
        values = self.mapping(value, "ssh")
        if values is None:
            return SSHSettings()
        self.check_keys(values, SSH_KEYS, "ssh")
        bastion = None
        bastion_values = self.mapping(values.get("bastion"), "ssh.bastion")
        if bastion_values is not None:
            self.check_keys(bastion_values, BASTION_KEYS, "ssh.bastion")
            host = self.host(bastion_values, "ssh.bastion")
            if host is not None:
                bastion = Bastion(
                    host=host,
                    port=self.integer(
                        bastion_values, "port", "ssh.bastion", default=22, low=1, high=65535
                    ),
                    user=self.user(bastion_values, "ssh.bastion"),
                    private_key=self.secret(bastion_values, "privateKey", "ssh.bastion"),
                    host_key=self.host_key(bastion_values, "ssh.bastion"),
                )
        return SSHSettings(
            user=self.user(values, "ssh") or "root",
            private_key=self.secret(values, "privateKey", "ssh"),
            bastion=bastion,
            per_dial_timeout=self.integer(
                values, "perDialTimeout", "ssh", default=15, low=1, high=600
            ),
            dial_error_limit=self.integer(
                values, "dialErrorLimit", "ssh", default=10, low=-1, high=1000
            ),
        )

    def rollout(self, value: object) -> RolloutSettings:
        values = self.mapping(value, "rollout")
        if values is None:
            return RolloutSettings()
        self.check_keys(values, ROLLOUT_KEYS, "rollout")
        return RolloutSettings(
            agent_batch_size=self.integer(
                values, "agentBatchSize", "rollout", default=2, low=1, high=1000
            ),
            health_timeout=self.integer(
                values, "healthTimeout", "rollout", default=180, low=1, high=3600
            ),
            server_health_check=self.text(values, "serverHealthCheck", "rollout"),
            agent_health_check=self.text(values, "agentHealthCheck", "rollout"),
            restart=self.boolean(values, "restart", "rollout", True),
            on_delete=cast(
                DeleteBehaviour,
                self.choice(values, "onDelete", ("keep", "remove"), "rollout", default="keep"),
            ),
        )

    def tls(self, value: object, registries: Registries) -> dict[str, TLSMaterial]:
        values = self.mapping(value, "tls")
        if values is None:
            return {}
        materials: dict[str, TLSMaterial] = {}
        for host, item in values.items():
            path = f"tls.{quote_key(host)}"
            entry = self.mapping(item, path)
            if entry is None:
                continue
            self.check_keys(entry, TLS_KEYS, path)
            material = TLSMaterial(
                ca=self.secret(entry, "ca", path),
                cert=self.secret(entry, "cert", path),
                key=self.secret(entry, "key", path),
            )
            if (material.cert is None) != (material.key is None):
                missing = "key" if material.key is None else "cert"
                self.error(
                    f"{path}.{missing}",
                    "missing: a client certificate needs its key and the key its certificate",
                    f"set both `cert` and `key` under {path}",
                )
            existing = registries.configs.get(host)
            if existing is not None and existing.tls is not None:
                for name, file_key in (
                    ("ca", "ca_file"),
                    ("cert", "cert_file"),
                    ("key", "key_file"),
                ):
                    if getattr(material, name) is not None and getattr(existing.tls, file_key):
                        self.error(
                            f"{path}.{name}",
                            f"conflicts with registries.configs.{quote_key(host)}.tls.{file_key}",
                            f"either place the file with `{name}` here or point to a file already "
                            f"on the nodes with `{file_key}`, not both",
                        )
            materials[host] = material
        return materials

    def pull_secrets(self, value: object, registries: Registries) -> PullSecretSettings | None:
        values = self.mapping(value, "pullSecrets")
        if values is None:
            return None
        self.check_keys(values, PULL_SECRET_KEYS, "pullSecrets")
        namespaces = self.names(values, "namespaces", DNS_LABEL, "a namespace")
        if not namespaces:
            self.error("pullSecrets.namespaces", "expected a non-empty list of namespaces")
        hosts = self.names(values, "registries", None, "a registry host")
        for index, host in enumerate(hosts):
            config = registries.configs.get(host)
            if config is None or config.auth is None:
                self.error(
                    f"pullSecrets.registries[{index}]",
                    f"{host!r} has no credentials under registries.configs",
                    "list hosts that have an `auth` entry under registries.configs",
                )
        name = self.text(values, "name", "pullSecrets") or "registry-credentials"
        if not DNS_SUBDOMAIN.match(name):
            self.error(
                "pullSecrets.name", f"invalid Secret name {name!r}", "use a DNS-1123 subdomain"
            )
        if not hosts and not any(config.auth for config in registries.configs.values()):
            self.error(
                "pullSecrets",
                "no registry under registries.configs has credentials to put in a pull Secret",
                "add an `auth` entry, or remove `pullSecrets`",
            )
        return PullSecretSettings(
            namespaces=tuple(namespaces),
            name=name,
            registries=tuple(hosts),
            patch_default_service_account=self.boolean(
                values, "patchDefaultServiceAccount", "pullSecrets", False
            ),
            kubeconfig=self.secret(values, "kubeconfig", "pullSecrets"),
            context=self.text(values, "context", "pullSecrets"),
        )

    def names(
        self, values: Mapping[str, object], name: str, pattern: re.Pattern[str] | None, what: str
    ) -> list[str]:
        value = values.get(name)
        path = f"pullSecrets.{name}"
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(path, f"expected a list, found {_type_name(value)}")
            return []
        found: list[str] = []
        for index, item in enumerate(value):
            if not isinstance(item, str) or (pattern is not None and not pattern.match(item)):
                self.error(f"{path}[{index}]", f"invalid {what}: {item!r}")
            elif item in found:
                self.error(f"{path}[{index}]", f"{item!r} is listed twice")
            else:
                found.append(item)
        return found


def _referenced_config_keys(value: object) -> set[str]:
    """Find the project's config keys named by ``{ref: config:KEY}`` references anywhere."""
    found: set[str] = set()
    if isinstance(value, Mapping):
        reference = value.get("ref")
        if len(value) == 1 and isinstance(reference, str) and reference.startswith("config:"):
            parts = reference[len("config:") :].split(":")
            if len(parts) == 1:
                found.add(parts[0])
            elif len(parts) == 2 and parts[0] == PROJECT:
                found.add(parts[1])
        for item in value.values():
            found |= _referenced_config_keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= _referenced_config_keys(item)
    return found


def _warn_plain_secrets(settings: DeploymentSettings, secret_keys: frozenset[str]) -> list[Problem]:
    """Warn about literal secret values that sit in plain text in the stack file.

    A key set with ``pulumi config set --secret`` is encrypted as a whole, so
    literals under it are fine. A user name is an account name, not a
    credential, so it never warns.
    """
    candidates: list[tuple[str, SecretText | None]] = [
        (f"registries.{path}", value)
        for path, value in settings.registries.secret_values()
        if not path.endswith(".username")
    ]
    candidates += [(f"tls.{quote_key(host)}.key", tls.key) for host, tls in settings.tls.items()]
    candidates.append(("ssh.privateKey", settings.ssh.private_key))
    if settings.ssh.bastion is not None:
        candidates.append(("ssh.bastion.privateKey", settings.ssh.bastion.private_key))
    candidates += [
        (f"nodes[{index}].privateKey", node.private_key)
        for index, node in enumerate(settings.nodes)
    ]
    candidates.append(("fingerprintKey", settings.fingerprint_key))
    if settings.pull_secrets is not None:
        candidates.append(("pullSecrets.kubeconfig", settings.pull_secrets.kubeconfig))
    return [
        Problem(
            key_path(path),
            "a literal secret value is stored in plain text in the stack file",
            "set it with `pulumi config set --secret NAME` and write {ref: config:NAME}",
            Severity.WARNING,
        )
        for path, value in candidates
        if isinstance(value, str) and _top_level(path) not in secret_keys
    ]


def _top_level(path: str) -> str:
    return re.split(r"[.\[]", path, maxsplit=1)[0]


def _prefixed(problems: tuple[Problem, ...] | list[Problem]) -> list[Problem]:
    """Give problems found inside the registries value the full config key path."""
    prefix = key_path("registries")
    return [
        Problem(
            problem.path if problem.path.startswith(prefix) else f"{prefix}.{problem.path}",
            problem.message,
            problem.hint,
            problem.severity,
        )
        for problem in problems
    ]


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _type_name(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string", list: "a list"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    if isinstance(value, Mapping):
        return "a mapping"
    return "nothing" if value is None else type(value).__name__
