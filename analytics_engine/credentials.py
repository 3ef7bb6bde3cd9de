"""Tokens the command line mints from a data directory's development key pair.

`analytics-engine token` prints one for a person; the demo tools use `TokenSource` to act as an
admin on the stack they were started for, re-minting before the token expires so a feed that runs
for days keeps working; `channel_with` gives tools and tests a channel whose every call carries a
token, as the SDK's client does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc

from services.security.caller import Role
from services.security.keys import DEFAULT_AUDIENCE, DEFAULT_ISSUER, KeyFiles, ensure_key_pair
from services.security.tokens import mint_token

AUTHORIZATION = "authorization"
TOOL_TTL_SECONDS = 3600.0


def bearer_metadata(token: str) -> tuple[tuple[str, str], ...]:
    """gRPC metadata carrying a token."""
    return ((AUTHORIZATION, f"Bearer {token}"),)


def mint_for_data_dir(
    data_dir: Path,
    *,
    role: Role | str,
    client_id: str | None = None,
    attributes: Mapping[str, str] | None = None,
    subject: str | None = None,
    ttl_seconds: float = TOOL_TTL_SECONDS,
    issuer: str = DEFAULT_ISSUER,
    audience: str = DEFAULT_AUDIENCE,
) -> str:
    """A token the stack in `data_dir` accepts (creating the key pair on first use)."""
    signing_key = ensure_key_pair(KeyFiles.of_data_dir(data_dir))
    return mint_token(
        signing_key,
        role=role,
        client_id=client_id,
        attributes=attributes,
        subject=subject,
        ttl_seconds=ttl_seconds,
        issuer=issuer,
        audience=audience,
    )


@dataclass
class TokenSource:
    """Metadata with a fresh token for one role of one data directory's stack."""

    data_dir: Path
    role: Role = Role.ADMIN
    client_id: str | None = None
    subject: str = "analytics-engine-cli"
    ttl_seconds: float = TOOL_TTL_SECONDS
    _token: str = field(default="", init=False)
    _renew_at: float = field(default=0.0, init=False)

    def metadata(self) -> Sequence[tuple[str, str]]:
        now = time.monotonic()
        if not self._token or now >= self._renew_at:
            self._token = mint_for_data_dir(
                self.data_dir,
                role=self.role,
                client_id=self.client_id,
                subject=self.subject,
                ttl_seconds=self.ttl_seconds,
            )
            # Renew well before expiry so a call in flight never carries a token about to lapse.
            self._renew_at = now + self.ttl_seconds / 2
        return bearer_metadata(self._token)


class _AddsMetadata:
    """Adds call metadata (a bearer token) to a call, like the SDK does; metadata the call sets
    itself wins."""

    def __init__(self, metadata: Sequence[tuple[str, str]]) -> None:
        self._metadata = tuple(metadata)

    def _details(self, details: Any) -> Any:
        own = tuple(details.metadata or ())
        keys = {key for key, _ in own}
        merged = own + tuple(item for item in self._metadata if item[0] not in keys)
        return details._replace(metadata=grpc.aio.Metadata(*merged))


# grpc.aio files each interceptor under the first call kind it implements, so one class per kind.
class _UnaryUnary(_AddsMetadata, grpc.aio.UnaryUnaryClientInterceptor):
    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(self._details(details), request)


class _UnaryStream(_AddsMetadata, grpc.aio.UnaryStreamClientInterceptor):
    async def intercept_unary_stream(
        self, continuation: Callable[..., Any], details: Any, request: Any
    ) -> Any:
        return await continuation(self._details(details), request)


class _StreamUnary(_AddsMetadata, grpc.aio.StreamUnaryClientInterceptor):
    async def intercept_stream_unary(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(details), request_iterator)


class _StreamStream(_AddsMetadata, grpc.aio.StreamStreamClientInterceptor):
    async def intercept_stream_stream(
        self, continuation: Callable[..., Any], details: Any, request_iterator: Any
    ) -> Any:
        return await continuation(self._details(details), request_iterator)


def channel_with(
    address: str, metadata: Sequence[tuple[str, str]], **kwargs: Any
) -> grpc.aio.Channel:
    """An insecure channel whose every call carries `metadata` (e.g. `tokens.admin()`)."""
    interceptors: list[Any] = [
        kind(metadata) for kind in (_UnaryUnary, _UnaryStream, _StreamUnary, _StreamStream)
    ]
    return grpc.aio.insecure_channel(address, interceptors=interceptors, **kwargs)
