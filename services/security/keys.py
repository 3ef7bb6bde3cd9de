"""The key pair that signs development tokens, and the JWKS everyone verifies them against.

A fresh data directory gets an RS256 key pair under `<data_dir>/auth/` the first time anything asks
for it (the stack's start, or `analytics-engine token`), and the public half is published beside it
as `jwks.json`: Envoy reads that file, and so does every service. Production points Envoy and the
services at the identity provider's JWKS instead and never uses the private key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

DEFAULT_ISSUER = "analytics-engine"
"""The `iss` of development tokens (overridden with AE_AUTH_ISSUER for an external provider)."""
DEFAULT_AUDIENCE = "analytics-engine"
"""The `aud` every token must carry (AE_AUTH_AUDIENCE)."""
SIGNING_ALGORITHM = "RS256"
ACCEPTED_ALGORITHMS = ("RS256", "ES256")
"""Asymmetric only: `none` and HMAC (which a public key could be abused to forge) never verify."""

AUTH_DIR_NAME = "auth"
PRIVATE_KEY_FILE = "signing-key.pem"
JWKS_FILE = "jwks.json"
_RSA_BITS = 2048


def auth_dir(data_dir: Path) -> Path:
    return data_dir / AUTH_DIR_NAME


@dataclass(frozen=True)
class KeyFiles:
    """Where one data directory keeps its key pair."""

    directory: Path

    @classmethod
    def of_data_dir(cls, data_dir: Path) -> KeyFiles:
        return cls(auth_dir(data_dir))

    @property
    def private_key(self) -> Path:
        return self.directory / PRIVATE_KEY_FILE

    @property
    def jwks(self) -> Path:
        return self.directory / JWKS_FILE


@dataclass(frozen=True)
class SigningKey:
    """The private key and the key id (`kid`) tokens name it by."""

    key_id: str
    private_key: rsa.RSAPrivateKey


def ensure_key_pair(files: KeyFiles) -> SigningKey:
    """The data directory's signing key, created (with its JWKS) if there is none yet.

    Safe when several processes start at once: the key is written to a temporary file and linked
    into place, so exactly one key wins and everyone reads that one.
    """
    if not files.private_key.exists():
        files.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key = rsa.generate_private_key(public_exponent=65537, key_size=_RSA_BITS)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _publish_exclusively(files.private_key, pem)
    signing_key = load_signing_key(files)
    expected = json.dumps(jwks_document(signing_key), indent=2) + "\n"
    if not files.jwks.exists() or files.jwks.read_text(encoding="utf-8") != expected:
        _replace_atomically(files.jwks, expected.encode(), mode=0o644)
    return signing_key


def load_signing_key(files: KeyFiles) -> SigningKey:
    key = serialization.load_pem_private_key(files.private_key.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{files.private_key} does not hold an RSA private key")
    return SigningKey(key_id=_key_id(key.public_key()), private_key=key)


def jwks_document(signing_key: SigningKey) -> dict[str, Any]:
    """The public half as a JWK Set (RFC 7517), naming the key by its thumbprint."""
    numbers = signing_key.private_key.public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "use": "sig",
                "alg": SIGNING_ALGORITHM,
                "kid": signing_key.key_id,
                "n": _b64_uint(numbers.n),
                "e": _b64_uint(numbers.e),
            }
        ]
    }


def _key_id(public_key: rsa.RSAPublicKey) -> str:
    # RFC 7638 thumbprint: stable across restarts, changes when the key does.
    numbers = public_key.public_numbers()
    canonical = json.dumps(
        {"e": _b64_uint(numbers.e), "kty": "RSA", "n": _b64_uint(numbers.n)},
        separators=(",", ":"),
        sort_keys=True,
    )
    return _b64(hashlib.sha256(canonical.encode()).digest())


def _b64_uint(value: int) -> str:
    return _b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _publish_exclusively(target: Path, content: bytes) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".key-")
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, content)
        os.close(fd)
        try:
            os.link(temporary, target)
        except FileExistsError:
            pass  # another process won the race; its key is the one
    finally:
        os.unlink(temporary)


def _replace_atomically(target: Path, content: bytes, *, mode: int) -> None:
    fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".jwks-")
    try:
        os.fchmod(fd, mode)
        os.write(fd, content)
        os.close(fd)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class JwksSource:
    """The verification keys, from a JWKS file or URL, re-read when a token names an unknown key.

    Re-reading is rate limited so a flood of tokens with made-up key ids cannot turn into a flood
    of reads of the identity provider. A URL is fetched once at start and afterwards on a
    background thread: verification never waits on the network, so a slow identity provider
    cannot stall the service (a token with a brand-new key is refused until the fetch lands).
    """

    def __init__(self, location: str, *, refresh_interval_seconds: float = 5.0) -> None:
        if not location:
            raise ValueError("no JWKS location: set AE_AUTH_JWKS to a jwks.json path or URL")
        self.location = location
        self._refresh_interval = refresh_interval_seconds
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = float("-inf")
        self._remote = location.startswith(("https://", "http://"))
        self._fetching = threading.Lock()
        if self._remote:
            self._load()

    def key(self, key_id: str | None) -> jwt.PyJWK | None:
        """The key a token names, or None. A token without `kid` may use the only key there is."""
        missing = not self._keys if key_id is None else key_id not in self._keys
        if missing and self._may_refresh():
            if self._remote:
                self._refresh_in_background()
            else:
                self._load()
        if key_id is None:
            only = list(self._keys.values())
            return only[0] if len(only) == 1 else None
        return self._keys.get(key_id)

    def _may_refresh(self) -> bool:
        return time.monotonic() - self._loaded_at >= self._refresh_interval

    def _refresh_in_background(self) -> None:
        if not self._fetching.acquire(blocking=False):
            return  # a fetch is already under way
        self._loaded_at = time.monotonic()

        def fetch() -> None:
            try:
                self._load()
            finally:
                self._fetching.release()

        threading.Thread(target=fetch, name="jwks-refresh", daemon=True).start()

    def _load(self) -> None:
        self._loaded_at = time.monotonic()
        try:
            document = json.loads(self._read())
            key_set = jwt.PyJWKSet.from_dict(document)
        except (OSError, ValueError, jwt.PyJWTError):
            return  # keep the keys we had; the next unknown kid tries again
        self._keys = {k.key_id or "": k for k in key_set.keys}

    def _read(self) -> str:
        if self.location.startswith(("https://", "http://")):
            with urllib.request.urlopen(self.location, timeout=5) as response:  # noqa: S310
                body: bytes = response.read()
                return body.decode()
        return Path(self.location).read_text(encoding="utf-8")
