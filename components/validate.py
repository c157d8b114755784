"""Strict validation of registries.yaml content, reporting every error at once with its key path.

K3s decodes the file leniently: unknown keys vanish, and invalid values are
skipped with at most a log line on the node. This module rejects what K3s
would silently ignore. ``components.advice`` adds warnings for files that K3s
accepts but that do something other than what they seem to say.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from components import advice
from components.hosts import (
    HostError,
    check_registry_key,
    describe_character,
    parse_endpoint,
    redact_url,
)
from components.model import (
    TLS,
    WILDCARD,
    Auth,
    Mirror,
    Registries,
    RegistryConfig,
    SecretRef,
    SecretText,
    quote_key,
)
from components.problems import ConfigError, Problem, Severity
from components.rewrite import (
    RewriteError,
    check_replacement,
    compile_pattern,
    uses_angle_group_syntax,
)

TOP_LEVEL_KEYS = ("mirrors", "configs")
MIRROR_KEYS = ("endpoint", "rewrite")
CONFIG_KEYS = ("auth", "tls")
AUTH_KEYS = ("username", "password", "auth", "identity_token")
TLS_KEYS = ("ca_file", "cert_file", "key_file", "insecure_skip_verify")

# Names people write for a known key, taken from containerd's hosts.toml
# (ca, client, skip_verify), its TOML config (identitytoken) and plain guesses.
_KEY_ALIASES = {
    "endpoints": "endpoint",
    "rewrites": "rewrite",
    "identitytoken": "identity_token",
    "token": "identity_token",
    "user": "username",
    "pass": "password",
    "ca": "ca_file",
    "cert": "cert_file",
    "client": "cert_file",
    "key": "key_file",
    "skip_verify": "insecure_skip_verify",
    "insecure": "insecure_skip_verify",
}

# Keys that belong at another level; the hint says where.
_MISPLACED = {
    "auth": "credentials go under configs.<endpoint host>.auth",
    "tls": "TLS settings go under configs.<endpoint host>.tls",
    "endpoint": "endpoints go under mirrors.<registry>.endpoint",
    "rewrite": "rewrites go under mirrors.<registry>.rewrite",
}

MAX_EXPANDED_NODES = 1_000_000
"""Upper limit on YAML nodes after alias expansion, against alias bombs ("billion laughs")."""


@dataclass
class _Findings:
    """Problems collected while checking one input."""

    allow_references: bool
    problems: list[Problem] = field(default_factory=list)

    def error(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint, Severity.ERROR))

    def warn(self, path: str, message: str, hint: str = "") -> None:
        self.problems.append(Problem(path, message, hint, Severity.WARNING))

    @property
    def has_errors(self) -> bool:
        return any(problem.severity is Severity.ERROR for problem in self.problems)


# ---------------------------------------------------------------- public API


def load_registries_text(text: str, source: str) -> tuple[Registries, list[Problem]]:
    """Parse registries.yaml text and validate it; return the model and its warnings.

    Raises :class:`ConfigError` with every YAML and validation error.
    """
    data = load_yaml(text, source)
    return parse_registries(data, source=source)


def parse_registries(
    data: object, *, allow_references: bool = False, source: str = ""
) -> tuple[Registries, list[Problem]]:
    """Validate decoded registries.yaml data; return the model and its warnings.

    With ``allow_references`` (stack config), a secret field may be a mapping
    ``{ref: "<uri>"}`` that becomes a :class:`SecretRef`; checks that need the
    secret value are then skipped for it. Raises :class:`ConfigError` with
    every error found.
    """
    registries, problems = check_registries(data, allow_references=allow_references)
    errors = [problem for problem in problems if problem.severity is Severity.ERROR]
    if errors:
        raise ConfigError(errors, source)
    return registries, problems


def check_registries(
    data: object, *, allow_references: bool = False
) -> tuple[Registries, list[Problem]]:
    """Validate decoded data and return the model with every error and warning, without raising.

    The model holds only the entries that passed; use it only when no error
    was returned. Warnings that compare entries with each other are added only
    when there is no error, so that they never describe a half-read file.
    """
    findings = _Findings(allow_references)
    registries = _registries(findings, data)
    if not findings.has_errors:
        findings.problems.extend(advice.find_warnings(registries))
    return registries, findings.problems


def check_secret_field(path: str, value: object) -> tuple[SecretText | None, list[Problem]]:
    """Read one secret field of stack config, a string or ``{ref: ...}``; return it and its errors.

    The value itself never appears in a message.
    """
    findings = _Findings(allow_references=True)
    return _secret(findings, path, value), findings.problems


def load_yaml(text: str, source: str = "") -> object:
    """Decode registries.yaml text with YAML's safe loader, stricter than K3s.

    Rejects a byte order mark, tabs in indentation, duplicate keys, keys that
    YAML reads as something other than a string, and alias bombs. Raises
    :class:`ConfigError`; a YAML syntax error becomes one problem with its
    line and column. Messages never quote values from the text.
    """
    problems = _text_problems(text)
    if problems:
        raise ConfigError(problems, source)
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expanded_size(node)
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        raise ConfigError([_yaml_problem(error)], source) from None
    except yaml.reader.ReaderError as error:
        # The character is a control or non-printable one, never a whole value.
        raise ConfigError(
            [
                Problem(
                    f"character {error.position + 1}",
                    f"invalid YAML: the text contains the character U+{error.character:04X}, "
                    "which YAML does not allow",
                    "remove it, or write it as an escape inside a double-quoted string",
                )
            ],
            source,
        ) from None
    except RecursionError:
        raise ConfigError(
            [
                Problem(
                    "document",
                    "invalid YAML: the structure is nested too deeply, "
                    "or an alias refers to itself",
                    "write a flat registries file without self-referencing aliases",
                )
            ],
            source,
        ) from None
    except yaml.YAMLError as error:
        raise ConfigError(
            [Problem("document", f"invalid YAML: {type(error).__name__}")], source
        ) from None
    finally:
        loader.dispose()


# ------------------------------------------------------------- YAML loading


def _text_problems(text: str) -> list[Problem]:
    problems: list[Problem] = []
    if text.startswith("\ufeff"):
        problems.append(
            Problem(
                "line 1, column 1",
                "the file starts with a byte order mark (U+FEFF)",
                "save the file as UTF-8 without a BOM",
            )
        )
    for number, line in enumerate(text.splitlines(), start=1):
        indentation = line[: len(line) - len(line.lstrip(" \t"))]
        if "\t" in indentation:
            problems.append(
                Problem(
                    f"line {number}, column {indentation.index(chr(9)) + 1}",
                    "the indentation contains a tab; YAML allows only spaces there",
                    "indent with spaces",
                )
            )
    return problems


class _StrictLoader(yaml.CSafeLoader):
    """Safe loader that rejects duplicate keys and keys that are not strings."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[object, object]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag != "tag:yaml.org,2002:str":
                kind = _TAG_NAMES.get(key_node.tag, "a non-string value")
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"this key is read by YAML as {kind}, not a string; quote it",
                    key_node.start_mark,
                )
            if key_node.value in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r}; YAML keeps only one of them",
                    key_node.start_mark,
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


