"""Secrets at rest: data-source credentials are sealed with Fernet (AES-128-CBC + HMAC-SHA256,
authenticated) before they reach the database, and opened only by code that must use them.

The key comes from `AE_SECRETS_KEY` (one or more comma-separated Fernet keys, the first encrypts,
all decrypt, so a key can be rotated), or else from `<data_dir>/auth/secrets.key`, created with
owner-only permissions on first run. Values travel inside `Credentials`, whose repr shows names
only, so a log line or a traceback that prints one never shows a secret.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator, Mapping

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEY_FILE = pathlib.Path("auth") / "secrets.key"


class SecretsError(Exception):
    """The key is missing or malformed, or a sealed value does not open with it."""


class Credentials(Mapping[str, str]):
    """Secret values by name. Printing or logging one shows the names, never the values."""

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def __getitem__(self, name: str) -> str:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"Credentials(names={sorted(self._values)!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Credentials) and other._values == self._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self._values))


class SecretBox:
    """Seals and opens credentials with the service's key."""

    def __init__(self, keys: list[bytes]) -> None:
        if not keys:
            raise SecretsError("no secrets key configured")
        try:
            self._fernet = MultiFernet([Fernet(key) for key in keys])
        except ValueError as error:
            raise SecretsError(
                "a secrets key must be 32 url-safe base64-encoded bytes (Fernet.generate_key())"
            ) from error

    def seal(self, credentials: Credentials) -> bytes:
        plain = json.dumps(dict(credentials.items()), sort_keys=True).encode()
        return self._fernet.encrypt(plain)

    def open(self, sealed: bytes) -> Credentials:
        try:
            plain = self._fernet.decrypt(sealed)
        except InvalidToken as error:
            raise SecretsError(
                "stored credentials do not open with the configured key (was it replaced?)"
            ) from error
        values = json.loads(plain)
        return Credentials({str(k): str(v) for k, v in values.items()})


def load_or_create_key_file(data_dir: pathlib.Path) -> bytes:
    """The key in `<data_dir>/auth/secrets.key`, created (mode 0600) when absent. Two processes
    starting at once agree: the key is written to a private file first and then linked into place,
    which fails for the loser, who reads the winner's complete key."""
    path = data_dir / KEY_FILE
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(Fernet.generate_key() + b"\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    stored = path.read_bytes().strip()
    if not stored:
        raise SecretsError(f"{path} is empty; delete it to create a new key")
    return stored


def secret_box(env_keys: str, data_dir: pathlib.Path) -> SecretBox:
    """The box for a service: keys from the environment when set, else the data-dir key file."""
    keys = [k.strip().encode() for k in env_keys.split(",") if k.strip()]
    return SecretBox(keys or [load_or_create_key_file(data_dir)])
