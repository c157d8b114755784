"""Command line for sandbox nodes and the sandbox registry.

``python -m sandbox start|stop|status|fail|delay|calls|registry``
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
from dataclasses import replace

from sandbox.nodes import NodeSpec, Sandbox, SandboxError, start_nodes
from sandbox.registry import add_registry_parser, run_registry_command
from sandbox.standin import FAIL_MODES

log = logging.getLogger("sandbox")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m sandbox",
        description="Start, inspect and stop sandbox K3s/RKE2 nodes (sshd on 127.0.0.1).",
    )
    parser.add_argument("--dir", default=".sandbox/default",
                        help="sandbox directory with inventory.json (default: %(default)s)")
    commands = parser.add_subparsers(dest="command", required=True)

    start = commands.add_parser("start", help="start nodes and write inventory.json")
    start.add_argument("--nodes", required=True,
                       help="comma-separated name:role[:distribution], "
                            "such as s1:server,s2:server,a1:agent")
    start.add_argument("--distribution", choices=["k3s", "rke2"], default="k3s",
                       help="distribution of nodes that do not name one (default: %(default)s)")
    start.add_argument("--base-port", type=int, default=None,
                       help="give the i-th node port BASE_PORT+i on 127.0.0.1, with no retry "
                            "on another port (default: free ports)")

    stop = commands.add_parser("stop", help="stop every node process")
    stop.add_argument("--remove", action="store_true",
                      help="also delete the sandbox directory")

    commands.add_parser("status", help="show whether each node runs and accepts SSH connections")

    fail = commands.add_parser("fail", help="make restarts on a node fail")
    fail.add_argument("--node", required=True)
    fail.add_argument("--mode", choices=[*FAIL_MODES, "none"], required=True,
                      help="restart: systemctl restart exits 1; inactive: the unit is failed "
                           "after restart; readyz: the API readiness check fails; "
                           "none: restarts succeed again")
    fail.add_argument("--times", type=int, default=None,
                      help="number of restarts that fail (default: all)")

    delay = commands.add_parser("delay", help="make restarts on a node take time")
    delay.add_argument("--node", required=True)
    delay.add_argument("--seconds", type=float, required=True,
                       help="duration of each restart, in seconds")

    calls = commands.add_parser("calls", help="print the recorded stand-in calls as JSON lines")
    calls.add_argument("--node", required=True)

    add_registry_parser(commands)

    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="sandbox: %(message)s")
    try:
        return _run(args)
    except SandboxError as error:
        log.error("%s", error)
        return 1


def _run(args: argparse.Namespace) -> int:
    if args.command == "registry":
        return run_registry_command(args)
    if args.command == "start":
        specs = [NodeSpec.parse(text.strip(), args.distribution)
                 for text in args.nodes.split(",") if text.strip()]
        if args.base_port is not None:
            specs = [replace(spec, port=args.base_port + index)
                     for index, spec in enumerate(specs)]
        sandbox = start_nodes(specs, args.dir)
        print(sandbox.directory / "inventory.json")
        return 0

    sandbox = Sandbox.load(args.dir)
    if args.command == "stop":
        sandbox.stop()
        if args.remove:
            shutil.rmtree(sandbox.directory)
            log.info("removed %s", sandbox.directory)
    elif args.command == "status":
        report = sandbox.status()
        print(f"{'NODE':<12} {'ROLE':<7} {'DIST':<5} {'PORT':>6} {'PROCS':>5} ANSWERING")
        for entry in report:
            print(f"{entry['name']:<12} {entry['role']:<7} {entry['distribution']:<5} "
                  f"{entry['port']:>6} {entry['processes']:>5} {entry['answering']}")
        return 0 if all(entry["answering"] for entry in report) else 3
    elif args.command == "fail":
        if args.mode == "none":
            sandbox.clear_fail(args.node)
        else:
            sandbox.set_fail(args.node, args.mode, args.times)
    elif args.command == "delay":
        sandbox.set_restart_delay(args.node, args.seconds)
    elif args.command == "calls":
        for call in sandbox.calls(args.node):
            print(json.dumps(call))
    return 0


if __name__ == "__main__":
    sys.exit(main())
