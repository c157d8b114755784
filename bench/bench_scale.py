"""Benchmark: evaluate the Pulumi program for one stack size under Pulumi mocks.

Run it from the repository root::

    PYTHONPATH=. .venv/bin/python bench/bench_scale.py --nodes 1000 --measure time
    PYTHONPATH=. .venv/bin/python bench/bench_scale.py --nodes 1000 --measure memory

It builds stack config values for ``--nodes`` nodes (3 servers, the rest
agents, agentBatchSize 5), checks them with ``parse_settings`` and creates
the ``RegistriesDeployment`` component under mocks, waiting until every
resource registration has finished. It prints one JSON object. ``bench/run.py``
starts one fresh process per size and mode, so memory peaks of different sizes
do not mix and tracemalloc does not slow the timed run.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import resource
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pulumi
from bench_common import PROJECT_ROOT, install_mocks

from components.component import RegistriesDeployment, RegistriesDeploymentArgs
from components.credentials import Resolver
from components.rollout import plan_waves
from components.stack_config import parse_settings

SERVERS = 3
AGENT_BATCH_SIZE = 5
HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHRlc3QtaG9zdC1rZXk"
SSH_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\nbench-ssh-key-material\n"
    "-----END OPENSSH PRIVATE KEY-----\n"
)


def stack_values(node_count: int, agent_batch_size: int = AGENT_BATCH_SIZE) -> dict[str, Any]:
    """Return stack config values with ``node_count`` nodes, two mirrors, TLS and pull Secrets."""
    nodes = []
    for index in range(node_count):
        role = "server" if index < SERVERS else "agent"
        nodes.append({
            "name": f"{role}-{index}",
            "host": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}",
            "role": role,
            "hostKey": HOST_KEY,
        })
    return {
        "distribution": "k3s",
        "fingerprintKey": "bench-fingerprint-key-0123456789",
        "registries": {
            "mirrors": {
                "docker.io": {"endpoint": ["https://mirror.example.test"]},
                "registry.example.test": {"endpoint": ["https://registry.example.test"]},
            },
            "configs": {
                "mirror.example.test": {"auth": {"username": "robot", "password": "bench-pass"}},
                "registry.example.test": {"auth": {"username": "robot2", "password": "pass-2"}},
            },
        },
        "tls": {
            "registry.example.test": {
                "ca": "-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n",
                "cert": "-----BEGIN CERTIFICATE-----\nclient\n-----END CERTIFICATE-----\n",
                "key": "-----BEGIN PRIVATE KEY-----\nclient-key\n-----END PRIVATE KEY-----\n",
            }
        },
        "nodes": nodes,
        "ssh": {"user": "root", "privateKey": SSH_KEY},
        "rollout": {"agentBatchSize": agent_batch_size},
        "pullSecrets": {"namespaces": ["apps", "monitoring"]},
    }


def evaluate(node_count: int, agent_batch_size: int) -> dict[str, Any]:
    """Check the config, run the component under mocks, and return timings and counts."""
    counting = install_mocks()
    values = stack_values(node_count, agent_batch_size)

    started = time.perf_counter()
    settings = parse_settings(
        values, secret_keys=frozenset({"registries", "tls", "ssh", "fingerprintKey"})
    )
    parsed = time.perf_counter()

    @pulumi.runtime.test  # type: ignore[untyped-decorator]
    def program() -> pulumi.Output[Any]:
        deployment = RegistriesDeployment(
            "registries",
            RegistriesDeploymentArgs(
                settings=settings, resolver=Resolver(project_root=PROJECT_ROOT)
            ),
        )
        return deployment.masked_registries

    program()
    finished = time.perf_counter()
    return {
        "nodes": node_count,
        "agent_batch_size": agent_batch_size,
        "waves": len(plan_waves(settings.nodes, settings.rollout.agent_batch_size)),
        "parse_seconds": parsed - started,
        "component_seconds": finished - parsed,
        "total_seconds": finished - started,
        "registered": dict(counting.registered),
    }


def cycle_check_share(stats: pstats.Stats) -> dict[str, Any]:
    """Return the profiled time spent in the SDK's dependency cycle check and its share.

    ``declare_dependency`` (``pulumi/runtime/resource_cycle_breaker.py``) runs
    once for every dependency that ``depends_on`` declares.
    """
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    cumulative = sum(
        entry[3]
        for (path, _line, function), entry in raw.items()
        if function == "declare_dependency" and path.endswith("resource_cycle_breaker.py")
    )
    total: float = stats.total_tt  # type: ignore[attr-defined]
    return {
        "profiled_seconds": total,
        "cycle_check_seconds": cumulative,
        "cycle_check_share": cumulative / total if total else 0.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True, help="number of nodes (at least 3)")
    parser.add_argument(
        "--agent-batch-size",
        type=int,
        default=AGENT_BATCH_SIZE,
        help=f"rollout.agentBatchSize (default {AGENT_BATCH_SIZE})",
    )
    parser.add_argument(
        "--measure",
        choices=("time", "memory", "profile"),
        default="time",
        help="what to measure: time (wall time only), memory (tracemalloc peak, slower) or "
        "profile (cProfile, with the share of time in the SDK's dependency cycle check)",
    )
    parser.add_argument(
        "--profile-output", type=Path, help="with --measure profile, also write the raw profile"
    )
    args = parser.parse_args()
    if args.nodes < SERVERS:
        parser.error(f"--nodes must be at least {SERVERS}, not {args.nodes}")

    if args.measure == "memory":
        tracemalloc.start()
        result = evaluate(args.nodes, args.agent_batch_size)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        result["tracemalloc_peak_mib"] = peak / 2**20
    elif args.measure == "profile":
        profiler = cProfile.Profile()
        profiler.enable()
        result = evaluate(args.nodes, args.agent_batch_size)
        profiler.disable()
        if args.profile_output is not None:
            profiler.dump_stats(args.profile_output)
        result.update(cycle_check_share(pstats.Stats(profiler)))
    else:
        result = evaluate(args.nodes, args.agent_batch_size)
    result["measure"] = args.measure
    # ru_maxrss is in KiB on Linux and covers the whole process, imports included.
    result["max_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(result))


if __name__ == "__main__":
    main()
