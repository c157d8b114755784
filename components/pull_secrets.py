"""Pull Secrets: ``kubernetes.io/dockerconfigjson`` Secrets for the registries' credentials.

Kubernetes resolves ``imagePullSecrets`` only in the pod's own namespace, so
one Secret is created in every listed namespace. The payload is byte-for-byte
what ``kubectl create secret docker-registry`` writes, so tools that compare
or parse it behave as with a hand-made Secret.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence

import pulumi
import pulumi_kubernetes as kubernetes

from components.credentials import Resolver
from components.dockerconfig import DockerCredential, dockerconfigjson_entries
from components.model import Registries
from components.problems import ConfigError, Problem
from components.stack_config import PullSecretSettings, key_path

DOCKER_HUB_HOSTS = ("registry-1.docker.io", "docker.io", "index.docker.io")
# kubectl's default --docker-server, the key kubelet's keyring reads as Docker Hub
# (k8s.io/kubernetes pkg/credentialprovider, "index.docker.io/v1/").
DOCKER_HUB_SERVER = "https://index.docker.io/v1/"


def pull_secret_credentials(registries: Registries, hosts: Sequence[str]) -> list[DockerCredential]:
    """Collect the credentials of the chosen ``configs`` hosts (all with ``auth`` when empty).

    Raises :class:`ConfigError` for a host whose credentials cannot go into a
    dockerconfigjson Secret, such as an ``identity_token``.
    """
    chosen = list(hosts) or [host for host, config in registries.configs.items() if config.auth]
    credentials: list[DockerCredential] = []
    problems: list[Problem] = []
    for host in chosen:
        auth = registries.configs[host].auth
        path = key_path(f"registries.configs.{host}.auth")
        if auth is None:
            continue
        if auth.identity_token is not None:
            problems.append(
                Problem(
                    path,
                    "an identity_token cannot go into a kubectl-style pull Secret",
                    "leave this host out of pullSecrets.registries, or use username and password",
                )
            )
            continue
        username, password = auth.username, auth.password
        if auth.auth is not None:
            username, password = _split_auth(str(auth.auth), path, problems)
        if not isinstance(username, str) or not isinstance(password, str):
            continue
        server = DOCKER_HUB_SERVER if host in DOCKER_HUB_HOSTS else host
        credentials.append(DockerCredential(server=server, username=username, password=password))
    if problems:
        raise ConfigError(problems)
    return credentials


def create_pull_secrets(
    name: str,
    settings: PullSecretSettings,
    registries: pulumi.Output[Registries],
    resolver: Resolver,
    parent: pulumi.Resource,
) -> list[kubernetes.core.v1.Secret]:
    """Create one pull Secret per namespace, and optionally patch the ``default`` ServiceAccount."""
    kubeconfig = (
        resolver.resolve_output(settings.kubeconfig, "pullSecrets.kubeconfig")
        if settings.kubeconfig is not None
        else None
    )
    provider = kubernetes.Provider(
        f"{name}-kubernetes",
        kubeconfig=kubeconfig,
        context=settings.context,
        # pulumi-kubernetes 4.x replaces a Secret whose data changed unless this
        # is set; with a fixed name that leaves a moment with no Secret at all.
        enable_secret_mutable=True,
        opts=pulumi.ResourceOptions(parent=parent),
    )
    payload: pulumi.Output[str] = pulumi.Output.secret(
        registries.apply(
            lambda value: dockerconfigjson_entries(
                pull_secret_credentials(value, settings.registries)
            )
        )
    )
    encoded = payload.apply(lambda text: base64.b64encode(text.encode()).decode())

    secrets = []
    for namespace in settings.namespaces:
        secret = kubernetes.core.v1.Secret(
            f"{name}-pull-secret-{namespace}",
            metadata=kubernetes.meta.v1.ObjectMetaArgs(name=settings.name, namespace=namespace),
            type="kubernetes.io/dockerconfigjson",
            data={".dockerconfigjson": encoded},
            opts=pulumi.ResourceOptions(parent=parent, provider=provider),
        )
        secrets.append(secret)
        if settings.patch_default_service_account:
            # NOTE: with server-side apply this patch owns the whole
            # imagePullSecrets list of the ServiceAccount; entries that another
            # field manager added may be replaced. Leave it off where other tools
            # also add pull Secrets to the default ServiceAccount.
            kubernetes.core.v1.ServiceAccountPatch(
                f"{name}-default-sa-{namespace}",
                metadata=kubernetes.meta.v1.ObjectMetaPatchArgs(
                    name="default", namespace=namespace
                ),
                image_pull_secrets=[
                    kubernetes.core.v1.LocalObjectReferencePatchArgs(name=settings.name)
                ],
                opts=pulumi.ResourceOptions(parent=parent, provider=provider, depends_on=[secret]),
            )
    return secrets


def _split_auth(encoded: str, path: str, problems: list[Problem]) -> tuple[str | None, str | None]:
    """Split an ``auth`` value (base64 of ``username:password``) into its parts."""
    try:
        decoded = base64.b64decode(encoded, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    username, separator, password = decoded.partition(":")
    if not separator:
        problems.append(
            Problem(path, "`auth` is not base64 of username:password", "set username and password")
        )
        return None, None
    return username, password
