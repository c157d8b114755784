"""A real OCI registry on loopback, with htpasswd auth and TLS from a self-signed CA.

The demo and the tests need a registry that behaves like a private one: it
rejects anonymous requests and is trusted only through a CA that the nodes
receive. Debian's ``docker-registry`` package (distribution 2.8) serves one in
the foreground with ``docker-registry serve CONFIG``. There is no systemd, so
this module starts the process itself and records its pid in a state file, so
a later command can stop it.

Layout of a registry directory::

    registry.json         state: url, host, username, files, pid (see ``Registry``)
    config.yml            the registry's configuration
    htpasswd              bcrypt entry for the user (``htpasswd -B``)
    password              the user's password, mode 0600
    ca.crt, ca.key        self-signed CA; ca.key mode 0600
    server.crt, server.key  the registry's certificate (IP:127.0.0.1, DNS:localhost)
    storage/              image blobs and manifests
    registry.log          the registry's own log
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import logging
import os
import secrets
import shutil
import signal
import ssl
import subprocess
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from sandbox.nodes import HOST, SandboxError, _free_port, _port_taken, _tail

log = logging.getLogger(__name__)

REGISTRY = "docker-registry"
USERNAME = "k3s-pull"
"""The one registry user; stacks/Pulumi.local.yaml names it."""

STATE_FILE = "registry.json"
READY_TIMEOUT = 15.0
"""Seconds to wait for ``/v2/`` to respond after the process starts."""

CERTIFICATE_DAYS = 825
"""Validity of the CA and server certificates, in days."""

# Files of an earlier start that a new start reuses, so nodes that were given
# the CA and the password keep working after the registry restarts.
_CREDENTIAL_FILES = ("ca.crt", "ca.key", "server.crt", "server.key", "htpasswd", "password")

# Every address in this file is 127.0.0.1. The registry has no proxy,
# notification or reporting section, so it connects nowhere, and the debug
# server (http.debug) stays off because it has no address.
_CONFIG = """\
# docker-registry configuration for the sandbox registry; loopback only.
version: 0.1
log:
  level: info
  fields:
    service: sandbox-registry
storage:
  filesystem:
    rootdirectory: {storage}
  delete:
    enabled: true
http:
  addr: {host}:{port}
  secret: {http_secret}
  tls:
    certificate: {certificate}
    key: {key}
  headers:
    X-Content-Type-Options: [nosniff]
auth:
  htpasswd:
    realm: sandbox-registry
    path: {htpasswd}
"""

_SERVER_EXTENSIONS = """\
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1, DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
"""


class RegistryError(SandboxError):
    """The sandbox registry could not be started, found or stopped."""


@dataclass
class Registry:
    """A started sandbox registry, as written to ``registry.json``."""

    url: str
    """Base URL, ``https://127.0.0.1:PORT``."""
    host: str
    """Registry host as registries.yaml keys it, ``127.0.0.1:PORT``."""
    port: int
    username: str
    password_file: str
    ca_file: str
    pid: int
    directory: str
    config_file: str
    log_file: str
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @classmethod
    def load(cls, directory: str | Path) -> Registry:
        """Read the state of a registry started earlier, for example by the CLI."""
        path = Path(directory).resolve() / STATE_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise RegistryError(f"no registry state at {path}: start the registry first") from None
        return cls(**data)

    def password(self) -> str:
        """Read the registry user's password from ``password_file``."""
        return Path(self.password_file).read_text()

    def is_running(self) -> bool:
        """Tell whether the recorded pid is still this registry's process."""
        return _is_registry_process(self.pid, self.config_file)

    def status(self) -> dict[str, Any]:
        """Report whether the process runs and whether ``/v2/`` returns 401 over TLS."""
        running = self.is_running()
        answer = _v2_status(self.port, self.ca_file, timeout=2.0) if running else None
        return {
            "url": self.url,
            "pid": self.pid,
            "running": running,
            "answering": answer == 401,
        }

    def stop(self, timeout: float = 10) -> None:
        """Send SIGTERM, then SIGKILL, to the registry process, by its recorded pid.

        The pid is signalled only while its command line still names this
        registry's config file, so a reused pid is never hit.
        """
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not self.is_running():
                break
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)
            deadline = time.monotonic() + timeout
            while self.is_running() and time.monotonic() < deadline:
                if self._process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._process.wait(timeout=0.05)
                else:
                    time.sleep(0.05)
        if self.is_running():
            log.warning("registry pid %d survived SIGKILL", self.pid)
            return
        if self._process is not None:
            self._process.wait()
        log.info("registry %s (pid %d) stopped", self.url, self.pid)

    def __enter__(self) -> Registry:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_registry(directory: str | Path, port: int | None = None) -> Registry:
    """Start a registry on ``127.0.0.1:port`` with its files under ``directory``.

    Without ``port``, a free port is chosen, and a port taken between choosing
    and binding is retried up to three times. A given port is not retried:
    when it is taken, this raises RegistryError. The CA, certificate and password
    of an earlier start in the same directory are reused.
    """
    check_registry_requirements()
    if port is not None and not 1 <= port <= 65535:
        raise RegistryError(f"invalid port {port}: use 1 to 65535")

    base = Path(directory).resolve()
    if (base / STATE_FILE).exists():
        earlier = Registry.load(base)
        if earlier.is_running():
            raise RegistryError(
                f"registry in {base} still runs (pid {earlier.pid}, {earlier.url}): stop it first"
            )
    if port is not None and _port_taken(port):
        raise RegistryError(
            f"port {port} on {HOST} is taken: stop the process that listens there "
            "or choose another port"
        )
    base.mkdir(parents=True, exist_ok=True)
    base.chmod(0o700)
    (base / "storage").mkdir(exist_ok=True)
    _make_credentials(base)

    last_error = ""
    for _attempt in range(1 if port is not None else 3):
        chosen = port if port is not None else _free_port()
        registry = _start_process(base, chosen)
        if registry is not None:
            try:
                _write_state(registry)
            except BaseException:
                registry.stop()
                raise
            log.info("registry %s started (pid %d)", registry.url, registry.pid)
            return registry
        last_error = _tail(base / "registry.log")
        if "address already in use" not in last_error:
            break
        if port is not None:
            raise RegistryError(f"port {chosen} on {HOST} is taken: choose another port")
        log.info("registry: port %d was taken, trying another", chosen)
    raise RegistryError(f"registry did not start; registry.log ends with:\n{last_error}")


