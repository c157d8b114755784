"""Validation of registries.yaml: YAML loading, every kind of error, and secret references."""

from __future__ import annotations

import textwrap

import pytest

from components.model import SecretRef
from components.problems import ConfigError, Problem, Severity
from components.validate import (
    check_registries,
    load_registries_text,
    load_yaml,
    parse_registries,
)

SECRET = "Sup3r-Secret-Value"


def findings(text: str, *, allow_references: bool = False) -> list[Problem]:
    """Return every error and warning for registries.yaml text, YAML errors included."""
    try:
        data = load_yaml(textwrap.dedent(text))
    except ConfigError as error:
        return list(error.problems)
    return check_registries(data, allow_references=allow_references)[1]


def errors(text: str, **options: bool) -> list[Problem]:
    return [problem for problem in findings(text, **options) if problem.severity is Severity.ERROR]


def rendered(problems: list[Problem]) -> str:
    return "\n".join(str(problem) for problem in problems)


def assert_error(text: str, *expected: str) -> None:
    """Assert that ``text`` has an error whose text contains every expected string."""
    found = errors(text)
    assert found, f"no error for:\n{text}"
    output = rendered(found)
    for part in expected:
        assert part in output, f"{part!r} missing from:\n{output}"


# ------------------------------------------------------------- YAML loading


def test_empty_document_is_empty_model() -> None:
    registries, warnings = load_registries_text("", "empty.yaml")

    assert registries.mirrors == {}
    assert registries.configs == {}
    assert warnings == []


def test_byte_order_mark_rejected() -> None:
    assert_error("\ufeffmirrors: {}\n", "byte order mark", "line 1")


def test_tab_indentation_rejected() -> None:
    assert_error("mirrors:\n\tdocker.io: {}\n", "tab", "line 2")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mirrors: {}\nmirrors: {}\n", "duplicate key 'mirrors'"),
        ("mirrors:\n  docker.io: {}\n  docker.io: {}\n", "duplicate key 'docker.io'"),
        ("configs:\n  h.example.test:\n    auth: {username: a, username: b}\n", "duplicate key"),
    ],
)
def test_duplicate_keys_rejected(text: str, expected: str) -> None:
    assert_error(text, expected)


@pytest.mark.parametrize(
    ("key", "kind"),
    [("1", "a number"), ("yes", "a boolean"), ("on", "a boolean"), ("null", "null"), ("~", "null")],
)
def test_non_string_keys_rejected(key: str, kind: str) -> None:
    assert_error(f"mirrors:\n  {key}:\n    endpoint: [https://m.example.test]\n", kind, "quote it")


def test_syntax_error_has_position() -> None:
    problems = errors("mirrors:\n  docker.io: [unclosed\n")

    assert len(problems) == 1
    assert problems[0].path.startswith("line ")
    assert "column" in problems[0].path


def test_syntax_error_hides_values() -> None:
    text = f"configs:\n  h.example.test:\n    auth:\n      password: {SECRET}: extra\n"

    output = rendered(errors(text))

    assert "line 4" in output
    assert SECRET not in output


def test_several_documents_rejected() -> None:
    assert_error("mirrors: {}\n---\nconfigs: {}\n", "invalid YAML")


def test_alias_bomb_rejected() -> None:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, 9):
        previous = f"*a{level - 1}"
        lines.append(f"a{level}: &a{level} [{', '.join([previous] * 10)}]")
    assert_error("\n".join(lines) + "\n", "aliases")


def test_anchors_and_merge_keys_accepted() -> None:
    text = """\
    mirrors:
      docker.io:
        endpoint: &shared [https://mirror.example.test]
      quay.io:
        endpoint: *shared
    configs:
      base: &base
        tls: {insecure_skip_verify: false}
      mirror.example.test:
        <<: *base
    """
    registries, _ = load_registries_text(textwrap.dedent(text), "anchors.yaml")

    assert registries.mirrors["quay.io"].endpoints == ("https://mirror.example.test",)
    assert registries.configs["mirror.example.test"].tls is not None


