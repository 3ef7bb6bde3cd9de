"""Per-call values (request id, deadline) carried in ContextVars so logging and outbound calls see
them without threading them through every function."""

from __future__ import annotations

import time
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
rpc_method_var: ContextVar[str] = ContextVar("rpc_method", default="")
# Absolute time.monotonic() at which the incoming call's deadline expires; None when it has none.
deadline_var: ContextVar[float | None] = ContextVar("deadline", default=None)


def remaining_seconds() -> float | None:
    """Seconds left before the incoming call's deadline, or None when it has no deadline."""
    deadline = deadline_var.get()
    if deadline is None:
        return None
    return deadline - time.monotonic()