def check_registry_requirements() -> None:
    """Raise RegistryError unless docker-registry, htpasswd and openssl are installed."""
    missing = [tool for tool in (REGISTRY, "htpasswd", "openssl") if shutil.which(tool) is None]
    if missing:
        raise RegistryError(
            f"missing {', '.join(missing)}: install Debian's docker-registry, apache2-utils "
            "and openssl (apt-get install docker-registry apache2-utils openssl)"
        )


# --- files ---------------------------------------------------------------


def _make_credentials(base: Path) -> None:
    """Create the CA, the server certificate, the password and its htpasswd entry.

    Files of an earlier start are kept when all of them are there.
    """
    if all((base / name).is_file() for name in _CREDENTIAL_FILES):
        log.info("registry: reusing the CA, certificate and password in %s", base)
        return
    for name in _CREDENTIAL_FILES:
        (base / name).unlink(missing_ok=True)

    _openssl(
        "req", "-x509", "-new", "-nodes", "-newkey", "ec",
        "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", base / "ca.key", "-out", base / "ca.crt",
        "-days", str(CERTIFICATE_DAYS), "-subj", "/CN=k3s-registries sandbox CA",
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    _openssl(
        "req", "-new", "-nodes", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
        "-keyout", base / "server.key", "-out", base / "server.csr", "-subj", f"/CN={HOST}",
    )
    extensions = base / "server.ext"
    extensions.write_text(_SERVER_EXTENSIONS)
    _openssl(
        "x509", "-req", "-in", base / "server.csr", "-CA", base / "ca.crt",
        "-CAkey", base / "ca.key", "-CAcreateserial", "-out", base / "server.crt",
        "-days", str(CERTIFICATE_DAYS), "-extfile", extensions,
    )
    for leftover in ("server.csr", "server.ext", "ca.srl"):
        (base / leftover).unlink(missing_ok=True)
    for name in ("ca.key", "server.key"):
        (base / name).chmod(0o600)
    (base / "ca.crt").chmod(0o644)
    (base / "server.crt").chmod(0o644)

    password = secrets.token_urlsafe(24)
    password_file = base / "password"
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password)
    # -i reads the password from stdin, so it never appears in a process list.
    result = subprocess.run(
        ["htpasswd", "-B", "-i", "-c", str(base / "htpasswd"), USERNAME],
        input=password.encode(), capture_output=True, check=False,
    )
    if result.returncode != 0:
        raise RegistryError(f"htpasswd failed: {result.stderr.decode(errors='replace').strip()}")
    (base / "htpasswd").chmod(0o600)