def test_errors_carry_source() -> None:
    with pytest.raises(ConfigError) as raised:
        load_registries_text("mirrors: []\n", "nodes/registries.yaml")

    assert raised.value.source == "nodes/registries.yaml"
    assert str(raised.value).startswith("nodes/registries.yaml: error: mirrors")


def test_every_error_reported_at_once() -> None:
    text = """\
    mirrors:
      "": {}
      docker.io:
        endpoints: [https://m.example.test]
        endpoint: [m.example.test]
    configs:
      h.example.test:
        tls: {cert_file: relative.crt}
    """
    with pytest.raises(ConfigError) as raised:
        load_registries_text(textwrap.dedent(text), "many.yaml")

    paths = [problem.path for problem in raised.value.problems]
    assert 'mirrors.""' in paths
    assert 'mirrors."docker.io".endpoints' in paths
    assert 'mirrors."docker.io".endpoint[0]' in paths
    assert 'configs."h.example.test".tls.cert_file' in paths
    assert all(problem.severity is Severity.ERROR for problem in raised.value.problems)


# ------------------------------------------------------------- unknown keys


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        ("mirrors: {docker.io: {endpoints: [https://m.example.test]}}", "endpoints", "'endpoint'"),
        (
            'mirrors: {docker.io: {"endpoint ": [https://m.example.test]}}',
            "endpoint ",
            "'endpoint'",
        ),
        ("mirrors: {docker.io: {Endpoint: [https://m.example.test]}}", "Endpoint", "'endpoint'"),
        ("mirrors: {docker.io: {endpiont: [https://m.example.test]}}", "endpiont", "'endpoint'"),
        ('mirrors: {docker.io: {"rewrites": {"^a": "b"}}}', "rewrites", "'rewrite'"),
        ("mirror: {docker.io: {}}", "mirror", "'mirrors'"),
        ("config: {h.example.test: {}}", "config", "'configs'"),
        ("configs: {h.example.test: {auth: {user: a, password: b}}}", "user", "'username'"),
        (
            "configs: {h.example.test: {auth: {identitytoken: a}}}",
            "identitytoken",
            "'identity_token'",
        ),
        ("configs: {h.example.test: {tls: {ca: /a.crt}}}", "ca", "'ca_file'"),
        (
            "configs: {h.example.test: {tls: {insecureSkipVerify: true}}}",
            "insecureSkip",
            "'insecure_skip_verify'",
        ),
        (
            "configs: {h.example.test: {tls: {skip_verify: true}}}",
            "skip_verify",
            "'insecure_skip_verify'",
        ),
        ("mirrors: {docker.io: {auth: {username: a}}}", "auth", "configs.<endpoint host>.auth"),
        ("configs: {h.example.test: {endpoint: [https://x.example.test]}}", "endpoint", "mirrors."),
    ],
)
def test_unknown_key_suggests_known(text: str, path: str, suggestion: str) -> None:
    assert_error(text, "unknown key", path, suggestion)


def test_deprecated_auths_rejected() -> None:
    assert_error(
        "auths: {h.example.test: {username: a, password: b}}", "auths", "deprecated", "configs"
    )


# ---------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[]", "must be a mapping"),
        ("mirrors: [docker.io]", "must be a mapping"),
        ("mirrors: {docker.io: [https://m.example.test]}", "must be a mapping"),
        (
            "mirrors: {docker.io: {endpoint: https://m.example.test}}",
            "write endpoint: ['https://m.example.test']",
        ),
        ("mirrors: {docker.io: {endpoint: {a: b}}}", "must be a list"),
        ("mirrors: {docker.io: {endpoint: [5000]}}", "must be a string, not a number"),
        (
            'mirrors: {docker.io: {endpoint: [https://m.example.test], rewrite: ["^a"]}}',
            "must be a mapping",
        ),
        (
            'mirrors: {docker.io: {endpoint: [https://m.example.test], rewrite: {"^(a)": 1}}}',
            "must be a string",
        ),
        ("configs: {h.example.test: {tls: {insecure_skip_verify: 'true'}}}", "true or false"),
        ("configs: {h.example.test: {tls: {ca_file: 1}}}", "must be a string"),
        ("configs: {h.example.test: {auth: [a, b]}}", "must be a mapping"),
    ],
)
def test_wrong_types_rejected(text: str, expected: str) -> None:
    assert_error(text, expected)


