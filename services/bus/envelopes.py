"""Building and reading the envelope every bus event travels in."""

from __future__ import annotations

import datetime
import uuid

from analytics.events.v1 import events_pb2
from google.protobuf.message import DecodeError

# The payload a stream entry's envelope is stored under.
ENVELOPE_FIELD = b"envelope"

Payload = (
    events_pb2.DataChanged
    | events_pb2.KpiUpdated
    | events_pb2.BatchJobCompleted
    | events_pb2.ArchiveCompleted
    | events_pb2.ClientConfigChanged
)

_PAYLOAD_FIELDS: dict[type[Payload], str] = {
    events_pb2.DataChanged: "data_changed",
    events_pb2.KpiUpdated: "kpi_updated",
    events_pb2.BatchJobCompleted: "batch_job_completed",
    events_pb2.ArchiveCompleted: "archive_completed",
    events_pb2.ClientConfigChanged: "client_config_changed",
}


def envelope(
    payload: Payload,
    *,
    source: str,
    client_id: str = "",
    occurred_at: datetime.datetime | None = None,
    event_id: str | None = None,
    traceparent: str = "",
) -> events_pb2.EventEnvelope:
    """An envelope around `payload`. Give a deterministic `event_id` when the same event may be
    published twice (at-least-once delivery), so consumers can tell the copies apart from new
    events."""
    message = events_pb2.EventEnvelope(
        event_id=event_id or str(uuid.uuid4()),
        source=source,
        client_id=client_id,
        traceparent=traceparent,
    )
    message.occurred_at.FromDatetime(
        (occurred_at or datetime.datetime.now(datetime.UTC)).astimezone(datetime.UTC)
    )
    getattr(message, _PAYLOAD_FIELDS[type(payload)]).CopyFrom(payload)
    return message


def decode_envelope(data: bytes) -> events_pb2.EventEnvelope | None:
    """The envelope, or None for bytes that are not one (logged and skipped by consumers rather
    than retried forever)."""
    try:
        return events_pb2.EventEnvelope.FromString(data)
    except DecodeError:
        return None
