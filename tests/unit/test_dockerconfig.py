"""The .dockerconfigjson payload, checked against kubectl where it is installed."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess

import pytest

from components.dockerconfig import (
    DOCKER_HUB_SERVER,
    DockerCredential,
    dockerconfigjson,
    dockerconfigjson_entries,
    go_json_string,
    normalize_server,
    pull_secret_manifest,
)

KUBECTL = shutil.which("kubectl")

TRICKY_PASSWORDS = [
    "pa:ss",
    'quo"te',
    "it's",
    "back\\slash",
    "<script>&amp;</script>",
    "ünïcödé ✓ 密码",
    "emoji 🔑",
    "line\u2028sep\u2029",
    "tab\tnew\nline\rcr",
    "bell\x07back\x08feed\x0c",
    "dollar $HOME `cmd`",
    "  spaces  ",
    ":leading:colon:",
    "del\x7f",
]


def kubectl_payload(server: str, username: str, password: str, email: str = "") -> str:
    """Return the decoded .dockerconfigjson that kubectl writes for these flags."""
    assert KUBECTL is not None
    args = [
        KUBECTL,
        "create",
        "secret",
        "docker-registry",
        "test",
        f"--docker-server={server}",
        f"--docker-username={username}",
        f"--docker-password={password}",
        "--dry-run=client",
        "-o",
        "json",
    ]
    if email:
        args.append(f"--docker-email={email}")
    completed = subprocess.run(args, capture_output=True, text=True, timeout=60, check=True)
    manifest = json.loads(completed.stdout)
    return base64.b64decode(manifest["data"][".dockerconfigjson"]).decode("utf-8")


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize("password", TRICKY_PASSWORDS)
def test_payload_matches_kubectl(password: str) -> None:
    server = "registry.example.test:5000"

    assert dockerconfigjson(server, "robot", password) == kubectl_payload(server, "robot", password)


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
@pytest.mark.parametrize(
    ("username", "email"),
    [("robot", "ops@example.test"), ("ünï<&>", "a&b@example.test"), ("r$obot", "")],
)
def test_payload_with_email_matches_kubectl(username: str, email: str) -> None:
    server = "registry.example.test"

    expected = kubectl_payload(server, username, "pa:ss", email)

    assert dockerconfigjson(server, username, "pa:ss", email) == expected


@pytest.mark.skipif(KUBECTL is None, reason="kubectl is not installed")
def test_docker_hub_matches_kubectl_default() -> None:
    expected = kubectl_payload(DOCKER_HUB_SERVER, "robot", "pa:ss")

    assert dockerconfigjson("docker.io", "robot", "pa:ss") == expected


def test_payload_shape() -> None:
    payload = dockerconfigjson("registry.example.test:5000", "user1", "pa:ss")

    assert payload == (
        '{"auths":{"registry.example.test:5000":'
        '{"username":"user1","password":"pa:ss","auth":"dXNlcjE6cGE6c3M="}}}'
    )


def test_email_kept_between_password_and_auth() -> None:
    payload = json.loads(dockerconfigjson("r.example.test", "u", "p", "u@example.test"))

    assert list(payload["auths"]["r.example.test"]) == ["username", "password", "email", "auth"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<>&", '"\\u003c\\u003e\\u0026"'),
        ("\u2028\u2029", '"\\u2028\\u2029"'),
        ("\b\f\n\r\t", '"\\b\\f\\n\\r\\t"'),
        ("\x01\x1f", '"\\u0001\\u001f"'),
        ('"\\', '"\\"\\\\"'),
        ("é✓", '"é✓"'),
        ("\x7f", '"\x7f"'),
    ],
)
def test_go_json_escaping(text: str, expected: str) -> None:
    assert go_json_string(text) == expected


def test_lone_surrogate_rejected() -> None:
    with pytest.raises(ValueError, match="Unicode"):
        go_json_string("\ud800")


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("registry.example.test", "registry.example.test"),
        ("https://registry.example.test:5000/", "registry.example.test:5000"),
        ("http://registry.example.test/v2/", "registry.example.test"),
        ("docker.io", DOCKER_HUB_SERVER),
        ("index.docker.io", DOCKER_HUB_SERVER),
        ("registry-1.docker.io", DOCKER_HUB_SERVER),
        ("https://index.docker.io/v1/", DOCKER_HUB_SERVER),
    ],
)
def test_normalize_server(server: str, expected: str) -> None:
    assert normalize_server(server) == expected


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("registry.example.test/team", "path"),
        ("ftp://registry.example.test", "scheme"),
        ("", "empty"),
        ("bad host", "whitespace"),
    ],
)
def test_invalid_server(server: str, expected: str) -> None:
    with pytest.raises(ValueError, match=expected):
        normalize_server(server)


def test_several_servers_sorted() -> None:
    payload = dockerconfigjson_entries(
        [
            DockerCredential("z.example.test", "u", "p"),
            DockerCredential("docker.io", "u", "p"),
            DockerCredential("a.example.test", "u", "p"),
        ]
    )

    assert list(json.loads(payload)["auths"]) == [
        "a.example.test",
        DOCKER_HUB_SERVER,
        "z.example.test",
    ]


def test_duplicate_server_rejected() -> None:
    credentials = [
        DockerCredential("docker.io", "u", "p"),
        DockerCredential("index.docker.io", "u", "q"),
    ]

    with pytest.raises(ValueError, match="two credentials"):
        dockerconfigjson_entries(credentials)


@pytest.mark.parametrize(("username", "password"), [("", "p"), ("u", ""), ("us:er", "p")])
def test_invalid_credentials(username: str, password: str) -> None:
    with pytest.raises(ValueError) as raised:
        dockerconfigjson("r.example.test", username, password)

    assert "r.example.test" in str(raised.value)


def test_manifest_shape() -> None:
    manifest = pull_secret_manifest("regcred", "apps", '{"auths":{}}')

    assert list(manifest) == ["kind", "apiVersion", "metadata", "data", "type"]
    assert manifest["metadata"] == {"name": "regcred", "namespace": "apps"}
    assert manifest["type"] == "kubernetes.io/dockerconfigjson"
    assert base64.b64decode(manifest["data"][".dockerconfigjson"]) == b'{"auths":{}}'


def test_manifest_without_namespace() -> None:
    assert pull_secret_manifest("regcred", None, "{}")["metadata"] == {"name": "regcred"}


@pytest.mark.parametrize(("name", "namespace"), [("Bad_Name", "apps"), ("ok", "a.b"), ("-x", None)])
def test_manifest_rejects_invalid_names(name: str, namespace: str | None) -> None:
    with pytest.raises(ValueError, match="DNS-1123"):
        pull_secret_manifest(name, namespace, "{}")