@pytest.mark.parametrize(
    ("value", "kind"),
    [("012345", "a number"), ("yes", "a boolean"), ("2024-01-01", "a date"), ("1.5", "a number")],
)
def test_secret_misread_by_yaml(value: str, kind: str) -> None:
    text = f"configs: {{h.example.test: {{auth: {{username: robot, password: {value}}}}}}}"

    output = rendered(errors(text))

    assert kind in output
    assert "quote" in output
    assert value not in output


# ------------------------------------------------------------ registry keys


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ('""', "docker.io"),
        ("https://registry.example.test", "'registry.example.test'"),
        ("http://registry.example.test:5000/v2", "'registry.example.test:5000'"),
        ("registry.example.test/library", "'registry.example.test'"),
        ("registry.example.test:0", "outside 1-65535"),
        ("registry.example.test:65536", "outside 1-65535"),
        ("registry.example.test:abc", "invalid port"),
        ("reg_istry.example.test", "invalid label"),
        ("-registry.example.test", "invalid label"),
        ("registry..example.test", "empty label"),
        ('"\\ufeffdocker.io"', "U+FEFF"),
        ('"docker.io "', "whitespace"),
        ('"docker\\u200b.io"', "U+200B"),
        ('"docker.io\\t"', "U+0009"),
        ('"[fd00::1]:5000"', "IPv6"),
        ('"fd00::1"', "IPv6"),
        ("rëgistry.example.test", "punycode"),
        (":5000", "no host name"),
    ],
)
@pytest.mark.parametrize("section", ["mirrors", "configs"])
def test_invalid_registry_key(section: str, key: str, expected: str) -> None:
    assert_error(f"{section}:\n  {key}: {{}}\n", expected)


@pytest.mark.parametrize(
    "key",
    [
        '"*"',
        "docker.io",
        "localhost:5000",
        "10.0.0.10:5000",
        "registry.example.test",
        "a-b.c-d.test:443",
    ],
)
def test_valid_registry_key(key: str) -> None:
    assert errors(f"mirrors:\n  {key}:\n    endpoint: [https://mirror.example.test]\n") == []


# ------------------------------------------------------------------ endpoints


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("registry.example.test", "https://registry.example.test"),
        ("registry.example.test:5000/v2", "https://registry.example.test:5000/v2"),
        ("ftp://registry.example.test", "scheme 'ftp'"),
        ("https://", "empty"),
        ("https://registry.example.test?ns=docker.io", "query"),
        ("https://registry.example.test/#top", "fragment"),
        ('"https://[fd00::1]:5000"', "IPv6"),
        ("https://registry.example.test:99999", "outside 1-65535"),
        ('" https://registry.example.test"', "U+0020"),
        ('"https://registry.example.test\\u00a0"', "U+00A0"),
    ],
)
def test_invalid_endpoint(url: str, expected: str) -> None:
    assert_error(f"mirrors:\n  docker.io:\n    endpoint: [{url}]\n", expected, "endpoint[0]")


def test_endpoint_credentials_hidden() -> None:
    text = f"mirrors:\n  docker.io:\n    endpoint: ['https://robot:{SECRET}@mirror.example.test']\n"

    output = rendered(errors(text))

    assert "credentials" in output
    assert 'configs."mirror.example.test".auth' in output
    assert SECRET not in output


# ------------------------------------------------------------------- rewrites