_TAG_NAMES = {
    "tag:yaml.org,2002:bool": "a boolean",
    "tag:yaml.org,2002:int": "a number",
    "tag:yaml.org,2002:float": "a number",
    "tag:yaml.org,2002:null": "null",
    "tag:yaml.org,2002:timestamp": "a date",
    "tag:yaml.org,2002:map": "a mapping",
    "tag:yaml.org,2002:seq": "a list",
}


def _check_expanded_size(root: yaml.Node) -> None:
    sizes: dict[int, int] = {}
    total = _expanded_size(root, sizes)
    if total > MAX_EXPANDED_NODES:
        raise yaml.constructor.ConstructorError(
            None,
            None,
            f"the document has {total} nodes once aliases are expanded "
            f"(limit {MAX_EXPANDED_NODES}); split it, or write it without nested aliases",
            root.start_mark,
        )


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    # Aliases share node objects, so memoizing by identity counts each
    # expansion without walking it, even for exponential alias chains.
    known = sizes.get(id(node))
    if known is not None:
        return known
    sizes[id(node)] = 1  # a cycle counts once instead of recursing forever
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(item, sizes) for item in node.value)
    elif isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            size += _expanded_size(key, sizes) + _expanded_size(value, sizes)
    sizes[id(node)] = size
    return size


