"""Selection of one key from a secret stored as a JSON object (``aws-sm:NAME#KEY``)."""

from __future__ import annotations

import json

from components.credentials.errors import FailureKind, FetchError

MAX_LISTED_KEYS = 20
"""Key names listed in a "JSON key missing" error before the rest are counted."""

_JSON_TYPE_NAMES = {
    dict: "object",
    list: "array",
    str: "string",
    int: "number",
    float: "number",
    bool: "boolean",
    type(None): "null",
}


def select_json_key(text: str, key: str) -> str:
    """Return the string under top-level ``key`` of the JSON object in ``text``.

    Errors name the JSON type found and the available key names, never a
    value. The JSON error is raised outside the except block because
    ``json.JSONDecodeError.doc`` holds the whole document.
    """
    try:
        document: object = json.loads(text)
        valid = True
    except json.JSONDecodeError:
        valid = False
    if not valid:
        raise FetchError(
            FailureKind.NOT_JSON_OBJECT,
            f"the value is not JSON, so it has no key {key!r}",
            "store a JSON object or drop the '#KEY' part",
        )
    if not isinstance(document, dict):
        raise FetchError(
            FailureKind.NOT_JSON_OBJECT,
            f"the value is a JSON {_type_name(document)}, not an object, so it has no key {key!r}",
            "store a JSON object or drop the '#KEY' part",
        )

    if key not in document:
        raise FetchError(
            FailureKind.JSON_KEY_MISSING,
            f"the JSON object has no key {key!r}",
            f"available keys: {_list_keys(list(document))}",
        )
    value = document[key]
    if not isinstance(value, str):
        raise FetchError(
            FailureKind.NOT_TEXT,
            f"key {key!r} holds a JSON {_type_name(value)}, not a string",
            "store the value as a JSON string",
        )
    return value


def _type_name(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _list_keys(names: list[str]) -> str:
    if not names:
        return "none, the object is empty"
    shown = ", ".join(repr(name) for name in names[:MAX_LISTED_KEYS])
    hidden = len(names) - MAX_LISTED_KEYS
    return f"{shown} and {hidden} more" if hidden > 0 else shown