def rewrite_file(pattern: str, replacement: str) -> str:
    return (
        "mirrors:\n  docker.io:\n    endpoint: [https://mirror.example.test]\n"
        f"    rewrite:\n      '{pattern}': '{replacement}'\n"
    )


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("^((?!team1).+)/(.*)", "(?!"),
        ("(?<=library/)(.*)", "(?<"),
        ("^(a)/\\1", "\\1"),
        ("^a\\C", "\\C"),
        ("^(library", "missing )"),
        ("^(?P<é>.*)", "group name"),
        ("a{1001}", "repetition"),
        ("", "pattern is empty"),
    ],
)
def test_invalid_rewrite_pattern(pattern: str, expected: str) -> None:
    assert_error(rewrite_file(pattern, "mirror/$1"), expected)


@pytest.mark.parametrize(
    ("pattern", "replacement", "expected"),
    [
        ("^library/(.*)", "mirror/$2", "refers to group 2"),
        ("^library/(.*)", "mirror/$1x", "${1}x"),
        ("^library/(.*)", "mirror/${name}", "group named 'name'"),
        ("^library/(?P<rest>.*)", "mirror/$other", "named groups: rest"),
        ("^library/(.*)", "mirror/$", "'$' that starts no group"),
        ("^library/(.*)", "mirror/${1", "'$' that starts no group"),
        ("^library/(.*)", "Mirror/$1", "'M'"),
        ("^library/(.*)", "mirror:$1", "':'"),
        ("^library/(.*)", "mirror/$$1", "'$'"),
    ],
)
def test_invalid_rewrite_replacement(pattern: str, replacement: str, expected: str) -> None:
    assert_error(rewrite_file(pattern, replacement), expected, "replacement")


@pytest.mark.parametrize(
    ("pattern", "replacement"),
    [
        ("^library/(.*)", "mirror/library/$1"),
        ("^library/(.*)", "mirror/${1}x"),
        ("^(?P<team>[a-z]+)/(.*)", "mirror/${team}/$2"),
        ("^(?P<1x>.*)", "mirror/$1x"),
        ("^(.*)$", "$0"),
        ("^rancher/(.*)", "docker/rancher-images/$1"),
    ],
)
def test_valid_rewrite(pattern: str, replacement: str) -> None:
    assert findings(rewrite_file(pattern, replacement)) == []


def test_angle_group_syntax_warns() -> None:
    problems = findings(rewrite_file("^(?<rest>.*)", "mirror/${rest}"))

    assert [problem.severity for problem in problems] == [Severity.WARNING]
    assert "(?P<name>" in problems[0].hint


# ----------------------------------------------------------------------- auth


def auth_file(body: str) -> str:
    return f"configs:\n  registry.example.test:\n    auth: {body}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{username: robot}", "no password"),
        (f"{{password: {SECRET}}}", "no username"),
        (f"{{auth: dXNlcjE6cGFzcw==, username: robot, password: {SECRET}}}", "auth together"),
        (f"{{identity_token: {SECRET}, password: {SECRET}}}", "identity_token together"),
        (f"{{identity_token: {SECRET}, username: robot}}", "identity_token together"),
        (f"{{identity_token: {SECRET}, auth: dXNlcjE6cGFzcw==}}", "identity_token together"),
        ("{}", "has no credentials"),
        (f"{{username: '', password: {SECRET}}}", "is empty"),
        ("{username: robot, password: }", "is empty"),
        ("{auth: example-access-token-123}", "identity_token"),
        ("{auth: dG9rZW4=}", "without ':'"),
        ("{auth: OnBhc3M=}", "empty username"),
        ("{auth: dXNlcjE6cGFzcw}", "not valid base64"),
        (f'{{username: robot, password: "{SECRET}\\n"}}', "U+000A"),
        ("{username: robot, password: {ref: env:PASSWORD}}", "stack config"),
    ],
)
def test_invalid_auth(body: str, expected: str) -> None:
    output = rendered(errors(auth_file(body)))

    assert expected in output
    assert SECRET not in output


