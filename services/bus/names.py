"""Names on the bus, in one place: every publisher and consumer derives them from here."""

from __future__ import annotations

# Stream of `DataChanged` envelopes, written by the data service's outbox relay.
DATA_CHANGED_STREAM = "ae:events:data-changed"

# Consumer group of the calculation replicas on DATA_CHANGED_STREAM.
CALCULATION_GROUP = "calculation"

_KPI_CHANNEL_PREFIX = "ae:kpi:"


def kpi_channel(subscription_key: str) -> str:
    """Pub/sub channel carrying the serialized `KpiUpdated` events of one live subscription."""
    return _KPI_CHANNEL_PREFIX + subscription_key
