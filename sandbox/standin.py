"""Stand-ins for ``systemctl``, ``k3s`` and RKE2's ``kubectl`` inside a sandbox node.

A small wrapper script in each node runs this file with the tool name and the
node's state directory, followed by the tool's own arguments. It uses only the
standard library, because it runs with ``python -I -S``. Every call is
appended to ``calls.jsonl`` in the state directory with its start and end
time. Unit states live in ``units/<unit>``, and the files under ``control/``
set the restart delay and the failure mode (see ``sandbox.nodes``).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

# systemctl exit codes (systemctl(1), "EXIT STATUS"): 3 = unit not active,
# 5 = unit not found.
EXIT_INACTIVE = 3
EXIT_NOT_FOUND = 5

FAIL_MODES = ("restart", "inactive", "readyz")
"""Failure modes of a bad restart: ``restart`` exits 1 and leaves the unit failed,
``inactive`` exits 0 but leaves the unit failed, ``readyz`` leaves the unit
active but makes the API readiness check fail until the next good restart."""


class Node:
    """The state directory of one sandbox node, seen from inside the node."""

    def __init__(self, state: Path) -> None:
        self.state = state
        self.info = json.loads((state / "node.json").read_text())
        self.name: str = self.info["name"]
        self.server_unit: str = self.info["unit"] if self.info["role"] == "server" else ""

    def unit_path(self, unit: str) -> Path:
        return self.state / "units" / unit.removesuffix(".service")

    def unit_state(self, unit: str) -> str:
        try:
            return self.unit_path(unit).read_text().strip()
        except FileNotFoundError:
            return "inactive"

    def set_unit_state(self, unit: str, state: str, ready: bool = True) -> None:
        self.unit_path(unit).write_text(state + "\n")
        unready = self.unit_path(unit).with_suffix(".unready")
        if ready:
            unready.unlink(missing_ok=True)
        else:
            unready.touch()

    def is_ready(self) -> bool:
        unit = self.server_unit
        return bool(unit) and self.unit_state(unit) == "active" and not (
            self.unit_path(unit).with_suffix(".unready").exists()
        )

    def restart_delay(self) -> float:
        try:
            return float((self.state / "control" / "restart-delay").read_text())
        except FileNotFoundError:
            return 0.0

    def take_failure(self) -> str | None:
        """Return the failure mode for this restart and count it down, or None."""
        path = self.state / "control" / "fail.json"
        try:
            fail = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        times = fail.get("times")
        if times is not None:
            if times <= 1:
                path.unlink(missing_ok=True)
            else:
                fail["times"] = times - 1
                path.write_text(json.dumps(fail))
        mode: str = fail["mode"]
        return mode


def systemctl(node: Node, args: list[str]) -> tuple[int, dict[str, str]]:
    """Act as ``systemctl`` for restart, start, stop and is-active."""
    words = [arg for arg in args if not arg.startswith("-")]
    quiet = "--quiet" in args or "-q" in args
    if len(words) < 2:
        print("systemctl stand-in: expected an action and a unit", file=sys.stderr)
        return 1, {}
    action, units = words[0], [unit.removesuffix(".service") for unit in words[1:]]
    detail = {"action": action, "unit": " ".join(units)}

    if action == "is-active":
        states = [node.unit_state(unit) for unit in units]
        if not quiet:
            print("\n".join(states))
        return (0 if all(state == "active" for state in states) else EXIT_INACTIVE), detail

    if action not in ("restart", "start", "stop"):
        print(f"systemctl stand-in: action {action} is not supported", file=sys.stderr)
        return 1, detail
    for unit in units:
        if not node.unit_path(unit).exists():
            print(f"Failed to {action} {unit}.service: Unit {unit}.service not found.",
                  file=sys.stderr)
            return EXIT_NOT_FOUND, detail

    for unit in units:
        if action == "stop":
            node.set_unit_state(unit, "inactive")
            continue
        node.set_unit_state(unit, "activating")
        time.sleep(node.restart_delay())
        failure = node.take_failure()
        detail["failure"] = failure or ""
        if failure == "restart":
            node.set_unit_state(unit, "failed")
            print(f"Job for {unit}.service failed because the control process exited with "
                  "error code.", file=sys.stderr)
            return 1, detail
        if failure == "inactive":
            node.set_unit_state(unit, "failed")
        else:
            node.set_unit_state(unit, "active", ready=failure != "readyz")
    return 0, detail


def readyz(node: Node, args: list[str]) -> int:
    """Act as ``kubectl get --raw=/readyz``; other kubectl commands fail."""
    if "get" not in args or "--raw=/readyz" not in args:
        print(f"kubectl stand-in: only 'get --raw=/readyz' is supported, not {args}",
              file=sys.stderr)
        return 1
    if not node.server_unit:
        print("The connection to the server localhost:8080 was refused", file=sys.stderr)
        return 1
    if not node.is_ready():
        print("Error from server (InternalError): readyz check failed", file=sys.stderr)
        return 1
    print("ok")
    return 0


def main(argv: list[str]) -> int:
    tool, state, args = argv[1], Path(argv[2]), argv[3:]
    node = Node(state)
    start = time.time()
    detail: dict[str, str] = {}

    if tool == "systemctl":
        code, detail = systemctl(node, args)
    elif tool == "k3s":
        if args[:1] == ["kubectl"]:
            code = readyz(node, args[1:])
        else:
            print(f"k3s stand-in: only 'k3s kubectl' is supported, not {args}", file=sys.stderr)
            code = 1
    elif tool == "kubectl":
        kubeconfig = args[args.index("--kubeconfig") + 1] if "--kubeconfig" in args[:-1] else ""
        if kubeconfig and not os.path.exists(kubeconfig):
            print(f"error: stat {kubeconfig}: no such file or directory", file=sys.stderr)
            code = 1
        else:
            code = readyz(node, args)
    else:
        print(f"stand-in: unknown tool {tool}", file=sys.stderr)
        code = 1

    record = {"node": node.name, "tool": tool, "args": args, **detail,
              "start": start, "end": time.time(), "exit": code}
    with open(state / "calls.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps(record) + "\n")
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv))
