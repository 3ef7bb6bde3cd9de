"""Envelopes and names on the bus: pure, no Redis."""

from __future__ import annotations

import datetime
import uuid

from analytics.events.v1 import events_pb2

from services.bus.envelopes import decode_envelope, envelope
from services.bus.names import kpi_channel


def test_an_envelope_carries_its_payload_and_decodes_back() -> None:
    moment = datetime.datetime(2026, 11, 2, 9, 30, tzinfo=datetime.UTC)
    message = envelope(
        events_pb2.DataChanged(client_id="acme", object_model_code="ORDER", row_count=3),
        source="data",
        client_id="acme",
        occurred_at=moment,
    )
    decoded = decode_envelope(message.SerializeToString())
    assert decoded is not None
    assert decoded.WhichOneof("payload") == "data_changed"
    assert decoded.data_changed.row_count == 3
    assert decoded.occurred_at.ToDatetime(tzinfo=datetime.UTC) == moment
    assert decoded.source == "data" and decoded.client_id == "acme"
    uuid.UUID(decoded.event_id)


def test_each_envelope_gets_a_new_id_unless_one_is_given() -> None:
    payload = events_pb2.KpiUpdated(subscription_key="k")
    first, second = envelope(payload, source="calculation"), envelope(payload, source="calc")
    assert first.event_id != second.event_id
    assert envelope(payload, source="x", event_id="fixed").event_id == "fixed"
    assert envelope(payload, source="x").WhichOneof("payload") == "kpi_updated"


def test_bytes_that_are_not_an_envelope_decode_to_none() -> None:
    assert decode_envelope(b"\xff\xff\xff not protobuf") is None


def test_kpi_channels_are_named_by_subscription_key() -> None:
    assert kpi_channel("0123abcd") == "ae:kpi:0123abcd"
