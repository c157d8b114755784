"""Order the nodes into rollout waves: servers one at a time, then agents in batches.

Each wave starts only after every node of the previous wave is healthy. K3s
servers with embedded etcd lose quorum when several restart at once, so each
server gets a wave of its own. Agents carry no control plane and go in batches.
"""

from __future__ import annotations

from collections.abc import Sequence

from components.node_script import ScriptSettings
from components.stack_config import DeploymentSettings, Node


def plan_waves(nodes: Sequence[Node], agent_batch_size: int) -> list[list[Node]]:
    """Split the nodes into waves, keeping the order in which they are listed."""
    if agent_batch_size < 1:
        raise ValueError(f"agent batch size must be at least 1, got {agent_batch_size}")

    servers = [node for node in nodes if node.role == "server"]
    agents = [node for node in nodes if node.role == "agent"]
    waves = [[server] for server in servers]
    for start in range(0, len(agents), agent_batch_size):
        waves.append(agents[start : start + agent_batch_size])
    return waves


def script_settings(node: Node, settings: DeploymentSettings) -> ScriptSettings:
    """Return the node script settings for one node: its unit, sudo and health check."""
    rollout = settings.rollout
    role_check = (
        rollout.server_health_check if node.role == "server" else rollout.agent_health_check
    )
    return ScriptSettings(
        node=node.name,
        distribution=settings.distribution,
        role=node.role,
        sudo=(node.user or settings.ssh.user) != "root",
        health_check=node.health_check or role_check,
        health_timeout=rollout.health_timeout,
        restart=rollout.restart,
    )