def _yaml_problem(error: yaml.MarkedYAMLError) -> Problem:
    # Only the parser's own phrases are used: str(error) could show a snippet
    # of the document, and the document contains passwords.
    mark = error.problem_mark or error.context_mark
    where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "document"
    parts = [part for part in (error.context, error.problem) if part]
    message = "invalid YAML: " + ("; ".join(parts) if parts else type(error).__name__)
    return Problem(where, message, "fix the YAML syntax at that spot")


# ------------------------------------------------------------ shared checks


def _yaml_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, datetime.date):
        return "a date"
    if isinstance(value, bytes):
        return "binary data"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return type(value).__name__


def _mapping(
    findings: _Findings, path: str, value: object, hint: str
) -> Mapping[str, object] | None:
    """Return ``value`` as a mapping with string keys, or record an error and return None."""
    if not isinstance(value, Mapping):
        findings.error(path, f"must be a mapping, not {_yaml_type(value)}", hint)
        return None
    good: dict[str, object] = {}
    for key, item in value.items():
        if isinstance(key, str):
            good[key] = item
        else:
            findings.error(
                f"{path}.{key!r}", f"key is {_yaml_type(key)}, not a string", "quote the key"
            )
    return good


def _unknown_keys(
    findings: _Findings, path: str, mapping: Mapping[str, object], known: tuple[str, ...]
) -> None:
    for key in mapping:
        if key in known:
            continue
        where = f"{path}.{quote_key(key)}" if path else quote_key(key)
        findings.error(
            where,
            f"unknown key {key!r}; K3s ignores unknown keys, so this setting has no effect",
            _suggest_key(key, known),
        )


def _suggest_key(key: str, known: tuple[str, ...]) -> str:
    cleaned = "".join(char for char in key.strip().lower() if char.isalnum() or char == "_")
    for candidate in (key, cleaned):
        alias = _KEY_ALIASES.get(candidate)
        if alias in known:
            return f"did you mean {alias!r}?"
        if candidate in known and candidate != key:
            return f"did you mean {candidate!r}?"
    close = difflib.get_close_matches(cleaned or key, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]!r}?"
    for name, hint in _MISPLACED.items():
        if cleaned == name and name not in known:
            return hint
    return "known keys here: " + ", ".join(known)


def _string(findings: _Findings, path: str, value: object) -> str | None:
    if isinstance(value, str):
        return value
    findings.error(
        path,
        f"must be a string, not {_yaml_type(value)}",
        "quote the value so YAML keeps it a string",
    )
    return None


# ---------------------------------------------------------------- top level


def _registries(findings: _Findings, data: object) -> Registries:
    if data is None:
        return Registries()
    top = _mapping(findings, "top level", data, "write mirrors: and configs: at the top level")
    if top is None:
        return Registries()
    if "auths" in top:
        findings.error(
            "auths",
            "the deprecated top-level auths section is not supported",
            "move each entry to configs.<host>.auth with username and password",
        )
    _unknown_keys(
        findings, "", {key: value for key, value in top.items() if key != "auths"}, TOP_LEVEL_KEYS
    )
    mirrors = _mirrors(findings, top.get("mirrors"))
    configs = _configs(findings, top.get("configs"))
    return Registries(mirrors=mirrors, configs=configs)


def _registry_key(findings: _Findings, path: str, key: str) -> bool:
    try:
        check_registry_key(key)
    except HostError as error:
        findings.error(path, f"key {key!r} {error.message}", error.hint)
        return False
    return True


# ------------------------------------------------------------------ mirrors


def _mirrors(findings: _Findings, value: object) -> dict[str, Mirror]:
    if value is None:
        return {}
    mirrors = _mapping(findings, "mirrors", value, "key each mirror by registry host[:port]")
    if mirrors is None:
        return {}
    result: dict[str, Mirror] = {}
    for key, body in mirrors.items():
        path = f"mirrors.{quote_key(key)}"
        if not _registry_key(findings, path, key):
            continue
        mirror = _mirror(findings, path, body)
        if mirror is not None:
            result[key] = mirror
    return result


