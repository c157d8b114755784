"""Keyed fingerprints of secret values."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from components.fingerprint import KEY_ENVIRONMENT_VARIABLE, cli_key, fingerprint


def test_fingerprint_is_truncated_hmac() -> None:
    expected = hmac.new(b"key", b"password", hashlib.sha256).hexdigest()[:12]

    assert fingerprint("password", b"key") == expected


def test_fingerprint_str_and_bytes_agree() -> None:
    assert fingerprint("pässword", b"key") == fingerprint("pässword".encode(), b"key")


def test_fingerprint_depends_on_key() -> None:
    assert fingerprint("password", b"key-one") != fingerprint("password", b"key-two")


def test_fingerprint_is_not_plain_hash() -> None:
    plain = hashlib.sha256(b"password").hexdigest()[:12]

    assert fingerprint("password", b"key") != plain


def test_empty_key_rejected() -> None:
    with pytest.raises(ValueError, match="empty"):
        fingerprint("password", b"")


def test_cli_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, "stack-fingerprint-key-0123456789")

    assert cli_key() == b"stack-fingerprint-key-0123456789"


def test_cli_key_random_without_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENVIRONMENT_VARIABLE, raising=False)

    first, second = cli_key(), cli_key()

    assert len(first) == 32
    assert first != second


def test_cli_key_short_logs_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv(KEY_ENVIRONMENT_VARIABLE, "short")

    key = cli_key()

    assert key == b"short"
    assert "at least 16" in caplog.text
    assert "short" not in caplog.text.replace(KEY_ENVIRONMENT_VARIABLE, "")
