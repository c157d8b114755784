"""Benchmark: secret-store calls per program run, 50 registries sharing 3 secrets.

Run it from the repository root::

    PYTHONPATH=. .venv/bin/python bench/bench_credentials.py

It starts moto's ``ThreadedMotoServer`` on a free port of 127.0.0.1, creates
three Secrets Manager secrets (JSON with ``username`` and ``password``) and
builds a stack whose 50 ``configs`` entries read their credentials from them
with ``aws-sm:bench/team-N#username`` and ``#password``. It then runs the
component under Pulumi mocks with a fresh ``Resolver``, as one ``pulumi up``
would, and counts ``Resolver.fetch_count`` and the HTTP requests the moto
server logged during the run. AWS settings of the machine are removed: fake
credentials, empty config files and ``AWS_EC2_METADATA_DISABLED=true`` keep
every request on loopback. It prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import boto3
import pulumi
from bench_common import PROJECT_ROOT, install_mocks
from moto.server import ThreadedMotoServer

from components.component import RegistriesDeployment, RegistriesDeploymentArgs
from components.credentials import Resolver
from components.direct_rollout import prepare_content
from components.model import SecretRef
from components.stack_config import DeploymentSettings, parse_settings

REGISTRIES = 50
SECRETS = 3
NODES = 10


class RequestCounter(logging.Handler):
    """Count the requests that werkzeug (the moto server's HTTP server) logs, one line each."""

    def __init__(self) -> None:
        super().__init__(level=logging.INFO)
        self.count = 0
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if " HTTP/" in record.getMessage():
            with self._lock:
                self.count += 1


def isolate_aws_settings(scratch: Path, endpoint: str) -> None:
    """Replace every AWS setting of this process with fake ones pointing at ``endpoint``."""
    for name in list(os.environ):
        if name.startswith("AWS_"):
            del os.environ[name]
    os.environ.update({
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_CONFIG_FILE": str(scratch / "aws-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(scratch / "aws-credentials"),
        "AWS_ENDPOINT_URL": endpoint,
    })


def create_secrets() -> dict[str, dict[str, str]]:
    """Create the shared secrets in moto and return their values by name."""
    client: Any = boto3.client("secretsmanager")
    values = {}
    for index in range(SECRETS):
        name = f"bench/team-{index}"
        value = {"username": f"robot-{index}", "password": f"bench-password-{index}"}
        client.create_secret(Name=name, SecretString=json.dumps(value))
        values[name] = value
    return values


def stack_settings() -> DeploymentSettings:
    """Return settings with 50 registries whose credentials come from 3 shared secrets."""
    mirrors = {}
    configs = {}
    for index in range(REGISTRIES):
        host = f"registry-{index}.example.test"
        secret = f"aws-sm:bench/team-{index % SECRETS}"
        mirrors[f"upstream-{index}.example.test"] = {"endpoint": [f"https://{host}"]}
        configs[host] = {
            "auth": {
                "username": {"ref": f"{secret}#username"},
                "password": {"ref": f"{secret}#password"},
            }
        }
    nodes = [
        {
            "name": f"{'server' if index < 3 else 'agent'}-{index}",
            "host": f"10.0.0.{index + 1}",
            "role": "server" if index < 3 else "agent",
            "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXk",
        }
        for index in range(NODES)
    ]
    values = {
        "fingerprintKey": "bench-credentials-fingerprint-key",
        "registries": {"mirrors": mirrors, "configs": configs},
        "nodes": nodes,
        "ssh": {"user": "root"},
        "rollout": {"agentBatchSize": 5},
        "pullSecrets": {"namespaces": ["apps", "monitoring"]},
    }
    return parse_settings(values, secret_keys=frozenset({"fingerprintKey"}))


def run_program(settings: DeploymentSettings, resolver: Resolver) -> dict[str, int]:
    """Run the component under mocks and return the number of registered resources by type."""
    counting = install_mocks()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        deployment = RegistriesDeployment(
            "registries", RegistriesDeploymentArgs(settings=settings, resolver=resolver)
        )
        return deployment.masked_registries

    program()
    return dict(counting.registered)


def check_values(resolver: Resolver, values: dict[str, dict[str, str]]) -> bool:
    """Check that the resolver returned each secret's values, from its cache."""
    before = resolver.fetch_count
    correct = all(
        resolver.resolve_text(SecretRef(f"aws-sm:{name}#{key}"), "check") == value
        for name, secret in values.items()
        for key, value in secret.items()
    )
    return correct and resolver.fetch_count == before


def measure(runs: int) -> dict[str, Any]:
    counter = RequestCounter()
    werkzeug_log = logging.getLogger("werkzeug")
    werkzeug_log.setLevel(logging.INFO)
    werkzeug_log.addHandler(counter)
    werkzeug_log.propagate = False

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        with tempfile.TemporaryDirectory(prefix="bench-aws-") as scratch:
            isolate_aws_settings(Path(scratch), f"http://{host}:{port}")
            values = create_secrets()
            settings = stack_settings()
            references = sum(
                isinstance(value, SecretRef) for _, value in settings.registries.secret_values()
            )
            program_runs = []
            for _ in range(runs):
                resolver = Resolver(project_root=PROJECT_ROOT)
                requests_before = counter.count
                registered = run_program(settings, resolver)
                program_runs.append({
                    "fetch_count": resolver.fetch_count,
                    "fetch_counts": resolver.fetch_counts,
                    "http_requests": counter.count - requests_before,
                    "values_correct": check_values(resolver, values),
                    "registered": registered,
                })

            resolver = Resolver(project_root=PROJECT_ROOT)
            requests_before = counter.count
            content = prepare_content(settings, resolver)
            registries_yaml = content.files[-1].content
            direct = {
                "fetch_count": resolver.fetch_count,
                "http_requests": counter.count - requests_before,
                "values_correct": all(
                    secret["password"] in registries_yaml for secret in values.values()
                ),
            }
    finally:
        server.stop()
    return {
        "registries": REGISTRIES,
        "secrets": SECRETS,
        "secret_references": references,
        "nodes": NODES,
        "store": "moto ThreadedMotoServer on 127.0.0.1, Secrets Manager GetSecretValue",
        "program_runs": program_runs,
        "direct_rollout_prepare": direct,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="program runs, each a new resolver")
    args = parser.parse_args()
    print(json.dumps(measure(args.runs)))


if __name__ == "__main__":
    main()
