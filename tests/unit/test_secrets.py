"""Sealing data-source credentials: the key file, key rotation, and values that never print."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from services.security.secrets import (
    KEY_FILE,
    Credentials,
    SecretBox,
    SecretsError,
    load_or_create_key_file,
    secret_box,
)

SECRET = "s3cr3t-Pa55word!"


def test_sealed_credentials_open_again_and_do_not_contain_the_secret(tmp_path: Path) -> None:
    box = secret_box("", tmp_path)
    sealed = box.seal(Credentials({"password": SECRET}))
    assert SECRET.encode() not in sealed
    assert box.open(sealed) == Credentials({"password": SECRET})


def test_the_key_file_is_created_once_and_private(tmp_path: Path) -> None:
    first = load_or_create_key_file(tmp_path)
    assert load_or_create_key_file(tmp_path) == first
    mode = stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode)
    assert mode == 0o600
    sealed = secret_box("", tmp_path).seal(Credentials({"token": SECRET}))
    assert secret_box("", tmp_path).open(sealed)["token"] == SECRET


def test_a_key_from_the_environment_wins_and_old_keys_still_open(tmp_path: Path) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    sealed_with_old = secret_box(old, tmp_path).seal(Credentials({"k": SECRET}))
    rotated = secret_box(f"{new},{old}", tmp_path)
    assert rotated.open(sealed_with_old)["k"] == SECRET
    assert not (tmp_path / KEY_FILE).exists()
    with pytest.raises(SecretsError, match="do not open"):
        secret_box(new, tmp_path).open(sealed_with_old)


def test_a_malformed_key_is_refused() -> None:
    with pytest.raises(SecretsError, match="32 url-safe base64"):
        SecretBox([b"not-a-key"])


def test_credentials_print_their_names_only(caplog: pytest.LogCaptureFixture) -> None:
    credentials = Credentials({"password": SECRET, "api_token": SECRET[::-1]})
    logging.getLogger("test").warning("connecting with %s / %r", credentials, credentials)
    assert SECRET not in caplog.text and SECRET[::-1] not in caplog.text
    assert "api_token" in caplog.text
    assert SECRET not in repr({"creds": credentials})