def _openssl(*arguments: str | Path) -> None:
    result = subprocess.run(
        ["openssl", *(str(argument) for argument in arguments)],
        capture_output=True, check=False, stdin=subprocess.DEVNULL,
    )
    if result.returncode != 0:
        raise RegistryError(
            f"openssl {arguments[0]} failed: {result.stderr.decode(errors='replace').strip()}"
        )


def _write_state(registry: Registry) -> None:
    state = {item.name: getattr(registry, item.name) for item in fields(registry) if item.init
             and not item.name.startswith("_")}
    path = Path(registry.directory) / STATE_FILE
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(state, indent=2) + "\n")
    temporary.replace(path)


# --- the process ---------------------------------------------------------


def _start_process(base: Path, port: int) -> Registry | None:
    """Start ``docker-registry serve`` on ``port``; return None if it exits before responding."""
    config = base / "config.yml"
    config.write_text(_CONFIG.format(
        storage=json.dumps(str(base / "storage")), host=HOST, port=port,
        http_secret=secrets.token_hex(32),
        certificate=json.dumps(str(base / "server.crt")),
        key=json.dumps(str(base / "server.key")),
        htpasswd=json.dumps(str(base / "htpasswd")),
    ))
    config.chmod(0o600)  # it contains http.secret

    log_file = base / "registry.log"
    with open(log_file, "ab") as registry_log:
        process = subprocess.Popen(
            [REGISTRY, "serve", str(config)],
            stdin=subprocess.DEVNULL, stdout=registry_log, stderr=registry_log,
            start_new_session=True,
        )
    registry = Registry(
        url=f"https://{HOST}:{port}", host=f"{HOST}:{port}", port=port, username=USERNAME,
        password_file=str(base / "password"), ca_file=str(base / "ca.crt"), pid=process.pid,
        directory=str(base), config_file=str(config), log_file=str(log_file),
        _process=process,
    )

    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        status = _v2_status(port, registry.ca_file, timeout=1.0)
        if status == 401:
            return registry
        if status is not None:
            registry.stop()
            raise RegistryError(
                f"{registry.url}/v2/ returned {status} without credentials, expected 401"
            )
        time.sleep(0.1)
    registry.stop()
    raise RegistryError(
        f"registry {registry.url} timed out: no response within {READY_TIMEOUT:.0f} s; "
        f"registry.log ends with:\n{_tail(log_file)}"
    )


def _v2_status(port: int, ca_file: str, timeout: float) -> int | None:
    """Return the HTTP status of an anonymous ``GET /v2/``, or None without a response."""
    context = ssl.create_default_context(cafile=ca_file)
    connection = http.client.HTTPSConnection(HOST, port, timeout=timeout, context=context)
    try:
        connection.request("GET", "/v2/")
        return connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _is_registry_process(pid: int, config_file: str) -> bool:
    """Tell whether ``pid`` is a live (not zombie) ``docker-registry serve config_file``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    # The state letter follows the command name in parentheses, which may contain spaces.
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return config_file.encode() in command and any(
        part.endswith(REGISTRY.encode()) for part in command
    )


# --- command line ----------------------------------------------------------


def add_registry_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    """Add ``registry start|stop|status`` to the sandbox command line."""
    parser = commands.add_parser(
        "registry", help="start, stop or inspect the sandbox registry (in --dir)"
    )
    actions = parser.add_subparsers(dest="registry_command", required=True)
    start = actions.add_parser("start", help="start the registry and write registry.json")
    start.add_argument("--port", type=int, default=None,
                       help="port on 127.0.0.1 (default: a free port)")
    actions.add_parser("stop", help="stop the registry process")
    actions.add_parser("status", help="show whether the registry runs and returns 401 on /v2/")


def run_registry_command(args: argparse.Namespace) -> int:
    """Run a ``registry`` subcommand; ``status`` exits 3 when ``/v2/`` does not return 401."""
    if args.registry_command == "start":
        registry = start_registry(args.dir, args.port)
        print(Path(registry.directory) / STATE_FILE)
        return 0

    registry = Registry.load(args.dir)
    if args.registry_command == "stop":
        registry.stop()
        return 0
    report = registry.status()
    print(f"{'URL':<24} {'PID':>7} {'RUNNING':<7} ANSWERING")
    print(f"{report['url']:<24} {report['pid']:>7} {report['running']!s:<7} "
          f"{report['answering']}")
    return 0 if report["answering"] else 3
