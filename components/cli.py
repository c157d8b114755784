"""Command line for registries.yaml: validate, render, explain, pull-secret and rollout.

``validate``, ``render``, ``explain`` and ``pull-secret`` work offline on
files. With ``--stack NAME``, ``validate`` and ``render`` read a stack's
config and resolve its secret references instead, and ``rollout`` places
the stack's files on its nodes over SSH.

Each finding is one line with the word ``error`` or ``warning``. Findings go
to stdout for ``validate``, and to stderr where stdout carries a result
(``render``, ``explain``). Diagnostics go through :mod:`logging` to stderr.
No message contains a secret value.
Exit status: 0 valid (warnings allowed), 1 invalid input, 2 usage or I/O error.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from components.dockerconfig import dockerconfigjson, pull_secret_manifest
from components.explain import explain, format_explanation
from components.fingerprint import KEY_ENVIRONMENT_VARIABLE, cli_key
from components.model import Registries
from components.problems import ConfigError, Problem, Severity
from components.render import render, render_masked
from components.stack_commands import render_stack, rollout_stack, validate_stack
from components.validate import check_registries, load_yaml

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2

DEFAULT_SECRET_NAME = "registry-credentials"  # noqa: S105 - a Secret object name, not a password

_LOG = logging.getLogger(__name__)


class UsageError(Exception):
    """A wrong argument or an unreadable input; the command exits with status 2."""


@dataclass(frozen=True)
class CheckedInput:
    """One input after validation: its display name, the model, and every finding."""

    name: str
    registries: Registries
    problems: tuple[Problem, ...]

    @property
    def is_valid(self) -> bool:
        """Tell whether no finding is an error."""
        return not any(problem.severity is Severity.ERROR for problem in self.problems)


# -------------------------------------------------------------------- inputs


def add_input_arguments(parser: argparse.ArgumentParser, *, many: bool) -> None:
    """Add the arguments that name the inputs of a command: files, or one stack."""
    parser.add_argument(
        "files",
        metavar="FILE",
        nargs="*" if many else "?",
        help="registries.yaml file to read; '-' reads standard input",
    )
    add_stack_arguments(
        parser,
        required=False,
        help="read stacks/Pulumi.NAME.yaml and resolve its secret references instead of a FILE",
    )


def add_stack_arguments(parser: argparse.ArgumentParser, *, required: bool, help: str) -> None:
    """Add ``--stack`` and ``--project``, which locate a stack file."""
    parser.add_argument("--stack", required=required, metavar="NAME", help=help)
    parser.add_argument(
        "--project",
        default=".",
        metavar="DIR",
        help="project folder holding Pulumi.yaml and stacks/ (default: the current folder)",
    )


def check_inputs(args: argparse.Namespace) -> list[CheckedInput]:
    """Read and validate every input file that the command line names.

    Raises :class:`UsageError` for an input that cannot be read.
    """
    return [check_text(path, _read_file(path)) for path in _input_files(args)]


def _input_files(args: argparse.Namespace) -> list[str]:
    """Return the FILE arguments as a list, whether the command takes one or several."""
    if isinstance(args.files, list):
        return list(args.files)
    if args.files:
        return [args.files]
    return []


def _stack_mode(args: argparse.Namespace) -> bool:
    """Tell whether the command reads a stack; reject a stack and files together."""
    files = _input_files(args)
    if args.stack and files:
        raise UsageError("give either FILE or --stack NAME, not both")
    if not args.stack and not files:
        raise UsageError("give a FILE to read, or --stack NAME")
    return bool(args.stack)


def _project_root(args: argparse.Namespace) -> Path:
    root = Path(args.project).resolve()
    if not (root / "Pulumi.yaml").is_file():
        raise UsageError(f"no Pulumi.yaml in {root}: run from the project folder or pass --project")
    return root


def check_text(name: str, text: str) -> CheckedInput:
    """Validate registries.yaml text; YAML errors become findings, not exceptions."""
    try:
        data = load_yaml(text, name)
    except ConfigError as error:
        return CheckedInput(name, Registries(), error.problems)
    registries, problems = check_registries(data)
    return CheckedInput(name, registries, tuple(problems))


def _read_file(path: str) -> str:
    try:
        if path == "-":
            return sys.stdin.buffer.read().decode("utf-8")
        with open(path, "rb") as handle:
            return handle.read().decode("utf-8")
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"cannot read {path}: not UTF-8 text (byte {error.start})") from None


def _print_problems(checked: CheckedInput, stream: TextIO) -> None:
    for problem in checked.problems:
        print(f"{checked.name}: {problem}", file=stream)


# ------------------------------------------------------------------ commands


def _validate(args: argparse.Namespace) -> int:
    if _stack_mode(args):
        valid = validate_stack(_project_root(args), args.stack, sys.stdout)
        return EXIT_OK if valid else EXIT_INVALID
    status = EXIT_OK
    for path in args.files:
        try:
            checked = check_text(path, _read_file(path))
        except UsageError as error:
            # One unreadable file does not hide the findings of the others.
            print(f"{path}: error: {error}", file=sys.stdout)
            status = EXIT_USAGE
            continue
        _print_problems(checked, sys.stdout)
        errors = sum(problem.severity is Severity.ERROR for problem in checked.problems)
        warnings = len(checked.problems) - errors
        if errors:
            print(f"{checked.name}: invalid, {_count(errors, 'error')}", file=sys.stdout)
            status = max(status, EXIT_INVALID)
        elif warnings:
            print(f"{checked.name}: valid, {_count(warnings, 'warning')}", file=sys.stdout)
        else:
            print(f"{checked.name}: valid", file=sys.stdout)
    return status


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}" if number == 1 else f"{number} {noun}s"


def _render(args: argparse.Namespace) -> int:
    if args.masked and args.show_secrets:
        raise UsageError("--masked and --show-secrets contradict each other: give one of them")
    if _stack_mode(args):
        root = _project_root(args)
        rendered = render_stack(root, args.stack, args.show_secrets, sys.stdout, sys.stderr)
        return EXIT_OK if rendered else EXIT_INVALID
    if args.show_secrets:
        raise UsageError("--show-secrets goes with --stack; a FILE is printed as it is")
    (checked,) = check_inputs(args)
    _print_problems(checked, sys.stderr)
    if not checked.is_valid:
        return EXIT_INVALID
    if args.masked:
        sys.stdout.write(render_masked(checked.registries, cli_key()))
    else:
        sys.stdout.write(render(checked.registries))
    return EXIT_OK


def _explain(args: argparse.Namespace) -> int:
    checked = check_text(args.file, _read_file(args.file))
    _print_problems(checked, sys.stderr)
    if not checked.is_valid:
        return EXIT_INVALID
    try:
        explanation = explain(
            checked.registries, args.image, disable_default_endpoint=args.disable_default_endpoint
        )
    except ValueError as error:
        raise UsageError(f"invalid image reference {args.image!r}: {error}") from None
    sys.stdout.write(format_explanation(explanation))
    return EXIT_OK


def _rollout(args: argparse.Namespace) -> int:
    done = rollout_stack(_project_root(args), args.stack, sys.stdout, sys.stderr)
    return EXIT_OK if done else EXIT_INVALID


def _pull_secret(args: argparse.Namespace) -> int:
    if not args.password_stdin:
        raise UsageError("pass --password-stdin and write the password to standard input")
    password = _read_password(sys.stdin)
    try:
        payload = dockerconfigjson(args.server, args.username, password, args.email)
        manifest = pull_secret_manifest(args.name, args.namespace, payload)
    except ValueError as error:
        raise UsageError(str(error)) from None
    sys.stdout.write(json.dumps(manifest, indent=4) + "\n")
    return EXIT_OK


def _read_password(stream: TextIO) -> str:
    """Read the password as ``docker login --password-stdin`` does: one trailing newline dropped."""
    try:
        password = stream.read()
    except UnicodeDecodeError:
        raise UsageError("the password on standard input is not UTF-8 text") from None
    password = password.removesuffix("\n").removesuffix("\r")
    if password == "":
        raise UsageError("no password on standard input")
    return password


# -------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser with one subcommand per action."""
    parser = argparse.ArgumentParser(
        prog="python -m components",
        description="Check, render and explain K3s/RKE2 registries.yaml files, offline.",
        epilog="Exit status: 0 valid (warnings allowed), 1 invalid input, 2 usage or I/O error.",
    )
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="log more diagnostics; repeat for debug"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    validate = commands.add_parser(
        "validate",
        help="check files and list every error and warning",
        description="Check each FILE, or a stack's whole config with its secret references "
        "resolved, and print every error and warning, one per line.",
    )
    add_input_arguments(validate, many=True)
    validate.set_defaults(handler=_validate)

    render_parser = commands.add_parser(
        "render",
        help="print the normalized file",
        description="Validate FILE and print the normalized registries.yaml on stdout. With "
        "--stack, print what the stack places on its nodes, masked unless --show-secrets.",
    )
    add_input_arguments(render_parser, many=False)
    render_parser.add_argument(
        "--masked",
        action="store_true",
        help="replace each secret value by a keyed fingerprint, <secret fp:...>; the key is "
        f"{KEY_ENVIRONMENT_VARIABLE}, or a random key for this run when it is unset",
    )
    render_parser.add_argument(
        "--show-secrets",
        action="store_true",
        help="with --stack: print the real file, secret values included",
    )
    render_parser.set_defaults(handler=_render)

    rollout_parser = commands.add_parser(
        "rollout",
        help="place a stack's files on its nodes over SSH, without the Pulumi engine",
        description="Run each node's script over OpenSSH in the component's rolling order: "
        "servers one at a time, then agents in batches. A failed node stops the rollout. "
        "Nodes whose files are unchanged are not restarted.",
    )
    add_stack_arguments(
        rollout_parser,
        required=True,
        help="roll out stacks/Pulumi.NAME.yaml, its secret references resolved",
    )
    rollout_parser.set_defaults(handler=_rollout)

    explain_parser = commands.add_parser(
        "explain",
        help="show the endpoints containerd tries for an image",
        description="Show, in order, the endpoints that containerd tries for IMAGE under FILE, "
        "the repository path after rewrites, and which credentials and TLS settings apply.",
    )
    explain_parser.add_argument("file", metavar="FILE", help="registries.yaml file; '-' is stdin")
    explain_parser.add_argument("image", metavar="IMAGE", help="image reference, e.g. nginx:1.27")
    explain_parser.add_argument(
        "--disable-default-endpoint",
        action="store_true",
        help="model a node started with K3s's --disable-default-registry-endpoint",
    )
    explain_parser.set_defaults(handler=_explain)

    _add_pull_secret_parser(commands)
    return parser


