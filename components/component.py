"""The ``RegistriesDeployment`` component: one registries.yaml on every node, and pull Secrets.

The constructor reads as the list of steps: resolve secret references, plan
the TLS files, render the file and its masked twin, roll it out node by node
in waves, then create the pull Secrets. Each step lives in its own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_command as command

from components.credentials import Resolver
from components.model import Registries, SecretText
from components.node_files import build_content, place_tls_files, registries_path
from components.node_script import build_create_script, build_delete_script
from components.pull_secrets import create_pull_secrets
from components.rollout import plan_waves, script_settings
from components.stack_config import DeploymentSettings, Node

RESOURCE_TYPE = "k3s-registries:index:RegistriesDeployment"


@dataclass(frozen=True)
class RegistriesDeploymentArgs:
    """Inputs of the component: the checked stack settings and how to resolve secrets."""

    settings: DeploymentSettings
    resolver: Resolver


class RegistriesDeployment(pulumi.ComponentResource):
    """Places one registries.yaml (and TLS files) on every node and keeps pull Secrets in step."""

    masked_registries: pulumi.Output[str]
    """The rendered file with every secret value replaced by a fingerprint."""

    rollout_order: pulumi.Output[list[list[str]]]
    """Node names per wave, in the order the waves run."""

    node_commands: dict[str, command.remote.Command]
    """The command that places the files on each node, by node name."""

    def __init__(
        self,
        name: str,
        args: RegistriesDeploymentArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(RESOURCE_TYPE, name, None, opts)
        self._resource_name = name
        settings = args.settings
        resolver = args.resolver

        for warning in settings.warnings:
            pulumi.log.warn(str(warning), resource=self)

        registries, tls_files = place_tls_files(
            settings.registries, settings.tls, settings.distribution
        )
        resolved = resolver.resolve_registries(registries, "registries")
        fingerprint_key = _fingerprint_key(resolver, settings.fingerprint_key)

        tls_contents = [
            resolver.resolve_output(planned.content, planned.config_key) for planned in tls_files
        ]
        content = pulumi.Output.all(resolved, fingerprint_key, *tls_contents).apply(
            lambda values: build_content(
                values[0], tls_files, values[2:], settings.distribution, values[1]
            )
        )
        payload: pulumi.Output[str] = pulumi.Output.secret(content.apply(lambda c: c.payload))
        masked = pulumi.Output.unsecret(content.apply(lambda c: c.masked))
        summary = pulumi.Output.unsecret(content.apply(lambda c: c.summary))

        placed_paths = [planned.path for planned in tls_files]
        placed_paths.append(registries_path(settings.distribution))
        waves = plan_waves(settings.nodes, settings.rollout.agent_batch_size)
        self.node_commands = {}
        previous: list[pulumi.Resource] = []
        # NOTE: pulumi 3.272's cycle check walks every resource that a
        # depends_on entry reaches, and each node depends on the whole wave
        # before it. Evaluation therefore grows faster than the node count:
        # about 10 s for 1,000 nodes in batches of 5 (docs/benchmarks.md).
        for wave in waves:
            current = [
                self._node_command(
                    node,
                    settings=settings,
                    resolver=resolver,
                    payload=payload,
                    summary=summary,
                    placed_paths=placed_paths,
                    previous=previous,
                )
                for node in wave
            ]
            previous = list(current)

        secrets = []
        if settings.pull_secrets is not None:
            secrets = create_pull_secrets(
                name, settings.pull_secrets, resolved, resolver, parent=self
            )

        self.masked_registries = masked
        self.rollout_order = pulumi.Output.from_input(
            [[node.name for node in wave] for wave in waves]
        )
        self.register_outputs(
            {
                "maskedRegistries": masked,
                "rolloutOrder": self.rollout_order,
                "nodes": [node.name for node in settings.nodes],
                "pullSecrets": [secret.metadata.apply(_secret_id) for secret in secrets],
            }
        )

    def _node_command(
        self,
        node: Node,
        *,
        settings: DeploymentSettings,
        resolver: Resolver,
        payload: pulumi.Output[str],
        summary: pulumi.Output[str],
        placed_paths: Sequence[str],
        previous: Sequence[pulumi.Resource],
    ) -> command.remote.Command:
        """Create the one command that places the files on ``node`` and restarts it."""
        node_settings = script_settings(node, settings)
        if node.host_key is None:
            pulumi.log.warn(
                f"node {node.name}: no hostKey is set, so the SSH host key of {node.host} is not "
                "checked; set nodes[].hostKey to the node's /etc/ssh/ssh_host_ed25519_key.pub line",
                resource=self,
            )

        resource = command.remote.Command(
            f"{self._resource_name}-{node.name}",
            connection=_connection(node, settings, resolver),
            create=summary.apply(lambda text: build_create_script(node_settings, text)),
            delete=build_delete_script(node_settings, placed_paths, settings.rollout.on_delete),
            stdin=payload,
            # pulumi-command 1.2 logs stdout and stderr by default; the script
            # prints no content, but nothing from a node reaches the logs unasked.
            logging=command.remote.Logging.NONE,
            # The default (true) sends the previous output with SSH setenv,
            # which a default sshd refuses (no AcceptEnv).
            add_previous_output_in_env=False,
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(previous),
                additional_secret_outputs=["stdin"],
            ),
        )
        self.node_commands[node.name] = resource
        return resource


def _fingerprint_key(resolver: Resolver, key: SecretText | None) -> pulumi.Output[bytes]:
    if key is None:
        return pulumi.Output.from_input(b"")
    return resolver.resolve_output(key, "fingerprintKey").apply(lambda text: text.encode())


def _connection(
    node: Node, settings: DeploymentSettings, resolver: Resolver
) -> command.remote.ConnectionArgs:
    ssh = settings.ssh
    private_key = node.private_key or ssh.private_key
    # Secret errors name the key as the stack file writes it, nodes[INDEX].
    where = f"nodes[{settings.nodes.index(node)}]"
    proxy = None
    if ssh.bastion is not None:
        bastion = ssh.bastion
        bastion_key = bastion.private_key or ssh.private_key
        proxy = command.remote.ProxyConnectionArgs(
            host=bastion.host,
            port=bastion.port,
            user=bastion.user or ssh.user,
            private_key=_secret_or_none(resolver, bastion_key, "ssh.bastion.privateKey"),
            host_key=_secret_or_none(resolver, bastion.host_key, "ssh.bastion.hostKey"),
            per_dial_timeout=ssh.per_dial_timeout,
            dial_error_limit=ssh.dial_error_limit,
        )
    return command.remote.ConnectionArgs(
        host=node.host,
        port=node.port,
        user=node.user or ssh.user,
        private_key=_secret_or_none(resolver, private_key, f"{where}.privateKey"),
        host_key=_secret_or_none(resolver, node.host_key, f"{where}.hostKey"),
        proxy=proxy,
        per_dial_timeout=ssh.per_dial_timeout,
        dial_error_limit=ssh.dial_error_limit,
    )


def _secret_or_none(
    resolver: Resolver, value: SecretText | None, key: str
) -> pulumi.Output[str] | None:
    return None if value is None else resolver.resolve_output(value, key)


def _secret_id(metadata: object) -> str:
    namespace = getattr(metadata, "namespace", None) or ""
    name = getattr(metadata, "name", None) or ""
    return f"{namespace}/{name}"


__all__ = ["RESOURCE_TYPE", "Registries", "RegistriesDeployment", "RegistriesDeploymentArgs"]
