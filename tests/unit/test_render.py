"""Rendering: quoting, key order, dropped endpoints, round trip, masking, and secret references."""

from __future__ import annotations

import string

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from components.fingerprint import fingerprint
from components.model import TLS, Auth, Mirror, Registries, RegistryConfig, SecretRef
from components.render import intended_structure, render, render_masked
from components.validate import load_registries_text

KEY = b"test-fingerprint-key-0123456789"

YAML_LOOKALIKES = [
    "*",
    "&anchor",
    "!tag",
    "@at",
    "%percent",
    "`tick",
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "true",
    "False",
    "null",
    "~",
    "",
    "0x1",
    "0o17",
    "017",
    "1e3",
    "1_000",
    ".inf",
    "-.nan",
    "2024-01-01",
    "12:30:45",
    "a: b",
    "a #b",
    "#comment",
    "- item",
    "? key",
    "[list]",
    "{map}",
    "'single'",
    '"double"',
    "back\\slash",
    " leading",
    "trailing ",
    "tab\there",
    "line\nbreak",
    "robot$user1",
    "p@ss:w0rd #1",
    "<>&",
    "ünïcödé",
    "\u2028",
    "\x85",
]


def config_with(username: str, password: str) -> Registries:
    return Registries(
        configs={
            "registry.example.test": RegistryConfig(auth=Auth(username=username, password=password))
        }
    )


def reparse(text: str) -> object:
    return yaml.safe_load(text)


@pytest.mark.parametrize("value", YAML_LOOKALIKES)
def test_lookalike_values_survive(value: str) -> None:
    text = render(config_with(value, value))

    auth = reparse(text)["configs"]["registry.example.test"]["auth"]  # type: ignore[index]
    assert auth == {"username": value, "password": value}


@pytest.mark.parametrize("key", ["*", "docker.io", "localhost:5000", "10.0.0.10:5000"])
def test_mirror_keys_survive(key: str) -> None:
    registries = Registries(mirrors={key: Mirror(endpoints=("https://mirror.example.test",))})

    parsed = reparse(render(registries))

    assert parsed == {"mirrors": {key: {"endpoint": ["https://mirror.example.test"]}}}


def test_every_string_double_quoted() -> None:
    registries = Registries(
        mirrors={"*": Mirror(endpoints=("https://m.example.test",), rewrite={"^(.*)$": "x/$1"})},
        configs={
            "m.example.test": RegistryConfig(
                tls=TLS(ca_file="/etc/ca.crt", insecure_skip_verify=False)
            )
        },
    )

    text = render(registries)

    assert '"*":' in text
    assert '"endpoint":' in text
    assert '"^(.*)$": "x/$1"' in text
    assert '"insecure_skip_verify": false' in text
    assert "'" not in text


def test_rendering_is_deterministic() -> None:
    first = Registries(
        mirrors={"quay.io": Mirror(endpoints=("https://q.example.test",)), "docker.io": Mirror()},
        configs={"b.example.test": RegistryConfig(), "a.example.test": RegistryConfig()},
    )
    second = Registries(
        mirrors={"docker.io": Mirror(), "quay.io": Mirror(endpoints=("https://q.example.test",))},
        configs={"a.example.test": RegistryConfig(), "b.example.test": RegistryConfig()},
    )

    assert render(first) == render(second)


def test_fixed_field_order() -> None:
    registries = Registries(
        mirrors={
            "docker.io": Mirror(
                endpoints=("https://m.example.test",), rewrite={"^b": "b", "^a": "a"}
            )
        },
        configs={
            "m.example.test": RegistryConfig(
                auth=Auth(password="pw", username="robot"),
                tls=TLS(insecure_skip_verify=True, key_file="/k", cert_file="/c", ca_file="/ca"),
            )
        },
    )

    structure = intended_structure(registries)

    assert list(structure) == ["mirrors", "configs"]
    assert list(structure["mirrors"]["docker.io"]) == ["endpoint", "rewrite"]
    assert list(structure["mirrors"]["docker.io"]["rewrite"]) == ["^a", "^b"]
    config = structure["configs"]["m.example.test"]
    assert list(config) == ["auth", "tls"]
    assert list(config["auth"]) == ["username", "password"]
    assert list(config["tls"]) == ["ca_file", "cert_file", "key_file", "insecure_skip_verify"]


def test_long_values_not_folded() -> None:
    long_password = "x" * 500 + " " + "y" * 500

    text = render(config_with("robot", long_password))

    assert long_password in text