@pytest.mark.parametrize(
    "body",
    [
        f"{{username: robot, password: {SECRET}}}",
        "{auth: dXNlcjE6cGE6c3M=}",
        f"{{identity_token: {SECRET}}}",
        "{username: 'robot$user1', password: 'p@ss:w0rd #1'}",
    ],
)
def test_valid_auth(body: str) -> None:
    assert findings(auth_file(body)) == []


# ------------------------------------------------------------ secret references


def test_reference_becomes_secret_ref() -> None:
    data = {
        "configs": {
            "registry.example.test": {
                "auth": {"username": "robot", "password": {"ref": "env:REGISTRY_PASSWORD"}}
            }
        }
    }

    registries, warnings = parse_registries(data, allow_references=True, source="stack")

    auth = registries.configs["registry.example.test"].auth
    assert auth is not None
    assert auth.password == SecretRef("env:REGISTRY_PASSWORD")
    assert warnings == []


def test_reference_skips_value_checks() -> None:
    data = {"configs": {"registry.example.test": {"auth": {"auth": {"ref": "env:AUTH"}}}}}

    registries, _ = parse_registries(data, allow_references=True)

    auth = registries.configs["registry.example.test"].auth
    assert auth is not None
    assert auth.auth == SecretRef("env:AUTH")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"ref": ""}, "non-empty string"),
        ({"ref": 5}, "non-empty string"),
        ({"ref": "env:A", "default": "x"}, "only the key 'ref'"),
        ({}, "non-empty string"),
    ],
)
def test_invalid_reference(value: dict[str, object], expected: str) -> None:
    data = {"configs": {"h.example.test": {"auth": {"username": "robot", "password": value}}}}

    with pytest.raises(ConfigError) as raised:
        parse_registries(data, allow_references=True)

    assert expected in str(raised.value)


def test_reference_form_still_checked() -> None:
    data = {"configs": {"h.example.test": {"auth": {"username": {"ref": "env:USER"}}}}}

    with pytest.raises(ConfigError) as raised:
        parse_registries(data, allow_references=True)

    assert "no password" in str(raised.value)


def test_non_string_keys_in_data() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_registries({"mirrors": {5000: {}}})

    assert "not a string" in str(raised.value)


# ------------------------------------------------------------------------ tls


def tls_file(body: str, key: str = "registry.example.test") -> str:
    return f'configs:\n  "{key}":\n    tls: {body}\n'


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("{cert_file: /etc/rancher/k3s/certs/client.crt}", "key_file"),
        ("{key_file: /etc/rancher/k3s/certs/client.key}", "cert_file"),
        ("{ca_file: certs/ca.crt}", "relative"),
        ("{ca_file: ''}", "is empty"),
        ("{ca_file: '/etc/ca\"1.crt'}", "U+0022"),
        ("{ca_file: '/etc/ca\\\\1.crt'}", "U+005C"),
        ("{insecure_skip_verify: 'yes'}", "true or false"),
        ("{insecure_skip_verify: 1}", "true or false"),
    ],
)
def test_invalid_tls(body: str, expected: str) -> None:
    assert_error(tls_file(body), expected)


@pytest.mark.parametrize(
    "section", ["auth: {username: robot, password: pw}", "tls: {insecure_skip_verify: true}"]
)
def test_wildcard_config_rejected(section: str) -> None:
    assert_error(f'configs:\n  "*":\n    {section}\n', "not applied by containerd")


def test_client_certificate_pair_valid() -> None:
    body = (
        "{cert_file: /etc/k3s/client.crt, key_file: /etc/k3s/client.key, ca_file: /etc/k3s/ca.crt}"
    )

    assert findings(tls_file(body)) == []


def test_skip_verify_with_ca_warns() -> None:
    problems = findings(tls_file("{ca_file: /etc/k3s/ca.crt, insecure_skip_verify: true}"))

    assert [problem.severity for problem in problems] == [Severity.WARNING]
    assert problems[0].path.endswith("tls.ca_file")


def test_empty_tls_warns() -> None:
    problems = findings(tls_file("{}"))

    assert [problem.severity for problem in problems] == [Severity.WARNING]
    assert "is empty" in problems[0].message
