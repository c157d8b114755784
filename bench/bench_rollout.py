"""Benchmark: roll registries.yaml out to sandbox nodes, against a hand-written ssh loop.

Run it as root from the repository root, after ``scripts/setup.sh``::

    PYTHONPATH=. .venv/bin/python bench/bench_rollout.py --nodes 10,30 --repeats 3

It starts sandbox nodes (3 servers, the rest agents) under
``.sandbox/bench-<pid>`` and stops them at the end. Restarts of the stand-in
units take 2 s on servers and 1 s on agents. For each stack size it measures,
``--repeats`` times, four phases:

- direct rollout after a one-mirror change (``run_rollout``, agentBatchSize 5),
- the same direct rollout again with nothing changed (no-op),
- ``bench/baseline.sh`` after a one-mirror change,
- ``bench/baseline.sh`` again with nothing changed.

SSH sessions are the "Accepted publickey" lines that each node's sshd writes
to ``nodes/<name>/sshd.log`` during the phase. Restarts are the stand-in's
``systemctl restart`` records in ``nodes/<name>/calls.jsonl``. It prints one
JSON object on stdout and progress on stderr.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench_common import PROJECT_ROOT

from components.credentials import Resolver
from components.direct_rollout import prepare_content, run_rollout
from components.rollout import plan_waves
from components.stack_config import DeploymentSettings, parse_settings
from sandbox import Sandbox, start_nodes

SERVERS = 3
AGENT_BATCH_SIZE = 5
SERVER_RESTART_SECONDS = 2.0
AGENT_RESTART_SECONDS = 1.0
HEALTH_TIMEOUT = 30
BASELINE_TIMEOUT = 900
"""Seconds before a baseline run is stopped, far above the time 30 nodes take."""
ACCEPTED = "Accepted publickey"
BASELINE = Path(__file__).with_name("baseline.sh")
REGISTRIES_YAML = "/etc/rancher/k3s/registries.yaml"

log = logging.getLogger("bench_rollout")


def node_names(count: int) -> list[str]:
    """Return ``count`` node names: servers s1 to s3, then agents a1, a2, ..."""
    return [f"s{index}" for index in range(1, SERVERS + 1)] + [
        f"a{index}" for index in range(1, count - SERVERS + 1)
    ]


def settings_for(sandbox: Sandbox, names: list[str], version: int) -> DeploymentSettings:
    """Return stack settings for the named nodes, with a docker.io endpoint per ``version``."""
    nodes = []
    for name in names:
        info = sandbox.node(name)
        nodes.append({
            "name": name,
            "host": info.host,
            "port": info.port,
            "role": info.role,
            "hostKey": info.host_key,
        })
    values = {
        "fingerprintKey": "bench-rollout-fingerprint-key",
        "registries": {
            "mirrors": {
                "docker.io": {"endpoint": [f"https://mirror-{version}.example.test"]},
                "ghcr.io": {"endpoint": ["https://registry.example.test/ghcr"]},
                "quay.io": {"endpoint": ["https://registry.example.test/quay"]},
            },
            "configs": {
                "registry.example.test": {
                    "auth": {"username": "robot", "password": "bench-password"}
                }
            },
        },
        "nodes": nodes,
        "ssh": {"user": "root", "privateKey": {"ref": f"file:{sandbox.private_key}"}},
        "rollout": {"agentBatchSize": AGENT_BATCH_SIZE, "healthTimeout": HEALTH_TIMEOUT},
    }
    return parse_settings(values, secret_keys=frozenset({"registries", "fingerprintKey"}))


@dataclass(frozen=True)
class Snapshot:
    """SSH sessions and restart records per node at one moment."""

    sessions: dict[str, int]
    restarts: dict[str, int]


def count_sessions(sandbox: Sandbox, name: str) -> int:
    """Count the logins that the node's sshd logged so far."""
    text = (sandbox.state_dir(name) / "sshd.log").read_text(errors="replace")
    return text.count(ACCEPTED)


def take_snapshot(sandbox: Sandbox, names: list[str]) -> Snapshot:
    return Snapshot(
        sessions={name: count_sessions(sandbox, name) for name in names},
        restarts={name: len(sandbox.restarts(name)) for name in names},
    )


