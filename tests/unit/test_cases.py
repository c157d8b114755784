"""Field examples in tests/fixtures/cases, each run through the command line.

Each YAML file contains a registries.yaml that people got wrong (or right) and
the expected outcome: ``result`` (invalid, valid, warning, or a list of
allowed results), strings the findings must ``mention``, a subset of the
``rendered`` output, or the decoded ``secret`` of a pull Secret.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from cli_runner import REPOSITORY, run_cli

FIXTURES = REPOSITORY / "tests" / "fixtures" / "cases"
FINDING = re.compile(r": (error|warning): ")


def load_example(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def example_files(kind: str) -> list[Path]:
    return [path for path in sorted(FIXTURES.glob("*.yaml")) if kind in load_example(path)]


def severities(output: str) -> set[str]:
    return {match.group(1) for match in FINDING.finditer(output)}


def is_subset(expected: object, actual: object) -> bool:
    """Tell whether ``expected`` is contained in ``actual``; lists must be equal."""
    if isinstance(expected, Mapping):
        return isinstance(actual, Mapping) and all(
            key in actual and is_subset(value, actual[key]) for key, value in expected.items()
        )
    return expected == actual


def secret_values(data: object) -> list[str]:
    """Collect every value under an ``auth`` mapping of a registries.yaml structure."""
    found: list[str] = []
    if isinstance(data, Mapping):
        for key, value in data.items():
            if key == "auth" and isinstance(value, Mapping):
                found.extend(str(item) for item in value.values() if item)
            else:
                found.extend(secret_values(value))
    return found


def test_fixtures_match_field_examples() -> None:
    assert len(list(FIXTURES.glob("*.yaml"))) == 12


@pytest.mark.parametrize("path", example_files("input"), ids=lambda path: path.stem)
def test_validate_outcome(path: Path, tmp_path: Path) -> None:
    example = load_example(path)
    expect = example["expect"]
    allowed = expect["result"] if isinstance(expect["result"], list) else [expect["result"]]
    target = tmp_path / "registries.yaml"
    target.write_text(example["input"], encoding="utf-8")

    completed = run_cli("validate", str(target))
    found = severities(completed.stdout)
    if "error" in found:
        outcome = "invalid"
    elif "warning" in found:
        outcome = "warning"
    else:
        outcome = "valid"

    assert outcome in allowed, completed.stdout
    assert completed.returncode == (1 if outcome == "invalid" else 0), completed.stdout
    for text in expect.get("mentions", []):
        assert text in completed.stdout, f"{text!r} missing from:\n{completed.stdout}"


@pytest.mark.parametrize("path", example_files("input"), ids=lambda path: path.stem)
def test_output_hides_secrets(path: Path, tmp_path: Path) -> None:
    example = load_example(path)
    target = tmp_path / "registries.yaml"
    target.write_text(example["input"], encoding="utf-8")

    completed = run_cli("validate", str(target))

    for value in secret_values(yaml.safe_load(example["input"])):
        assert value not in completed.stdout
        assert value not in completed.stderr


@pytest.mark.parametrize(
    "path",
    [path for path in example_files("input") if "rendered" in load_example(path)["expect"]],
    ids=lambda path: path.stem,
)
def test_rendered_subset(path: Path, tmp_path: Path) -> None:
    example = load_example(path)
    target = tmp_path / "registries.yaml"
    target.write_text(example["input"], encoding="utf-8")

    completed = run_cli("render", str(target))

    assert completed.returncode == 0, completed.stderr
    rendered = yaml.safe_load(completed.stdout)
    assert is_subset(example["expect"]["rendered"], rendered), completed.stdout


@pytest.mark.parametrize("path", example_files("pull_secret"), ids=lambda path: path.stem)
def test_pull_secret_payload(path: Path) -> None:
    example = load_example(path)
    request = example["pull_secret"]
    args = ["pull-secret", "--server", request["server"], "--username", request["username"]]
    if request.get("email"):
        args += ["--email", request["email"]]

    completed = run_cli(*args, "--password-stdin", stdin=request["password"] + "\n")

    assert completed.returncode == 0, completed.stderr
    manifest = json.loads(completed.stdout)
    payload = base64.b64decode(manifest["data"][".dockerconfigjson"]).decode("utf-8")
    assert payload == example["expect"]["secret"]
    assert manifest["type"] == "kubernetes.io/dockerconfigjson"
