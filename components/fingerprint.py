"""Keyed fingerprints of secret values, so that a preview shows which secret changed, not its value.

The fingerprint is an HMAC, not a plain hash: a plain hash of a weak password
can be confirmed by anyone who hashes guesses, while an HMAC needs the per-stack
key, which is itself a secret.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets

FINGERPRINT_LENGTH = 12
"""Hex characters kept from the HMAC: 48 bits, enough to tell values apart in a diff."""

KEY_ENVIRONMENT_VARIABLE = "REGISTRIES_FINGERPRINT_KEY"

MIN_KEY_LENGTH = 16
"""Key length in bytes below which :func:`cli_key` logs a warning."""

_LOG = logging.getLogger(__name__)


def fingerprint(value: str | bytes, key: bytes) -> str:
    """Return the first 12 hex characters of HMAC-SHA256(key, value).

    A ``str`` value is encoded as UTF-8. Raises ValueError for an empty key,
    because a keyless HMAC is as guessable as a plain hash.
    """
    if not key:
        raise ValueError("the fingerprint key is empty; set a random secret key")
    data = value.encode("utf-8") if isinstance(value, str) else value
    return hmac.new(key, data, hashlib.sha256).hexdigest()[:FINGERPRINT_LENGTH]


def cli_key() -> bytes:
    """Return the fingerprint key for the command line.

    The key is the UTF-8 bytes of ``REGISTRIES_FINGERPRINT_KEY`` when that is
    set and not empty. Otherwise it is 32 random bytes chosen once per call,
    so fingerprints are comparable only within one run; set the variable to
    the stack's key to compare them with a preview.
    """
    text = os.environ.get(KEY_ENVIRONMENT_VARIABLE, "")
    if not text:
        _LOG.info(
            "%s is not set; using a random key, so fingerprints compare only within this run",
            KEY_ENVIRONMENT_VARIABLE,
        )
        return secrets.token_bytes(32)
    key = text.encode("utf-8")
    if len(key) < MIN_KEY_LENGTH:
        _LOG.warning(
            "%s is %d bytes long; a key of at least %d random bytes keeps fingerprints unguessable",
            KEY_ENVIRONMENT_VARIABLE,
            len(key),
            MIN_KEY_LENGTH,
        )
    return key
