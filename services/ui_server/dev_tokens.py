"""Development sign-in: a token for the identity a developer picks on the sign-in screen.

Only the embedded stack offers it (it holds the development signing key in its data directory);
a deployment with a real identity provider leaves it off and the endpoint answers 404.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from services.security.keys import KeyFiles, SigningKey, ensure_key_pair
from services.security.tokens import DEFAULT_TTL_SECONDS, mint_token


class DevSignInError(ValueError):
    """The sign-in request names no usable identity; the message says what to change."""


@dataclass(frozen=True)
class DevTokenIssuer:
    """Mints tokens with the stack's development key, read lazily from its data directory."""

    data_dir: Path
    issuer: str
    audience: str
    ttl_seconds: float = DEFAULT_TTL_SECONDS

    def _key(self) -> SigningKey:
        # Created by the stack at start; creating it here too is safe (first writer wins).
        return ensure_key_pair(KeyFiles.of_data_dir(self.data_dir))

    def issue(self, request: Mapping[str, Any]) -> dict[str, Any]:
        """`{"token", "expiresIn"}` for `{"role", "clientId", "attributes"}`."""
        role = request.get("role")
        client = request.get("clientId") or None
        attributes = request.get("attributes") or {}
        if not isinstance(role, str) or not role:
            raise DevSignInError("role: choose a role")
        if client is not None and not isinstance(client, str):
            raise DevSignInError("clientId: must be a string")
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise DevSignInError("attributes: must map names to strings")
        try:
            token = mint_token(
                self._key(),
                role=role,
                client_id=client,
                attributes=attributes,
                ttl_seconds=self.ttl_seconds,
                issuer=self.issuer,
                audience=self.audience,
            )
        except ValueError as error:
            raise DevSignInError(str(error)) from error
        return {"token": token, "expiresIn": int(self.ttl_seconds)}