def describe_phase(
    sandbox: Sandbox, names: list[str], before: Snapshot, seconds: float
) -> dict[str, Any]:
    """Summarize one phase: sessions and restarts per node, and how restarts overlapped."""
    sessions = {name: count_sessions(sandbox, name) - before.sessions[name] for name in names}
    records = {name: sandbox.restarts(name)[before.restarts[name]:] for name in names}
    succeeded = {name: [r for r in records[name] if r["exit"] == 0] for name in names}
    failed = {name: len(records[name]) - len(succeeded[name]) for name in names}
    servers = [name for name in names if sandbox.node(name).role == "server"]
    server_windows = sorted(
        (record["start"], record["end"]) for name in servers for record in succeeded[name]
    )
    every_window = [
        (record["start"], record["end"]) for name in names for record in succeeded[name]
    ]
    return {
        "seconds": seconds,
        "sessions_total": sum(sessions.values()),
        "nodes_by_session_count": count_nodes(sessions.values()),
        "restarts_total": sum(len(items) for items in succeeded.values()),
        "nodes_by_restart_count": count_nodes(len(items) for items in succeeded.values()),
        "failed_restart_calls_total": sum(failed.values()),
        "servers_one_at_a_time": all(
            first[1] <= second[0] for first, second in itertools.pairwise(server_windows)
        ),
        "max_parallel_restarts": max_overlap(every_window),
    }


def count_nodes(counts: Iterable[int]) -> dict[str, int]:
    """Return how many nodes had each count, such as ``{"1": 30}``."""
    return {str(count): nodes for count, nodes in sorted(Counter(counts).items())}


def max_overlap(windows: list[tuple[float, float]]) -> int:
    """Return the largest number of (start, end) windows open at the same instant."""
    events = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    current = best = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def check_placed(sandbox: Sandbox, names: list[str], expected: str) -> dict[str, Any]:
    """Return the nodes whose registries.yaml differs from ``expected``, and the file modes."""
    wrong = []
    modes: Counter[str] = Counter()
    for name in names:
        path = sandbox.host_path(name, REGISTRIES_YAML)
        if path.read_text() != expected:
            wrong.append(name)
        modes[oct(path.stat().st_mode & 0o777)] += 1
    return {"content_wrong_on": wrong, "file_modes": dict(modes)}


def run_direct(
    sandbox: Sandbox, names: list[str], settings: DeploymentSettings, expected: str
) -> dict[str, Any]:
    """Run one direct rollout and describe it."""
    before = take_snapshot(sandbox, names)
    started = time.perf_counter()
    results = run_rollout(settings, Resolver(project_root=PROJECT_ROOT))
    seconds = time.perf_counter() - started
    phase = describe_phase(sandbox, names, before, seconds)
    phase["statuses"] = dict(Counter(result.status for result in results))
    phase.update(check_placed(sandbox, names, expected))
    return phase


def run_baseline(
    sandbox: Sandbox, names: list[str], scratch: Path, content: str
) -> dict[str, Any]:
    """Run bench/baseline.sh over the named nodes and describe it."""
    hosts = scratch / "hosts"
    hosts.write_text(
        "".join(f"{sandbox.node(name).host} {sandbox.node(name).port}\n" for name in names)
    )
    registries = scratch / "registries.yaml"
    registries.write_text(content)
    argv = ["bash", str(BASELINE), str(hosts), str(sandbox.private_key),
            str(sandbox.known_hosts), str(registries)]

    before = take_snapshot(sandbox, names)
    started = time.perf_counter()
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=BASELINE_TIMEOUT, check=False
    )
    seconds = time.perf_counter() - started
    if result.returncode != 0:
        raise RuntimeError(
            f"bench/baseline.sh failed with exit status {result.returncode}: "
            f"{result.stderr[-2000:]}"
        )
    phase = describe_phase(sandbox, names, before, seconds)
    last_line = result.stdout.strip().splitlines()[-1]
    phase["ssh_calls_counted_by_script"] = int(last_line.removeprefix("ssh calls: "))
    phase.update(check_placed(sandbox, names, content))
    return phase


def time_ssh_sessions(sandbox: Sandbox, name: str, count: int = 5) -> float:
    """Return the median wall time of ``ssh NODE true``: the cost of one session, no work."""
    timings = []
    for _ in range(count):
        started = time.perf_counter()
        result = sandbox.run(name, "true", timeout=30)
        timings.append(time.perf_counter() - started)
        if result.returncode != 0:
            raise RuntimeError(f"ssh to node {name} failed: {result.stderr.strip()}")
    return statistics.median(timings)


def registries_text(settings: DeploymentSettings) -> str:
    """Return the registries.yaml that the direct rollout places for these settings."""
    content = prepare_content(settings, Resolver(project_root=PROJECT_ROOT))
    placed = content.files[-1]
    if not placed.path.endswith("/registries.yaml"):
        raise RuntimeError(f"expected registries.yaml as the last node file, got {placed.path}")
    return placed.content


