"""What a live stream watches: a (client, KPI, period, security context) subscription."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from services.aggregates.query import Period

# Periods a live subscription may use: their buckets are fixed lengths of UTC time.
LIVE_PERIODS = (Period.MINUTE, Period.HOUR, Period.DAY)


@dataclass(frozen=True)
class Subscription:
    client_id: str
    # Upper case, as the catalog spells codes.
    kpi_code: str
    period: Period
    # SecurityContext.key of the viewers; empty while streams carry no security context.
    security_context_key: str = ""

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
