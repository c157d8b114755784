"""The CLI's ``--stack`` commands: check, render and roll out a stack outside the engine.

They read ``stacks/Pulumi.<stack>.yaml``, resolve every secret reference
as the program does, and build the same node content, so what they print is
what ``pulumi up`` would place. Values stay masked unless ``--show-secrets`` is given.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TextIO

from components.credentials import PulumiConfigSource, Resolver
from components.direct_rollout import (
    NodeResult,
    prepare_content,
    resolve_connections,
    run_rollout,
)
from components.node_files import NodeContent
from components.problems import ConfigError, Problem
from components.stack_config import PROJECT, DeploymentSettings, parse_settings
from components.stack_file import load_stack_config

_LOG = logging.getLogger(__name__)


def load_stack(project_root: Path, stack: str) -> tuple[DeploymentSettings, Resolver]:
    """Read and check a stack's config; return it with a resolver for its references.

    Raises :class:`ConfigError` for an unreadable stack file or bad config.
    """
    config = load_stack_config(project_root, stack)
    settings = parse_settings(
        config.project_values(),
        secret_keys=config.project_secret_keys(),
        source=f"stack {stack}",
    )
    config_source = PulumiConfigSource(PROJECT, lookup=config.lookup, is_secret=config.is_secret)
    resolver = Resolver(project_root=project_root, project=PROJECT, sources=[config_source])
    return settings, resolver


def validate_stack(project_root: Path, stack: str, out: TextIO) -> bool:
    """Check the config, resolve every reference and check the resolved file; print findings."""
    try:
        settings, resolver = load_stack(project_root, stack)
        _print(out, stack, settings.warnings)
        problems = _resolve_all(settings, resolver)
    except ConfigError as error:
        problems = list(error.problems)
    if problems:
        _print(out, stack, problems)
        print(f"stack {stack}: invalid, {_count(len(problems), 'error')}", file=out)
        return False
    print(f"stack {stack}: valid, {_count(len(settings.nodes), 'node')}", file=out)
    return True


def _resolve_all(settings: DeploymentSettings, resolver: Resolver) -> list[Problem]:
    """Resolve every reference, of the content and of the SSH settings; return the failures."""
    problems: list[Problem] = []
    for resolve in (prepare_content, resolve_connections):
        try:
            resolve(settings, resolver)
        except ConfigError as error:
            problems.extend(error.problems)
    return problems


def render_stack(
    project_root: Path, stack: str, show_secrets: bool, out: TextIO, err: TextIO
) -> bool:
    """Print the registries.yaml that the stack places: masked, or real with ``show_secrets``."""
    content = _content(project_root, stack, err)
    if content is None:
        return False
    out.write(content.files[-1].content if show_secrets else content.summary)
    return True


def rollout_stack(project_root: Path, stack: str, out: TextIO, err: TextIO) -> bool:
    """Roll the stack out over SSH in waves; print one line per node as results arrive."""
    try:
        settings, resolver = load_stack(project_root, stack)
    except ConfigError as error:
        _print(err, stack, error.problems)
        return False
    _print(err, stack, settings.warnings)

    def report(result: NodeResult) -> None:
        timing = f" ({result.seconds:.1f} s)" if result.status != "skipped" else ""
        print(f"node {result.node}: {result.status}{timing}", file=out, flush=True)
        if result.status == "failed" and result.output:
            for line in result.output.splitlines():
                print(f"  {line}", file=out)

    try:
        results = run_rollout(settings, resolver, report=report)
    except ConfigError as error:
        _print(err, stack, error.problems)
        return False
    except KeyboardInterrupt:
        print(
            f"stack {stack}: rollout interrupted; nodes reported above keep what they got, "
            "and a node being updated finishes its own script. Run rollout again to converge.",
            file=err,
        )
        return False
    return all(result.status in ("changed", "unchanged") for result in results)


def _content(project_root: Path, stack: str, err: TextIO) -> NodeContent | None:
    try:
        settings, resolver = load_stack(project_root, stack)
        _print(err, stack, settings.warnings)
        return prepare_content(settings, resolver)
    except ConfigError as error:
        _print(err, stack, error.problems)
        return None


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _print(stream: TextIO, stack: str, problems: tuple[Problem, ...] | list[Problem]) -> None:
    for problem in problems:
        print(f"stack {stack}: {problem}", file=stream)