def measure_size(sandbox: Sandbox, count: int, repeats: int) -> dict[str, Any]:
    """Measure the four phases ``repeats`` times on the first ``count`` nodes."""
    names = node_names(count)
    for name in names:
        sandbox.reset(name)
        is_server = sandbox.node(name).role == "server"
        sandbox.set_restart_delay(
            name, SERVER_RESTART_SECONDS if is_server else AGENT_RESTART_SECONDS
        )

    initial = settings_for(sandbox, names, version=0)
    log.info("%d nodes: first rollout (not timed)", count)
    first = run_direct(sandbox, names, initial, registries_text(initial))
    phases: dict[str, list[dict[str, Any]]] = {
        "direct_change": [], "direct_noop": [], "baseline_change": [], "baseline_noop": []
    }
    with tempfile.TemporaryDirectory(prefix="bench-baseline-") as scratch:
        for repeat in range(repeats):
            # Each phase pair starts from the file the previous pair left, so
            # every "change" phase measures a real one-mirror change.
            direct = settings_for(sandbox, names, version=2 * repeat + 1)
            direct_text = registries_text(direct)
            log.info("%d nodes, repeat %d: direct rollout", count, repeat + 1)
            phases["direct_change"].append(run_direct(sandbox, names, direct, direct_text))
            phases["direct_noop"].append(run_direct(sandbox, names, direct, direct_text))

            baseline_text = registries_text(settings_for(sandbox, names, version=2 * repeat + 2))
            log.info("%d nodes, repeat %d: baseline", count, repeat + 1)
            phases["baseline_change"].append(
                run_baseline(sandbox, names, Path(scratch), baseline_text)
            )
            phases["baseline_noop"].append(
                run_baseline(sandbox, names, Path(scratch), baseline_text)
            )

    summary = {kind: summarize(runs) for kind, runs in phases.items()}
    return {
        "nodes": count,
        "servers": SERVERS,
        "agents": count - SERVERS,
        "agent_batch_size": AGENT_BATCH_SIZE,
        "waves": len(plan_waves(initial.nodes, AGENT_BATCH_SIZE)),
        "first_rollout": first,
        "summary": summary,
        "direct_to_baseline_change_ratio": (
            summary["direct_change"]["median_seconds"]
            / summary["baseline_change"]["median_seconds"]
        ),
        "runs": phases,
    }


def summarize(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the median and range of the wall times and the worst case of every count."""
    seconds = [run["seconds"] for run in runs]
    return {
        "runs": len(runs),
        "median_seconds": statistics.median(seconds),
        "min_seconds": min(seconds),
        "max_seconds": max(seconds),
        "max_sessions_per_node": max(
            max(int(count) for count in run["nodes_by_session_count"]) for run in runs
        ),
        "sessions_total": [run["sessions_total"] for run in runs],
        "restarts_total": [run["restarts_total"] for run in runs],
        "max_restarts_per_node": max(
            max(int(count) for count in run["nodes_by_restart_count"]) for run in runs
        ),
        "failed_restart_calls_total": [run["failed_restart_calls_total"] for run in runs],
        "servers_one_at_a_time": all(run["servers_one_at_a_time"] for run in runs),
        "max_parallel_restarts": max(run["max_parallel_restarts"] for run in runs),
        "content_wrong_on": sorted({name for run in runs for name in run["content_wrong_on"]}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--nodes", default="10,30", help="comma-separated stack sizes, each at least 4"
    )
    parser.add_argument("--repeats", type=int, default=3, help="measurements per phase")
    args = parser.parse_args()
    sizes = [int(size) for size in args.nodes.split(",")]
    if any(size <= SERVERS for size in sizes) or args.repeats < 1:
        parser.error(f"every size must be above {SERVERS} and --repeats at least 1")
    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stderr)
    logging.getLogger("components").setLevel(logging.WARNING)
    logging.getLogger("sandbox").setLevel(logging.WARNING)

    directory = PROJECT_ROOT / ".sandbox" / f"bench-{os.getpid()}"
    started = time.perf_counter()
    specs = [
        f"{name}:{'server' if name.startswith('s') else 'agent'}"
        for name in node_names(max(sizes))
    ]
    sandbox = start_nodes(specs, directory)
    log.info("started %d sandbox nodes in %.1f s", len(sandbox.nodes),
             time.perf_counter() - started)
    try:
        session_seconds = time_ssh_sessions(sandbox, "s1")
        results = [measure_size(sandbox, size, args.repeats) for size in sizes]
    finally:
        sandbox.stop()
        shutil.rmtree(directory, ignore_errors=True)
    print(json.dumps({
        "server_restart_seconds": SERVER_RESTART_SECONDS,
        "agent_restart_seconds": AGENT_RESTART_SECONDS,
        "session_count_source": "'Accepted publickey' lines in nodes/<name>/sshd.log",
        "ssh_true_median_seconds": session_seconds,
        "sizes": results,
    }))


if __name__ == "__main__":
    main()
