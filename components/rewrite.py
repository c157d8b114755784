"""Rewrite rules: RE2 patterns and Go ``regexp.Expand`` replacements, checked and applied like K3s.

K3s compiles each pattern with Go's ``regexp`` package and applies it with
``ReplaceAllString``. google-re2 accepts nearly the same syntax, and the few
differences are checked here. Python's own ``re.sub`` expands replacements
differently, so Go's expansion and match loop are reimplemented.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import re2


class MatchLike(Protocol):
    """The part of a google-re2 match object that this module uses."""

    def span(self, group: int = 0) -> tuple[int, int]: ...


class CompiledPattern(Protocol):
    """The part of a compiled google-re2 pattern that this module uses."""

    groups: int
    groupindex: Mapping[str, int]

    def search(self, text: str, pos: int = 0) -> MatchLike | None: ...


class RewriteError(ValueError):
    """A rewrite pattern or replacement that K3s would reject or skip."""


_OPTIONS = re2.Options()
# Without this, RE2 also prints every compile error to stderr.
_OPTIONS.log_errors = False

# Go's regexp/syntax accepts only ASCII letters, digits and '_' in group names.
_GO_GROUP_NAME = re.compile(r"[A-Za-z0-9_]+")

REPOSITORY_CHARACTERS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789._-/")
"""Characters allowed in a repository path (distribution/reference path components)."""


@functools.lru_cache(maxsize=8192)
def compile_pattern(pattern: str) -> CompiledPattern:
    """Compile ``pattern`` as Go's ``regexp.Compile`` would, or raise :class:`RewriteError`.

    The error message quotes the pattern and RE2's reason.
    """
    if _has_escape(pattern, "C"):
        # C++ RE2 accepts \C (any byte); Go's regexp/syntax rejects it.
        raise RewriteError(f"pattern {pattern!r} is not valid Go RE2: \\C is not supported")
    try:
        compiled: CompiledPattern = re2.compile(pattern, _OPTIONS)
    except re2.error as error:
        reason = error.args[0] if error.args else error
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise RewriteError(f"pattern {pattern!r} is not valid Go RE2: {reason}") from None
    for name in compiled.groupindex:
        if not _GO_GROUP_NAME.fullmatch(name):
            raise RewriteError(
                f"pattern {pattern!r} is not valid Go RE2: group name {name!r} "
                "may contain only ASCII letters, digits and '_'"
            )
    return compiled


def _has_escape(pattern: str, letter: str) -> bool:
    """Tell whether ``pattern`` contains the escape ``\\<letter>`` outside ``\\Q...\\E``."""
    index = 0
    while index < len(pattern) - 1:
        if pattern[index] != "\\":
            index += 1
            continue
        following = pattern[index + 1]
        if following == "Q":
            end = pattern.find("\\E", index + 2)
            if end < 0:
                return False
            index = end + 2
            continue
        if following == letter:
            return True
        index += 2
    return False


def uses_angle_group_syntax(pattern: str) -> bool:
    """Tell whether ``pattern`` names a group as ``(?<name>...)``, which Go accepts since 1.22."""
    return "(?<" in pattern and not re.search(r"\(\?<[=!]", pattern)


@dataclass(frozen=True)
class GroupReference:
    """One ``$name``/``${name}`` in a replacement, as Go's ``regexp.Expand`` reads it."""

    text: str
    """The reference as written, such as ``$1`` or ``${name}``."""

    name: str
    number: int | None
    """The group number, or None when Go treats the name as a group name."""


@dataclass(frozen=True)
class Replacement:
    """A parsed replacement: literal text and group references in order."""

    pieces: tuple[str | GroupReference, ...]
    stray_dollars: int
    """How many ``$`` start no reference; Go copies each as a literal ``$``."""


def parse_replacement(template: str) -> Replacement:
    """Split ``template`` into literals and group references with Go's ``regexp.Expand`` rules.

    ``$$`` is a literal ``$``. ``$name`` takes the longest run of letters,
    digits and ``_``, so ``$1x`` names group ``1x``, not group 1 followed by x.
    ``${name}`` ends at the brace. A name of ASCII digits without a leading
    zero is a group number. A ``$`` that starts no valid name stays literal.
    """
    pieces: list[str | GroupReference] = []
    literal: list[str] = []
    stray = 0
    index = 0
    while index < len(template):
        char = template[index]
        if char != "$":
            literal.append(char)
            index += 1
            continue
        if template.startswith("$$", index):
            literal.append("$")
            index += 2
            continue
        reference, end = _extract_reference(template, index)
        if reference is None:
            literal.append("$")
            stray += 1
            index += 1
            continue
        if literal:
            pieces.append("".join(literal))
            literal = []
        pieces.append(reference)
        index = end
    if literal:
        pieces.append("".join(literal))
    return Replacement(tuple(pieces), stray)


def _is_name_character(char: str) -> bool:
    # Go: unicode.IsLetter (categories L*), unicode.IsDigit (Nd), or '_'.
    return char.isalpha() or char.isdecimal() or char == "_"


def _extract_reference(template: str, dollar: int) -> tuple[GroupReference | None, int]:
    start = dollar + 1
    braced = template.startswith("{", start)
    if braced:
        start += 1
    end = start
    while end < len(template) and _is_name_character(template[end]):
        end += 1
    if end == start:
        return None, dollar + 1
    name = template[start:end]
    if braced:
        if not template.startswith("}", end):
            return None, dollar + 1
        end += 1
    return GroupReference(template[dollar:end], name, _group_number(name)), end


