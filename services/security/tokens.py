"""Bearer tokens: minting development tokens and turning a presented token into a `Caller`.

Claims: `sub`, `role`, `client_id` (the tenant; absent for admin and operator), `attrs` (string
claims RBAC KPIs filter by, e.g. region, team, org_node), `iss`, `aud`, `iat`, `exp`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jwt

from services.security.caller import Caller, Role
from services.security.keys import (
    ACCEPTED_ALGORITHMS,
    DEFAULT_AUDIENCE,
    DEFAULT_ISSUER,
    SIGNING_ALGORITHM,
    JwksSource,
    SigningKey,
)

DEFAULT_TTL_SECONDS = 3600.0
CLOCK_SKEW_SECONDS = 30

# Roles that act for one client and so must name it; the others see across clients.
TENANT_ROLES = frozenset({Role.ANALYST, Role.MANAGER, Role.SALES})


class InvalidToken(Exception):
    """The token does not prove who the caller is; the message says why (never echoing it)."""


def mint_token(
    signing_key: SigningKey,
    *,
    role: Role | str,
    client_id: str | None = None,
    attributes: Mapping[str, str] | None = None,
    subject: str | None = None,
    ttl_seconds: float = DEFAULT_TTL_SECONDS,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
    now: float | None = None,
) -> str:
    """A signed token for `role` (acting for `client_id` when the role is bound to a client)."""
    role = Role(role)
    client = (client_id or "").strip() or None
    if role in TENANT_ROLES and client is None:
        raise ValueError(f"a token for role {role.value!r} must name the client it acts for")
    if role not in TENANT_ROLES and client is not None:
        raise ValueError(f"role {role.value!r} is not bound to a client; leave the client out")
    issued = int(time.time() if now is None else now)
    claims: dict[str, Any] = {
        "sub": subject or f"{role.value}@{client or 'platform'}",
        "role": role.value,
        "attrs": dict(attributes or {}),
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "exp": issued + int(ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    if client is not None:
        claims["client_id"] = client
    return jwt.encode(
        claims,
        signing_key.private_key,
        algorithm=SIGNING_ALGORITHM,
        headers={"kid": signing_key.key_id},
    )


@dataclass(frozen=True)
class TokenPolicy:
    """What a token must say about where it came from and whom it is for."""

    issuer: str = DEFAULT_ISSUER
    audience: str = DEFAULT_AUDIENCE


@dataclass(frozen=True)
class _Verified:
    caller: Caller
    # The token's `exp` (seconds since the epoch).
    expires_at: float
    key_id: str | None
    key: jwt.PyJWK


class TokenVerifier:
    """Verifies signature, algorithm, issuer, audience and expiry, then reads the caller.

    A session sends the same token with every call, and checking its RS256 signature cost a
    service more CPU than the handler of a live read did. So a token verified is remembered,
    by its exact text, until its `exp` (without the clock-skew leeway: past it, the token is
    verified afresh and held to the leeway then) and for as long as the key that verified it is
    the key its `kid` names (a rotated or withdrawn key is not trusted from memory). Only tokens
    that passed are remembered; a refused one is checked again each time."""

    _REMEMBERED = 4096

    def __init__(
        self,
        keys: JwksSource,
        policy: TokenPolicy | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._policy = policy or TokenPolicy()
        self._clock = clock
        self._verified: dict[str, _Verified] = {}

    def verify(self, token: str) -> Caller:
        known = self._verified.get(token)
        if known is not None:
            if self._clock() < known.expires_at and self._keys.key(known.key_id) is known.key:
                return known.caller
            self._verified.pop(token, None)
        verified = _verify(token, self._keys, self._policy)
        if len(self._verified) >= self._REMEMBERED:
            # The oldest first: dicts keep insertion order.
            self._verified.pop(next(iter(self._verified)), None)
        self._verified[token] = verified
        return verified.caller


def verify_token(token: str, *, keys: JwksSource, policy: TokenPolicy) -> Caller:
    """The caller a token proves; InvalidToken otherwise."""
    return _verify(token, keys, policy).caller


def _verify(token: str, keys: JwksSource, policy: TokenPolicy) -> _Verified:
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as error:
        raise InvalidToken("the bearer token is not a JWT") from error
    algorithm = header.get("alg")
    if algorithm not in ACCEPTED_ALGORITHMS:
        raise InvalidToken(f"tokens signed with {algorithm!r} are not accepted")
    key_id = header.get("kid")
    key = keys.key(key_id if isinstance(key_id, str) else None)
    if key is None:
        raise InvalidToken("the token is signed with an unknown key")
    try:
        claims = jwt.decode(
            token,
            key=key.key,
            algorithms=[algorithm],
            audience=policy.audience,
            issuer=policy.issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.ExpiredSignatureError as error:
        raise InvalidToken("the token has expired") from error
    except jwt.InvalidAudienceError as error:
        raise InvalidToken("the token is meant for another audience") from error
    except jwt.InvalidIssuerError as error:
        raise InvalidToken("the token comes from an issuer this system does not trust") from error
    except jwt.PyJWTError as error:
        raise InvalidToken(f"the token is not valid: {error}") from error
    return _Verified(
        caller_from_claims(claims),
        float(claims["exp"]),
        key_id if isinstance(key_id, str) else None,
        key,
    )


def caller_from_claims(claims: Mapping[str, Any]) -> Caller:
    """The caller verified claims describe; InvalidToken when they do not describe one."""
    claimed_role = claims.get("role")
    if claimed_role not in {r.value for r in Role}:
        raise InvalidToken(f"the token's role {claimed_role!r} is not a known role")
    role = Role(claimed_role)
    client = claims.get("client_id")
    if client is not None and (not isinstance(client, str) or not client.strip()):
        raise InvalidToken("the token's client_id must be a non-empty string")
    if role in TENANT_ROLES and client is None:
        raise InvalidToken(f"a token for role {role.value!r} must carry client_id")
    attributes = claims.get("attrs") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
    ):
        raise InvalidToken("the token's attrs must be an object of string values")
    return Caller(
        subject=str(claims["sub"]),
        role=role,
        # Admin and operator act across clients; a client claim on them carries no meaning.
        client_id=client if role in TENANT_ROLES else None,
        attributes=dict(attributes),
    )
