"""Protobuf messages of a stream. StreamKpiResponse and StreamDashboardResponse have the same
shape, so one builder serves both (the response class is a parameter)."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import TypeVar

from analytics.gateway.v1 import stream_pb2
from analytics.type.v1 import types_pb2
from google.protobuf import duration_pb2, timestamp_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.hub import OpenedStream
from gateway.streaming.live_stream import Ending, EndReason, Heartbeat, KpiFailure, Outgoing
from gateway.streaming.periods import to_wire
from services.runtime.wire import PreEncoded, varint, with_field

Response = TypeVar("Response", stream_pb2.StreamKpiResponse, stream_pb2.StreamDashboardResponse)

_END_REASONS = {
    EndReason.SERVER_SHUTDOWN: stream_pb2.STREAM_END_REASON_SERVER_SHUTDOWN,
    EndReason.ERROR: stream_pb2.STREAM_END_REASON_ERROR,
    EndReason.CLIENT_TOO_SLOW: stream_pb2.STREAM_END_REASON_CLIENT_TOO_SLOW,
}


def _timestamp(instant: datetime.datetime) -> timestamp_pb2.Timestamp:
    stamp = timestamp_pb2.Timestamp()
    stamp.FromDatetime(instant)
    return stamp


def _errors(failures: list[KpiFailure]) -> list[stream_pb2.KpiStreamError]:
    return [stream_pb2.KpiStreamError(kpi_code=f.kpi_code, status=f.status) for f in failures]


def snapshot(
    response_type: type[Response],
    sequence: int,
    opened: OpenedStream,
    heartbeat_seconds: float,
) -> PreEncoded:
    """The first message: this stream's own fields, then the KPI series encoded once for every
    stream that read the same snapshot."""
    period: LivePeriod = opened.request.period
    now = opened.opened_at
    heartbeat = duration_pb2.Duration()
    heartbeat.FromMilliseconds(int(heartbeat_seconds * 1000))
    own = stream_pb2.StreamSnapshot(
        stream_id=opened.stream.stream_id,
        period=to_wire(period),
        errors=_errors(opened.failures),
        current_bucket_start=_timestamp(period.bucket_start(now)),
        next_bucket_start=_timestamp(period.next_bucket_start(now)),
        server_time=_timestamp(now),
        heartbeat_interval=heartbeat,
    )
    field_number = response_type.DESCRIPTOR.fields_by_name["snapshot"].number
    head = response_type(sequence=sequence).SerializeToString()
    return PreEncoded(with_field(head, field_number, [own.SerializeToString(), *opened.series]))


def following(
    response_type: type[Response],
    sequence: int,
    outgoing: Outgoing,
    period: LivePeriod,
    now: datetime.datetime,
    encoded_values: Callable[[list[types_pb2.KpiValue]], bytes] | None = None,
) -> Response | PreEncoded:
    """The message for whatever a stream has to send after its snapshot. With `encoded_values`,
    an update's values are taken encoded from there (shared by the streams that send the same)."""
    if isinstance(outgoing, Ending):
        return end(response_type, sequence, outgoing)
    if isinstance(outgoing, Heartbeat):
        return response_type(
            sequence=sequence,
            heartbeat=stream_pb2.StreamHeartbeat(
                server_time=_timestamp(now),
                next_bucket_start=_timestamp(period.next_bucket_start(now)),
            ),
        )
    if encoded_values is None:
        own = _update_fields(period, now, outgoing.bucket_opened, outgoing.failures)
        own.values.extend(outgoing.values)
        return response_type(sequence=sequence, update=own)
    values = encoded_values(outgoing.values)
    if outgoing.failures:
        fields = _update_fields(period, now, outgoing.bucket_opened, outgoing.failures)
        update = with_field(b"", _UPDATE_FIELD, [fields.SerializeToString(), values])
    else:
        update = _shared_update(_shared_update_fields(period, now, outgoing.bucket_opened), values)
    return PreEncoded(_sequence(sequence) + update)


# Both response messages number their fields alike (sequence 1, the event's oneof after it).
_UPDATE_FIELD = stream_pb2.StreamDashboardResponse.DESCRIPTOR.fields_by_name["update"].number
assert _UPDATE_FIELD == stream_pb2.StreamKpiResponse.DESCRIPTOR.fields_by_name["update"].number
_SEQUENCE_TAG = varint(
    stream_pb2.StreamDashboardResponse.DESCRIPTOR.fields_by_name["sequence"].number << 3
)


def _sequence(sequence: int) -> bytes:
    """A response holding only `sequence`, encoded (a varint field). Sent with every message of
    every stream: the numbers of a stream's first sixteen thousand messages take the short way."""
    if sequence < 0x80:
        return _SEQUENCE_TAG + bytes((sequence,))
    if sequence < 0x4000:
        return _SEQUENCE_TAG + bytes((sequence & 0x7F | 0x80, sequence >> 7))
    return _SEQUENCE_TAG + varint(sequence)


# The `update` fields (tag, length, content) sent in the current tick, by the identity of the
# encoded fields and values they join: the streams of an audience send the same pair, both cached
# elsewhere, so it is joined once for all of them. Each entry keeps its pieces alive (no identity
# is reused while it is kept); a handful of pairs are current at a time.
_updates: dict[tuple[int, int], tuple[bytes, bytes, bytes]] = {}


def _shared_update(fields: bytes, values: bytes) -> bytes:
    key = (id(fields), id(values))
    known = _updates.get(key)
    if known is not None and known[0] is fields and known[1] is values:
        return known[2]
    if len(_updates) >= 64:
        _updates.clear()  # earlier ticks' pairs: never asked for again
    update = with_field(b"", _UPDATE_FIELD, [fields, values])
    _updates[key] = (fields, values, update)
    return update


def _update_fields(
    period: LivePeriod, now: datetime.datetime, bucket_opened: bool, failures: list[KpiFailure]
) -> stream_pb2.StreamUpdate:
    return stream_pb2.StreamUpdate(
        bucket_opened=bucket_opened,
        current_bucket_start=_timestamp(period.bucket_start(now)),
        next_bucket_start=_timestamp(period.next_bucket_start(now)),
        errors=_errors(failures),
    )


# The fields of an update without errors, encoded: every stream of a period sending in the same
# bucket sends the same bytes, so they are built once per (period, bucket, bucket opened).
_shared_fields: dict[tuple[LivePeriod, int, bool], bytes] = {}


def _shared_update_fields(period: LivePeriod, now: datetime.datetime, bucket_opened: bool) -> bytes:
    length = _BUCKET_SECONDS[period]
    start = int(now.timestamp()) // length * length
    key = (period, start, bucket_opened)
    encoded = _shared_fields.get(key)
    if encoded is None:
        if len(_shared_fields) > 16:
            _shared_fields.clear()  # earlier buckets: never asked for again
        encoded = _shared_fields[key] = _update_fields(
            period, now, bucket_opened, []
        ).SerializeToString()
    return encoded


_BUCKET_SECONDS = {period: int(period.length.total_seconds()) for period in LivePeriod}


def end(response_type: type[Response], sequence: int, ending: Ending) -> Response:
    return response_type(
        sequence=sequence,
        end=stream_pb2.StreamEnd(reason=_END_REASONS[ending.reason], status=ending.status),
    )
