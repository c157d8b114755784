"""Rewrite rules with Go semantics: RE2 syntax, regexp.Expand, ReplaceAllString."""

from __future__ import annotations

import pytest

from components.rewrite import (
    GroupReference,
    RewriteError,
    compile_pattern,
    matching_rewrites,
    parse_replacement,
    replace_all,
)


@pytest.mark.parametrize(
    ("template", "text", "expected"),
    [
        # The ExampleRegexp_ReplaceAllString cases of Go's regexp package.
        ("T", "-ab-axxb-", "-T-T-"),
        ("$1", "-ab-axxb-", "--xx-"),
        ("$1W", "-ab-axxb-", "---"),
        ("${1}W", "-ab-axxb-", "-W-xxW-"),
    ],
)
def test_go_documentation_examples(template: str, text: str, expected: str) -> None:
    assert replace_all("a(x*)b", template, text) == expected


@pytest.mark.parametrize(("template", "expected"), [("$1W", "--xx-"), ("${1}W", "-W-xxW-")])
def test_named_group_with_digit_name(template: str, expected: str) -> None:
    # Also from Go's example: $1W names the group "1W", ${1}W is group 1 and a W.
    assert replace_all("a(?P<1W>x*)b", template, "-ab-axxb-") == expected


def test_empty_match_after_match_skipped() -> None:
    # Python's re.sub gives "XbXXcX"; Go skips the empty match right after "aaa".
    assert replace_all("a*", "X", "baaac") == "XbXcX"


def test_anchor_matches_only_at_start() -> None:
    assert replace_all("^a", "X", "aaa") == "Xaa"


def test_dollar_dollar_is_literal() -> None:
    assert replace_all("^(.*)$", "$$$1", "app") == "$app"


def test_unknown_group_expands_empty() -> None:
    assert replace_all("^(a)", "[$2]", "abc") == "[]bc"


def test_stray_dollar_kept() -> None:
    assert replace_all("^(a)", "$-${1", "abc") == "$-${1bc"


def test_repository_rewrite() -> None:
    result = replace_all(
        "^rancher/(.*)", "mirrorproject/rancher-images/$1", "rancher/coredns-coredns"
    )

    assert result == "mirrorproject/rancher-images/coredns-coredns"


@pytest.mark.parametrize(
    ("template", "references"),
    [
        ("$1x", [GroupReference("$1x", "1x", None)]),
        ("${1}x", [GroupReference("${1}", "1", 1)]),
        ("$01", [GroupReference("$01", "01", None)]),
        ("$name/$0", [GroupReference("$name", "name", None), GroupReference("$0", "0", 0)]),
        ("$é1", [GroupReference("$é1", "é1", None)]),
    ],
)
def test_parse_replacement_references(template: str, references: list[GroupReference]) -> None:
    parsed = parse_replacement(template)

    assert [piece for piece in parsed.pieces if isinstance(piece, GroupReference)] == references


def test_parse_replacement_stray_dollars() -> None:
    parsed = parse_replacement("a$ b${x")

    assert parsed.stray_dollars == 2
    assert parsed.pieces == ("a$ b${x",)


@pytest.mark.parametrize(
    "pattern",
    ["(?!a)", "(?=a)", "(?<=a)b", "(?<!a)b", "(a)\\1", "\\C", "a++", "(?P<é>a)", "[z-a]"],
)
def test_go_rejects_pattern(pattern: str) -> None:
    with pytest.raises(RewriteError) as raised:
        compile_pattern(pattern)

    assert repr(pattern) in str(raised.value)


@pytest.mark.parametrize("pattern", ["\\Q\\C\\E", "[[:alpha:]]+", "(?i)abc", "\\pL", "(?P<name>a)"])
def test_go_accepts_pattern(pattern: str) -> None:
    compile_pattern(pattern)


def test_compile_does_not_print(capfd: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(RewriteError):
        compile_pattern("(?!quiet)")

    captured = capfd.readouterr()
    assert captured.err == ""
    assert captured.out == ""


def test_matching_rewrites_lists_all() -> None:
    rules = {"^library/(.*)": "hub/library/$1", "^(.*)$": "hub/$1", "^quay/(.*)": "q/$1"}

    matches = matching_rewrites(rules, "library/nginx")

    assert matches == [("^library/(.*)", "hub/library/nginx"), ("^(.*)$", "hub/library/nginx")]


def test_matching_rewrites_skips_unchanged() -> None:
    assert matching_rewrites({"^(library)/(.*)": "$1/$2"}, "library/nginx") == []