def _mirror(findings: _Findings, path: str, value: object) -> Mirror | None:
    if value is None:
        return Mirror()
    body = _mapping(findings, path, value, "write endpoint: [https://...] under the mirror")
    if body is None:
        return None
    _unknown_keys(findings, path, body, MIRROR_KEYS)
    endpoints = _endpoints(findings, f"{path}.endpoint", body.get("endpoint"))
    rewrite = _rewrites(findings, f"{path}.rewrite", body.get("rewrite"))
    return Mirror(endpoints=endpoints, rewrite=rewrite)


def _endpoints(findings: _Findings, path: str, value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        findings.error(
            path, "must be a list of URLs, not a single string", f"write endpoint: [{value!r}]"
        )
        return ()
    if not isinstance(value, list):
        findings.error(path, f"must be a list of URLs, not {_yaml_type(value)}")
        return ()
    endpoints: list[str] = []
    for index, item in enumerate(value):
        item_path = f"{path}[{index}]"
        url = _string(findings, item_path, item)
        if url is None:
            continue
        try:
            parse_endpoint(url)
        except HostError as error:
            # The URL may carry a password in its userinfo; redact_url hides it.
            findings.error(item_path, f"endpoint {redact_url(url)!r} {error.message}", error.hint)
            continue
        endpoints.append(url)
    return tuple(endpoints)


def _rewrites(findings: _Findings, path: str, value: object) -> dict[str, str]:
    if value is None:
        return {}
    rules = _mapping(findings, path, value, 'write rewrite: {"^pattern(.*)": "replacement/$1"}')
    if rules is None:
        return {}
    result: dict[str, str] = {}
    for pattern, template_value in rules.items():
        rule_path = f"{path}.{quote_key(pattern)}"
        template = _string(findings, rule_path, template_value)
        if template is None:
            continue
        if _rewrite_rule(findings, rule_path, pattern, template):
            result[pattern] = template
    return result


def _pattern_hint(pattern: str) -> str:
    if re.search(r"\(\?<?[=!]|\\[1-9]", pattern):
        return (
            "Go RE2 has no lookaround and no backreferences; express the rule with anchors, "
            "groups and character classes, or split it into several rewrites"
        )
    return "write the pattern in Go RE2 syntax, which K3s uses"


def _rewrite_rule(findings: _Findings, path: str, pattern: str, template: str) -> bool:
    if pattern == "":
        findings.error(path, "the pattern is empty", "write a pattern such as '^library/(.*)'")
        return False
    try:
        compiled = compile_pattern(pattern)
    except RewriteError as error:
        findings.error(path, str(error), _pattern_hint(pattern))
        return False
    if uses_angle_group_syntax(pattern):
        findings.warn(
            path,
            f"pattern {pattern!r} names a group with (?<name>...), which Go accepts only "
            "since 1.22, so K3s builds with an older Go skip the rule",
            "write (?P<name>...), which every Go release accepts",
        )
    ok = True
    for issue in check_replacement(compiled, template):
        if issue.is_error:
            findings.error(path, f"replacement {template!r} {issue.message}", issue.hint)
            ok = False
        else:
            findings.warn(path, f"replacement {template!r} {issue.message}", issue.hint)
    for text, what in ((pattern, "pattern"), (template, "replacement")):
        if '"' in text:
            # K3s's containerd config templates of the 1.2x series write rewrite
            # rules as "{{$pattern}}" = "{{$replace}}" without TOML escaping
            # (k3s-io/k3s pkg/agent/templates/templates_linux.go).
            findings.warn(
                path,
                f"the {what} contains a double quote, which K3s releases that write rewrites "
                "into TOML without escaping turn into a broken containerd config",
                "match a quote with \\x22 instead",
            )
    return ok


# ------------------------------------------------------------------ configs


def _configs(findings: _Findings, value: object) -> dict[str, RegistryConfig]:
    if value is None:
        return {}
    configs = _mapping(findings, "configs", value, "key each entry by endpoint host[:port]")
    if configs is None:
        return {}
    result: dict[str, RegistryConfig] = {}
    for key, body in configs.items():
        path = f"configs.{quote_key(key)}"
        if not _registry_key(findings, path, key):
            continue
        config = _config(findings, path, key, body)
        if config is not None:
            result[key] = config
    return result


def _config(findings: _Findings, path: str, key: str, value: object) -> RegistryConfig | None:
    if value is None:
        return RegistryConfig()
    body = _mapping(findings, path, value, "write auth: and tls: under the host")
    if body is None:
        return None
    _unknown_keys(findings, path, body, CONFIG_KEYS)
    if key == WILDCARD and (body.get("auth") is not None or body.get("tls") is not None):
        # containerd's CRI plugin looks credentials up by the exact registry
        # host, so "*" never matches, and K3s's hosts.toml for "*" has no
        # server of its own to attach TLS settings to.
        findings.error(
            path,
            'auth and tls under configs."*" are not applied by containerd',
            'write them under each endpoint host, e.g. configs."registry.example.test"',
        )
        return None
    auth = _auth(findings, f"{path}.auth", body.get("auth"))
    tls = _tls(findings, f"{path}.tls", body.get("tls"))
    return RegistryConfig(auth=auth, tls=tls)


def _secret(findings: _Findings, path: str, value: object) -> SecretText | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        return _secret_reference(findings, path, value)
    if value is None:
        findings.error(path, "is empty", "give a value, or remove the key")
        return None
    # The value itself is never shown: it may be a secret that YAML misread.
    findings.error(
        path,
        f"must be a string, but YAML reads this value as {_yaml_type(value)}",
        "quote the value, e.g. password: '0123', so that YAML keeps it a string",
    )
    return None


def _secret_reference(
    findings: _Findings, path: str, value: Mapping[object, object]
) -> SecretRef | None:
    if not findings.allow_references:
        findings.error(
            path,
            "must be a string; secret references such as {ref: ...} work only in stack config",
            "write the value as a quoted string",
        )
        return None
    # The other keys are not named: a mistyped secret may have become a key.
    if any(key != "ref" for key in value):
        findings.error(
            path,
            "a secret reference takes only the key 'ref'",
            "write {ref: env:NAME}, or the value as a quoted string",
        )
        return None
    uri = value.get("ref")
    if not isinstance(uri, str) or uri.strip() == "":
        findings.error(path, "ref must be a non-empty string", "write {ref: env:NAME}")
        return None
    return SecretRef(uri)


def _auth(findings: _Findings, path: str, value: object) -> Auth | None:
    if value is None:
        return None
    body = _mapping(findings, path, value, "write username: and password: under auth")
    if body is None:
        return None
    _unknown_keys(findings, path, body, AUTH_KEYS)
    values: dict[str, SecretText] = {}
    for name in AUTH_KEYS:
        if name not in body:
            continue
        secret = _secret(findings, f"{path}.{name}", body[name])
        if secret is None:
            continue
        if isinstance(secret, str) and not _secret_text_ok(findings, f"{path}.{name}", secret):
            continue
        values[name] = secret
    if _auth_form_ok(findings, path, body, values) and isinstance(values.get("auth"), str):
        _check_basic_auth(findings, f"{path}.auth", str(values["auth"]))
    return Auth(**values)


def _secret_text_ok(findings: _Findings, path: str, value: str) -> bool:
    if value == "":
        findings.error(path, "is empty", "give a value, or remove the key")
        return False
    for char in value:
        if ord(char) < 0x20 or ord(char) == 0x7F:
            # K3s writes credentials into TOML with Go's %q, and Go escapes such
            # as \x00 or \a are not valid TOML, so containerd fails to start.
            findings.error(
                path,
                f"contains the control character {describe_character(char)}",
                "remove it; a trailing newline often comes from reading the value from a file",
            )
            return False
    return True


def _auth_form_ok(
    findings: _Findings, path: str, body: Mapping[str, object], values: Mapping[str, SecretText]
) -> bool:
    """Check which credential fields appear together; report each contradiction or gap."""
    written = {name for name in AUTH_KEYS if name in body}
    if not written:
        findings.error(path, "has no credentials", "write username and password, or remove auth")
        return False
    ok = True
    if "auth" in written and written & {"username", "password"}:
        findings.error(
            path,
            "sets auth together with username/password; auth already holds both",
            "keep either auth, or username and password",
        )
        ok = False
    if "identity_token" in written and written - {"identity_token"}:
        others = ", ".join(sorted(written - {"identity_token"}))
        findings.error(
            path,
            f"sets identity_token together with {others}; an identity token is used alone",
            "keep either identity_token, or username and password",
        )
        ok = False
    if ok and "username" in written and "password" not in written:
        findings.error(
            f"{path}.username",
            "has no password next to it",
            "add password; for a bearer or refresh token, use identity_token alone",
        )
        ok = False
    if ok and "password" in written and "username" not in written:
        findings.error(f"{path}.password", "has no username next to it", "add username")
        ok = False
    return ok and len(values) == len(written)


def _check_basic_auth(findings: _Findings, path: str, value: str) -> None:
    # containerd decodes auth with Go's base64.StdEncoding and splits the
    # result at the first ':' into username and password.
    hint = (
        "auth must be base64 of 'username:password', as echo -n 'user:pass' | base64 prints it; "
        "put an access or bearer token in identity_token instead, or write username and password"
    )
    try:
        decoded = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        findings.error(
            path, "is not valid base64, so it cannot be base64 of 'username:password'", hint
        )
        return
    username, colon, _ = decoded.partition(b":")
    if not colon:
        findings.error(
            path, "decodes to text without ':', so it is not base64 of 'username:password'", hint
        )
    elif not username:
        findings.error(path, "decodes to an empty username", hint)


def _tls(findings: _Findings, path: str, value: object) -> TLS | None:
    if value is None:
        return None
    body = _mapping(findings, path, value, "write ca_file: /path/to/ca.crt under tls")
    if body is None:
        return None
    _unknown_keys(findings, path, body, TLS_KEYS)
    files: dict[str, str] = {}
    for name in ("ca_file", "cert_file", "key_file"):
        if name in body:
            checked = _tls_path(findings, f"{path}.{name}", body[name])
            if checked is not None:
                files[name] = checked
    skip_verify = _skip_verify(findings, f"{path}.insecure_skip_verify", body)
    _tls_pairs(findings, path, body)
    if not body:
        findings.warn(path, "is empty, so it changes nothing", "remove it")
    if skip_verify and "ca_file" in files:
        findings.warn(
            f"{path}.ca_file",
            "is not used, because insecure_skip_verify is true",
            "remove insecure_skip_verify to verify the registry with this CA",
        )
    return TLS(insecure_skip_verify=skip_verify, **files)


def _tls_path(findings: _Findings, path: str, value: object) -> str | None:
    text = _string(findings, path, value)
    if text is None:
        return None
    if text == "":
        findings.error(
            path, "is empty", "give the absolute path of the file on the node, or remove the key"
        )
        return None
    bad = next((char for char in text if ord(char) < 0x20 or char in '"\\'), None)
    if bad is not None:
        # K3s's containerd config templates write these paths between double
        # quotes without TOML escaping.
        findings.error(
            path,
            f"path {text!r} contains {describe_character(bad)}, which breaks the TOML K3s writes",
            "rename the file",
        )
        return None
    if not text.startswith("/"):
        findings.error(
            path,
            f"path {text!r} is relative; K3s resolves it against its own working directory",
            "write the absolute path on the node, e.g. /etc/rancher/k3s/certs/ca.crt",
        )
        return None
    return text


def _skip_verify(findings: _Findings, path: str, body: Mapping[str, object]) -> bool | None:
    value = body.get("insecure_skip_verify")
    if value is None or isinstance(value, bool):
        return value
    hint = "write true or false without quotes"
    findings.error(path, f"must be true or false, not {_yaml_type(value)}", hint)
    return None


def _tls_pairs(findings: _Findings, path: str, body: Mapping[str, object]) -> None:
    has_cert, has_key = "cert_file" in body, "key_file" in body
    if has_cert and not has_key:
        findings.error(
            f"{path}.cert_file",
            "is set without key_file; a client certificate needs its private key",
            "add key_file with the path of the client key; for the registry's own CA, use ca_file",
        )
    if has_key and not has_cert:
        findings.error(
            f"{path}.key_file",
            "is set without cert_file; a client key needs its certificate",
            "add cert_file with the path of the client certificate",
        )
