"""Typed settings read once from the environment.

A service declares a frozen, keyword-only dataclass whose fields carry their environment variable
name (`env("DATABASE_URL")`). `load_settings` reads them all at start and fails fast with every
missing or malformed variable listed at once; nothing below it reads `os.environ`.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

T = TypeVar("T")

_ENV_KEY = "env"


class SettingsError(Exception):
    """The environment does not describe a runnable service."""


def env(name: str, default: Any = dataclasses.MISSING) -> Any:
    """Declare a settings field read from environment variable `name`."""
    return dataclasses.field(default=default, metadata={_ENV_KEY: name})


def _parse(raw: str, kind: Any) -> Any:
    if kind is bool:
        lowered = raw.strip().lower()
        if lowered in {"1", "true", "yes", "on"}:
            return True
        if lowered in {"0", "false", "no", "off", ""}:
            return False
        raise ValueError(f"expected true/false, got {raw!r}")
    if kind in (int, float, str):
        return kind(raw)
    raise TypeError(f"unsupported settings type {kind!r}")


def _unwrap_optional(kind: Any) -> tuple[Any, bool]:
    if isinstance(kind, types.UnionType) or typing.get_origin(kind) is typing.Union:
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
    return kind, False


def load_settings(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Build `cls` from the environment, reporting every problem at once."""
    source = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    problems: list[str] = []
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        name = field.metadata.get(_ENV_KEY)
        if name is None:
            continue
        kind, optional = _unwrap_optional(hints[field.name])
        raw = source.get(name)
        if raw is None or (optional and raw == ""):
            if field.default is dataclasses.MISSING:
                problems.append(f"{name} is not set")
            continue
        try:
            values[field.name] = _parse(raw, kind)
        except (TypeError, ValueError) as error:
            problems.append(f"{name}={raw!r} is invalid: {error}")
    if problems:
        raise SettingsError(f"{cls.__name__}: " + "; ".join(problems))
    return cls(**values)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ServiceSettings:
    """Settings every service has. A service's own settings subclass this."""

    service_name: str = env("AE_SERVICE_NAME")
    listen: str = env("AE_LISTEN")
    log_level: str = env("AE_LOG_LEVEL", "INFO")
    log_format: str = env("AE_LOG_FORMAT", "json")
    # "none" keeps tracing instrumentation in place without exporting; "console" prints spans.
    otel_exporter: str = env("AE_OTEL_EXPORTER", "none")
    shutdown_grace_seconds: float = env("AE_SHUTDOWN_GRACE_SECONDS", 5.0)
    # Deadline applied to outbound calls that have no incoming deadline to inherit.
    default_deadline_seconds: float = env("AE_DEFAULT_DEADLINE_SECONDS", 5.0)
    dependency_check_seconds: float = env("AE_DEPENDENCY_CHECK_SECONDS", 5.0)
    # Where bearer tokens are verified from: a jwks.json path (the stack's `<data dir>/auth/`) or
    # an identity provider's JWKS URL; with the issuer and audience tokens must name.
    auth_jwks: str = env("AE_AUTH_JWKS", "")
    auth_issuer: str = env("AE_AUTH_ISSUER", "analytics-engine")
    auth_audience: str = env("AE_AUTH_AUDIENCE", "analytics-engine")
