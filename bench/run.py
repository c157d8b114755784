"""Run the rollout, program-scale and credential benchmarks and check them against their targets.

How to run (as root, from the repository root, after ``scripts/setup.sh``)::

    PYTHONPATH=. .venv/bin/python bench/run.py            # full run, about 15 minutes
    PYTHONPATH=. .venv/bin/python bench/run.py --quick    # smaller sizes, about 1 minute
    PYTHONPATH=. .venv/bin/python bench/run.py --only scale,credentials   # no root needed

Each part is its own script, started here in a fresh process and printing
one JSON object, so each also runs alone:

- ``bench/bench_rollout.py``: sandbox nodes over real SSH (needs root,
  sshd and sudo), the direct rollout against ``bench/baseline.sh``.
- ``bench/bench_scale.py``: the program under Pulumi mocks for 10, 100 and
  1,000 nodes, one process per size and measurement.
- ``bench/bench_credentials.py``: secret-store calls against a moto server
  on 127.0.0.1.

The combined results go to ``bench/results/run-<UTC time>.json``
(git-ignored), and a summary with each target's outcome goes to stdout.
``docs/benchmarks.md`` describes the method and the figures of one full run.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench_common import PROJECT_ROOT, machine, write_result

BENCH = PROJECT_ROOT / "bench"
PARTS = ("rollout", "scale", "credentials")

FULL_ROLLOUT = ["--nodes", "10,30", "--repeats", "3"]
QUICK_ROLLOUT = ["--nodes", "5", "--repeats", "1"]
FULL_SCALE_SIZES = (10, 100, 1000)
QUICK_SCALE_SIZES = (10, 100)
TARGET_ROLLOUT_NODES = 30
TARGET_NODES = 1000
TARGET_SECONDS = 10.0
TARGET_BYTES = 500 * 10**6
TARGET_STORE_CALLS = 3
SCALE_REPEATS = 3
"""Timed processes per size in a full run; the median counts."""
# Extra 1,000-node runs in a full run: larger agent batches mean fewer waves,
# which shows how much of the time the SDK's dependency cycle check takes.
EXTRA_BATCH_SIZES = (20, 1000)


def run_part(script: str, arguments: list[str], timeout: float) -> dict[str, Any]:
    """Run ``bench/<script>`` in a fresh interpreter and return the JSON object it prints."""
    environment = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    # stderr (progress and errors) goes straight to ours, and stdout is the JSON object.
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *arguments],
        stdout=subprocess.PIPE,
        text=True,
        timeout=timeout,
        env=environment,
        cwd=PROJECT_ROOT,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench/{script} {' '.join(arguments)} failed with exit status "
                           f"{result.returncode}, and its error output is above")
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def run_scale(quick: bool) -> dict[str, Any]:
    """Measure each size in separate processes: wall time (median of several), then memory."""
    sizes = QUICK_SCALE_SIZES if quick else FULL_SCALE_SIZES
    repeats = 1 if quick else SCALE_REPEATS
    rows: list[dict[str, Any]] = []
    for size in sizes:
        print(f"scale: {size} nodes", file=sys.stderr)
        timed = [
            run_part("bench_scale.py", ["--nodes", str(size), "--measure", "time"], 600)
            for _ in range(repeats)
        ]
        traced = run_part("bench_scale.py", ["--nodes", str(size), "--measure", "memory"], 900)
        seconds = statistics.median(run["total_seconds"] for run in timed)
        previous = rows[-1] if rows else None
        marginal = None
        if previous is not None:
            added_seconds = seconds - previous["total_seconds"]
            marginal = 1000 * added_seconds / (size - previous["nodes"])
        rows.append({
            "nodes": size,
            "agent_batch_size": timed[0]["agent_batch_size"],
            "waves": timed[0]["waves"],
            "total_seconds": seconds,
            "total_seconds_runs": [run["total_seconds"] for run in timed],
            "milliseconds_per_node": 1000 * seconds / size,
            # Time per added node since the previous size, without the fixed start-up cost.
            "marginal_milliseconds_per_node": marginal,
            "max_rss_mib": max(run["max_rss_mib"] for run in timed),
            "tracemalloc_peak_mib": traced["tracemalloc_peak_mib"],
            "max_rss_mib_with_tracemalloc": traced["max_rss_mib"],
            "registered": timed[0]["registered"],
        })
    extra = []
    profile = None
    if not quick:
        for batch in EXTRA_BATCH_SIZES:
            print(f"scale: {TARGET_NODES} nodes, agentBatchSize {batch}", file=sys.stderr)
            extra.append(run_part(
                "bench_scale.py",
                ["--nodes", str(TARGET_NODES), "--agent-batch-size", str(batch)],
                900,
            ))
        print(f"scale: {TARGET_NODES} nodes under cProfile", file=sys.stderr)
        profile = run_part(
            "bench_scale.py", ["--nodes", str(TARGET_NODES), "--measure", "profile"], 900
        )
    return {"sizes": rows, "other_batch_sizes": extra, "profile": profile}


def check_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Compare the measured figures with the targets, one row per target."""
    rows: list[dict[str, Any]] = []
    rollout = results.get("rollout")
    if rollout is not None:
        largest = max(rollout["sizes"], key=lambda size: size["nodes"])
        summary = largest["summary"]
        ratio = largest["direct_to_baseline_change_ratio"]
        serial = summary["direct_change"]["servers_one_at_a_time"]
        measured = (f"N = {largest['nodes']}: {ratio:.2f} of the baseline, "
                    f"servers one at a time: {serial}")
        if largest["nodes"] < TARGET_ROLLOUT_NODES:
            measured += f" (quick run: N = {TARGET_ROLLOUT_NODES} not measured)"
        rows.append(_row(
            f"rollout wall time at N = {TARGET_ROLLOUT_NODES} at most half of the baseline's, "
            "servers restarted one at a time",
            measured,
            ratio <= 0.5 and serial if largest["nodes"] >= TARGET_ROLLOUT_NODES else None,
        ))
        sessions = max(size["summary"]["direct_change"]["max_sessions_per_node"]
                       for size in rollout["sizes"])
        rows.append(_row("at most one SSH session per changed node",
                         f"{sessions} per node at most", sessions <= 1))
        noop_restarts = max(max(size["summary"]["direct_noop"]["restarts_total"])
                            for size in rollout["sizes"])
        rows.append(_row("zero restarts on a no-op rollout", f"{noop_restarts} restarts",
                         noop_restarts == 0))
    scale = results.get("scale")
    if scale is not None:
        largest_size = max(scale["sizes"], key=lambda row: row["nodes"])
        peak_mib = max(largest_size["max_rss_mib"], largest_size["max_rss_mib_with_tracemalloc"],
                       largest_size["tracemalloc_peak_mib"])
        measured = (f"{largest_size['nodes']} nodes: {largest_size['total_seconds']:.1f} s "
                    f"(median of {len(largest_size['total_seconds_runs'])}), "
                    f"max RSS {peak_mib:.0f} MiB, the larger of the timed and traced runs")
        if largest_size["nodes"] < TARGET_NODES:
            rows.append(_row(f"{TARGET_NODES}-node evaluation under 10 s and 500 MB",
                             measured + " (quick run: 1,000 nodes not measured)", None))
        else:
            rows.append(_row(
                f"{TARGET_NODES}-node evaluation under 10 s and 500 MB",
                measured,
                largest_size["total_seconds"] < TARGET_SECONDS
                and peak_mib * 2**20 < TARGET_BYTES,
            ))
    credentials = results.get("credentials")
    if credentials is not None:
        calls = [run["fetch_count"] for run in credentials["program_runs"]]
        requests = [run["http_requests"] for run in credentials["program_runs"]]
        rows.append(_row(
            f"{TARGET_STORE_CALLS} store calls per run (50 registries, 3 secrets)",
            f"fetch_count per run {calls}, HTTP requests per run {requests}",
            all(count == TARGET_STORE_CALLS for count in calls + requests),
        ))
    return rows


