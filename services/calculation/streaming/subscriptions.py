"""What a live stream watches: a (client, KPI, period, security context) subscription."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from services.aggregates.query import Period
from services.security.caller import Caller

# Periods a live subscription may use: their buckets are fixed lengths of UTC time.
LIVE_PERIODS = (Period.MINUTE, Period.HOUR, Period.DAY)


@dataclass(frozen=True)
class Subscription:
    client_id: str
    # Upper case, as the catalog spells codes.
    kpi_code: str
    period: Period
    # Caller.security_context() of the viewers; empty for a subscription without a caller (the
    # service's own, which sees every row).
    security_context_key: str = ""
    # The viewers' rights, kept with the subscription so a recomputation long after the stream
    # opened reads exactly the rows they may see. Not part of the identity: the key stands for it.
    caller: Caller | None = field(default=None, compare=False)

    @property
    def key(self) -> str:
        return subscription_key(self)


def subscription_key(subscription: Subscription) -> str:
    """The subscription's key, the same in every hub and replica: the first 32 hex digits of the
    SHA-256 of client id, KPI code, period name (`minute`, `hour`, `day`) and security context
    key, joined by the unit separator (U+001F), which none of them can contain."""
    identity = "\x1f".join(
        (
            subscription.client_id,
            subscription.kpi_code,
            subscription.period.value,
            subscription.security_context_key,
        )
    )
    return hashlib.sha256(identity.encode()).hexdigest()[:32]