def _group_number(name: str) -> int | None:
    if not (name.isascii() and name.isdigit()):
        return None
    if len(name) > 1 and name.startswith("0"):
        return None
    number = int(name)
    return number if number < 100_000_000 else None


@dataclass(frozen=True)
class ReplacementIssue:
    """A problem with a replacement; ``is_error`` False means a warning."""

    message: str
    hint: str
    is_error: bool = True


def check_replacement(compiled: CompiledPattern, template: str) -> list[ReplacementIssue]:
    """Check every group reference in ``template`` against the compiled pattern.

    A reference to a missing group expands to nothing in Go, silently, so it
    is an error. So is literal text that cannot appear in a repository path,
    because K3s then requests a path that no registry serves.
    """
    parsed = parse_replacement(template)
    issues: list[ReplacementIssue] = []
    for piece in parsed.pieces:
        if isinstance(piece, GroupReference):
            issue = _check_reference(compiled, piece)
            if issue is not None:
                issues.append(issue)
    if parsed.stray_dollars:
        issues.append(
            ReplacementIssue(
                "contains a '$' that starts no group reference, so Go keeps it as a literal '$'",
                "write ${1} for group 1, ${name} for a named group, or $$ for a literal '$'",
            )
        )
    bad = sorted(
        {
            char
            for piece in parsed.pieces
            if isinstance(piece, str)
            for char in piece
            if char not in REPOSITORY_CHARACTERS and not (char == "$" and parsed.stray_dollars)
        }
    )
    if bad:
        listed = ", ".join(repr(char) for char in bad)
        issues.append(
            ReplacementIssue(
                f"contains {listed}, which a repository path cannot contain",
                "repository paths use lower-case letters, digits, '.', '_', '-' and '/'",
            )
        )
    return issues


def _check_reference(
    compiled: CompiledPattern, reference: GroupReference
) -> ReplacementIssue | None:
    groups = compiled.groups
    if reference.number is not None:
        if reference.number <= groups:
            return None
        return ReplacementIssue(
            f"{reference.text} refers to group {reference.number}, but the pattern has "
            f"{groups} group{'s' if groups != 1 else ''}, so it expands to nothing",
            "add a capturing group ( ) to the pattern, or fix the number",
        )
    if reference.name in compiled.groupindex:
        return None
    leading = re.match(r"[0-9]+", reference.name)
    if leading and not reference.text.startswith("${"):
        digits = leading.group(0)
        rest = reference.name[len(digits) :]
        return ReplacementIssue(
            f"{reference.text} is read as the group named {reference.name!r}, because Go takes "
            "the longest run of letters, digits and '_' after '$'; the pattern has no such "
            "group, so it expands to nothing",
            f"write ${{{digits}}}{rest} for group {digits} followed by {rest!r}",
        )
    names = ", ".join(sorted(compiled.groupindex)) or "none"
    return ReplacementIssue(
        f"{reference.text} refers to a group named {reference.name!r}, which the pattern does "
        f"not define (named groups: {names}), so it expands to nothing",
        "name the group with (?P<name>...) or refer to it by number",
    )


def expand(replacement: Replacement, text: str, match: MatchLike, compiled: CompiledPattern) -> str:
    """Expand a parsed replacement for one match, as Go's ``regexp.Expand``."""
    out: list[str] = []
    for piece in replacement.pieces:
        if isinstance(piece, str):
            out.append(piece)
            continue
        index = piece.number
        if index is None:
            index = compiled.groupindex.get(piece.name)
        if index is None or index > compiled.groups:
            continue
        start, end = match.span(index)
        if start >= 0:
            out.append(text[start:end])
    return "".join(out)


def replace_all(pattern: str, template: str, text: str) -> str:
    """Apply ``pattern`` to ``text`` as Go's ``Regexp.ReplaceAllString(text, template)``.

    Matches are found left to right without overlap. An empty match right
    after the previous match is not replaced, and the search always advances
    by at least one character, as in Go's ``replaceAll``.
    """
    compiled = compile_pattern(pattern)
    replacement = parse_replacement(template)
    out: list[str] = []
    last_match_end = 0
    search_pos = 0
    while search_pos <= len(text):
        match = compiled.search(text, search_pos)
        if match is None:
            break
        start, end = match.span()
        out.append(text[last_match_end:start])
        if end > last_match_end or start == 0:
            out.append(expand(replacement, text, match, compiled))
        last_match_end = end
        search_pos = end if end > search_pos else search_pos + 1
    out.append(text[last_match_end:])
    return "".join(out)


def matching_rewrites(rewrite: Mapping[str, str], repository: str) -> list[tuple[str, str]]:
    """Return each (pattern, result) whose rule changes ``repository``, in the file's order.

    K3s keeps rewrites in a Go map and applies the first rule, in map
    iteration order, that changes the repository (rancher/wharfie
    pkg/registries Rewrite). Go randomizes that order, so when this returns
    more than one entry, which of them applies can change from pull to pull.
    Patterns that do not compile are skipped, as K3s skips them.
    """
    # NOTE: this follows wharfie's Rewrite; the K3s fork of containerd that
    # applies hosts.toml rewrites is assumed to pick the rule the same way.
    results: list[tuple[str, str]] = []
    for pattern, template in rewrite.items():
        try:
            result = replace_all(pattern, template, repository)
        except RewriteError:
            continue
        if result != repository:
            results.append((pattern, result))
    return results


def describe_patterns(patterns: Sequence[str]) -> str:
    """Quote patterns for a message: ``'^a/(.*)', '^b/(.*)'``."""
    return ", ".join(repr(pattern) for pattern in patterns)