def _row(target: str, measured: str, met: bool | None) -> dict[str, Any]:
    return {"target": target, "measured": measured, "met": met}


def print_summary(results: dict[str, Any], targets: list[dict[str, Any]], path: Path) -> None:
    rollout = results.get("rollout")
    if rollout is not None:
        print("rollout (median wall time; sessions and restarts per node, worst run)")
        for size in rollout["sizes"]:
            for kind, phase in size["summary"].items():
                print(f"  N={size['nodes']:>3} {kind:<16} {phase['median_seconds']:6.1f} s  "
                      f"sessions/node <= {phase['max_sessions_per_node']}  "
                      f"restarts total {phase['restarts_total']}  "
                      f"servers one at a time: {phase['servers_one_at_a_time']}")
    scale = results.get("scale")
    if scale is not None:
        print("program under mocks")
        for row in scale["sizes"]:
            marginal = row["marginal_milliseconds_per_node"]
            added = "" if marginal is None else f", {marginal:.1f} ms per added node"
            print(f"  {row['nodes']:>5} nodes {row['total_seconds']:7.2f} s median "
                  f"({row['milliseconds_per_node']:.1f} ms/node{added})  "
                  f"tracemalloc peak {row['tracemalloc_peak_mib']:.0f} MiB  "
                  f"max RSS {row['max_rss_mib']:.0f} MiB")
    print("targets")
    for row in targets:
        outcome = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        print(f"  {outcome:<12} {row['target']}: {row['measured']}")
    print(f"results: {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smaller sizes and one repeat: 5 sandbox nodes, 10 and 100 nodes "
                        "under mocks")
    parser.add_argument("--only", default=",".join(PARTS),
                        help=f"comma-separated parts to run (default: {','.join(PARTS)})")
    args = parser.parse_args()
    parts = [part.strip() for part in args.only.split(",") if part.strip()]
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        parser.error(f"unknown part(s) {', '.join(unknown)}: choose from {', '.join(PARTS)}")
    if "rollout" in parts and os.geteuid() != 0:
        parser.error("the rollout part starts sandbox nodes and needs root; run as root or "
                     "pass --only scale,credentials")

    results: dict[str, Any] = {"quick": args.quick, "machine": machine()}
    if "rollout" in parts:
        print("rollout: sandbox nodes", file=sys.stderr)
        results["rollout"] = run_part(
            "bench_rollout.py", QUICK_ROLLOUT if args.quick else FULL_ROLLOUT, 3600
        )
    if "scale" in parts:
        results["scale"] = run_scale(args.quick)
    if "credentials" in parts:
        print("credentials: moto server", file=sys.stderr)
        results["credentials"] = run_part(
            "bench_credentials.py", ["--runs", "1" if args.quick else "2"], 300
        )
    targets = check_targets(results)
    results["targets"] = targets
    path = write_result("run", results)
    print_summary(results, targets, path)


if __name__ == "__main__":
    main()