def test_default_and_duplicate_endpoints_dropped() -> None:
    text = """\
mirrors:
  docker.io:
    endpoint:
      - https://registry-1.docker.io
      - https://mirror.example.test
      - https://mirror.example.test/v2
  registry.example.test:
    endpoint:
      - https://registry.example.test
  localhost:5000:
    endpoint:
      - http://localhost:5000
"""
    registries, _ = load_registries_text(text, "test.yaml")

    parsed = reparse(render(registries))

    # A default endpoint listed last is kept: it is then the node's route
    # upstream even with --disable-default-registry-endpoint.
    assert parsed == {
        "mirrors": {
            "docker.io": {"endpoint": ["https://mirror.example.test"]},
            "localhost:5000": {"endpoint": ["http://localhost:5000"]},
            "registry.example.test": {"endpoint": ["https://registry.example.test"]},
        }
    }


def test_render_uses_singular_keys() -> None:
    registries = Registries(mirrors={"docker.io": Mirror(endpoints=("https://m.example.test",))})

    text = render(registries)

    assert '"endpoint":' in text
    assert "endpoints" not in text


def test_empty_model_renders_empty_mapping() -> None:
    assert reparse(render(Registries())) == {}


def test_unresolved_reference_rejected() -> None:
    registries = config_with("robot", "placeholder").map_secrets(
        lambda path, value: SecretRef("env:PASSWORD") if path.endswith("password") else value
    )

    with pytest.raises(TypeError) as raised:
        render(registries)

    assert 'configs."registry.example.test".auth.password' in str(raised.value)


def test_masked_shows_fingerprints() -> None:
    registries = config_with("robot", "s3cret-password")

    parsed = reparse(render_masked(registries, KEY))

    auth = parsed["configs"]["registry.example.test"]["auth"]  # type: ignore[index]
    assert auth["username"] == f"<secret fp:{fingerprint('robot', KEY)}>"
    assert auth["password"] == f"<secret fp:{fingerprint('s3cret-password', KEY)}>"


def test_masked_hides_values() -> None:
    text = render_masked(config_with("robot-user", "s3cret-password"), KEY)

    assert "robot-user" not in text
    assert "s3cret-password" not in text


def test_masked_shows_references() -> None:
    registries = Registries(
        configs={
            "registry.example.test": RegistryConfig(
                auth=Auth(username="robot", password=SecretRef("env:REGISTRY_PASSWORD"))
            )
        }
    )

    parsed = reparse(render_masked(registries, KEY))

    auth = parsed["configs"]["registry.example.test"]["auth"]  # type: ignore[index]
    assert auth["password"] == "<secret ref:env:REGISTRY_PASSWORD>"


def test_masked_changes_with_secret() -> None:
    first = render_masked(config_with("robot", "password-one"), KEY)
    second = render_masked(config_with("robot", "password-two"), KEY)

    assert first != second


# ------------------------------------------------------------ property tests

printable_text = st.text(
    alphabet=st.characters(codec="utf-8", categories=["L", "M", "N", "P", "S", "Zs"])
)
label = st.text(alphabet=string.ascii_lowercase + string.digits, min_size=1, max_size=20)
host = st.builds(
    lambda labels, port: ".".join(labels) + (f":{port}" if port else ""),
    st.lists(label, min_size=1, max_size=4),
    st.one_of(st.none(), st.integers(min_value=1, max_value=65535)),
)


@settings(max_examples=300, deadline=None)
@given(username=printable_text, password=printable_text)
def test_printable_credentials_round_trip(username: str, password: str) -> None:
    parsed = reparse(render(config_with(username, password)))

    auth = parsed["configs"]["registry.example.test"]["auth"]  # type: ignore[index]
    assert auth.get("username", "") == username
    assert auth.get("password", "") == password


@settings(max_examples=200, deadline=None)
@given(
    keys=st.lists(st.one_of(host, st.just("*")), min_size=1, max_size=5, unique=True),
    secret=printable_text,
)
def test_mirror_keys_round_trip(keys: list[str], secret: str) -> None:
    registries = Registries(
        mirrors={key: Mirror(endpoints=("https://mirror.example.test",)) for key in keys},
        configs={key: RegistryConfig(auth=Auth(identity_token=secret or "x")) for key in keys},
    )

    parsed = reparse(render(registries))

    assert parsed == intended_structure(registries)
    assert set(parsed["mirrors"]) == set(keys)  # type: ignore[index]
