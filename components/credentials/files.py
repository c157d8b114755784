"""Secrets from files: ``file:PATH``.

A relative ``PATH`` is taken from the project root (the folder that holds
``Pulumi.yaml``), not from the working directory, so a reference means the
same file wherever pulumi is started. A leading ``~`` is the user's home.
The content must be UTF-8 text. One trailing line ending (``\\n`` or
``\\r\\n``) is removed, because editors and ``echo`` add one that is not part
of a password. Everything else, including other whitespace, is kept.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from pathlib import Path

from components.credentials.errors import FailureKind, FetchError, ReferenceSyntaxError
from components.credentials.source import ParsedReference

MAX_FILE_BYTES = 1024 * 1024
"""Largest secret file read, so that ``file:/dev/zero`` fails instead of filling memory."""


@dataclass(frozen=True)
class FileTarget:
    """One file, by absolute path."""

    path: Path


class FileSource:
    """Read a secret from a file on the machine that runs the program."""

    scheme = "file"
    example = "file:secrets/registry-password"

    def __init__(self, project_root: Path) -> None:
        self._project_root = project_root

    def __repr__(self) -> str:
        return f"FileSource(project_root={str(self._project_root)!r})"

    def parse(self, body: str) -> ParsedReference[FileTarget]:
        """Parse a path; everything after ``file:`` is the path, with no options."""
        if not body:
            raise ReferenceSyntaxError("the file path is empty", self.example)
        if "\0" in body:
            raise ReferenceSyntaxError("the file path contains a NUL character", self.example)

        try:
            path = Path(body).expanduser()
        except RuntimeError:
            # pathlib raises this for ~user when the user does not exist.
            raise ReferenceSyntaxError(
                f"{body!r} starts with a home directory that does not exist", self.example
            ) from None
        if not path.is_absolute():
            path = self._project_root / path
        return ParsedReference(FileTarget(path))

    def fetch(self, target: FileTarget) -> str:
        """Read the file as UTF-8 and drop one trailing line ending."""
        content = _read_bytes(target.path)
        if len(content) > MAX_FILE_BYTES:
            raise FetchError(
                FailureKind.UNREADABLE,
                f"file {str(target.path)!r} is larger than {MAX_FILE_BYTES} bytes",
                "point the reference at a file that holds only the secret",
            )

        # The error is raised outside the except block, so that the
        # UnicodeDecodeError (whose ``object`` holds the content) is not kept
        # as its context.
        try:
            text: str | None = content.decode("utf-8")
        except UnicodeDecodeError:
            text = None
        if text is None:
            raise FetchError(
                FailureKind.NOT_TEXT,
                f"file {str(target.path)!r} is not UTF-8 text",
                "store the secret as text",
            )

        if text.endswith("\r\n"):
            return text[:-2]
        if text.endswith("\n"):
            return text[:-1]
        return text


def _read_bytes(path: Path) -> bytes:
    """Read up to one byte more than the limit; map OS errors to fetch errors by errno."""
    try:
        with path.open("rb") as stream:
            return stream.read(MAX_FILE_BYTES + 1)
    except OSError as error:
        code = error.errno
    # Raised outside the except block so the OSError is not kept as context.
    if code == errno.ENOENT:
        raise FetchError(
            FailureKind.NOT_FOUND,
            f"file {str(path)!r} does not exist",
            "a relative path is taken from the folder that holds Pulumi.yaml",
        )
    name = errno.errorcode.get(code, "unknown error") if code is not None else "unknown error"
    raise FetchError(
        FailureKind.UNREADABLE,
        f"file {str(path)!r} cannot be read ({name})",
        "check that it is a regular file readable by the user that runs pulumi",
    )
