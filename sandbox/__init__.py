"""Sandbox K3s/RKE2 nodes for tests: real sshd processes with stand-in services.

See ``sandbox.nodes`` for how a node is built and docs/sandbox.md for usage.
"""

from sandbox.nodes import (
    PASSWORD_SUDO_USER,
    SUDO_USER,
    NodeInfo,
    NodeSpec,
    Sandbox,
    SandboxError,
    check_requirements,
    start_nodes,
)

__all__ = [
    "PASSWORD_SUDO_USER",
    "SUDO_USER",
    "NodeInfo",
    "NodeSpec",
    "Sandbox",
    "SandboxError",
    "check_requirements",
    "start_nodes",
]