def _add_pull_secret_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "pull-secret",
        help="print a kubernetes.io/dockerconfigjson Secret",
        description="Print a pull Secret manifest as JSON, with the .dockerconfigjson payload "
        "that kubectl create secret docker-registry writes. The password is read from stdin.",
    )
    parser.add_argument(
        "--server",
        required=True,
        help="registry host[:port]; a scheme and /v1/ or /v2/ are dropped, and Docker Hub "
        "becomes https://index.docker.io/v1/",
    )
    parser.add_argument("--username", required=True, help="registry username")
    parser.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from standard input (required; one trailing newline is dropped)",
    )
    parser.add_argument("--email", default="", help="e-mail address stored with the credentials")
    parser.add_argument(
        "--name",
        default=DEFAULT_SECRET_NAME,
        help=f"Secret name (default: {DEFAULT_SECRET_NAME})",
    )
    parser.add_argument(
        "--namespace", default=None, help="Secret namespace (default: none, set at apply time)"
    )
    parser.set_defaults(handler=_pull_secret)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    levels = {0: logging.WARNING, 1: logging.INFO}
    level = levels.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="%(levelname)s: %(message)s", stream=sys.stderr)
    # botocore 1.43 logs request headers at DEBUG, session tokens included.
    for library in ("botocore", "boto3", "urllib3"):
        logging.getLogger(library).setLevel(max(level, logging.INFO))
    try:
        status: int = args.handler(args)
    except UsageError as error:
        _LOG.error("%s", error)
        return EXIT_USAGE
    return status
