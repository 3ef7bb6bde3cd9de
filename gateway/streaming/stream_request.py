"""What a stream asks for, validated: the servicer turns either request message into this, or an
INVALID_ARGUMENT naming the field at fault."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass

from analytics.gateway.v1 import stream_pb2
from analytics.type.v1 import types_pb2

from gateway.streaming.buckets import LivePeriod
from gateway.streaming.periods import from_wire
from services.errors import FieldViolation, InvalidArgument

DEFAULT_HISTORY_BUCKETS = 60
MAX_HISTORY_BUCKETS = 1440
MAX_KPIS_PER_STREAM = 500


@dataclass(frozen=True)
class StreamRequest:
    kpi_codes: tuple[str, ...]
    client_id: str
    period: LivePeriod
    history_buckets: int
    dashboard_id: str = ""


def _validated(
    kpi_codes: Sequence[str],
    codes_field: str,
    client_id: str,
    period: types_pb2.Period.ValueType,
    history_buckets: int,
    dashboard_id: str = "",
) -> StreamRequest:
    problems: list[FieldViolation] = []
    if not kpi_codes:
        problems.append(FieldViolation(codes_field, "at least one KPI code is required"))
    elif len(kpi_codes) > MAX_KPIS_PER_STREAM:
        problems.append(
            FieldViolation(codes_field, f"at most {MAX_KPIS_PER_STREAM} KPIs per stream")
        )
    for index, code in enumerate(kpi_codes):
        if not code.strip():
            name = codes_field if codes_field == "kpi_code" else f"{codes_field}[{index}]"
            problems.append(FieldViolation(name, "a KPI code must not be empty"))
    # The servicer has already replaced the client with the caller's own (an admin names one).
    if not client_id.strip():
        problems.append(FieldViolation("client_id", "is required"))
    live_period = from_wire(period)
    if live_period is None:
        problems.append(FieldViolation("period", "must be minute, hour or day"))
    if not 0 <= history_buckets <= MAX_HISTORY_BUCKETS:
        problems.append(
            FieldViolation("history_buckets", f"must be between 0 and {MAX_HISTORY_BUCKETS}")
        )
    if problems or live_period is None:
        message = "; ".join(f"{p.field}: {p.description}" for p in problems)
        raise InvalidArgument(message, problems)
    return StreamRequest(
        kpi_codes=_shared(tuple(dict.fromkeys(sys.intern(code.strip()) for code in kpi_codes))),
        client_id=client_id.strip(),
        period=live_period,
        history_buckets=history_buckets or DEFAULT_HISTORY_BUCKETS,
        dashboard_id=dashboard_id,
    )


# Every stream of a dashboard names the same codes, and a hub holds thousands of streams: the
# codes are interned and the tuple of them is shared (8 bytes per code per stream otherwise).
_SHARED_CODES_LIMIT = 10_000
_shared_codes: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared(codes: tuple[str, ...]) -> tuple[str, ...]:
    shared = _shared_codes.get(codes)
    if shared is not None:
        return shared
    if len(_shared_codes) >= _SHARED_CODES_LIMIT:
        _shared_codes.clear()
    _shared_codes[codes] = codes
    return codes


def kpi_stream_request(request: stream_pb2.StreamKpiRequest) -> StreamRequest:
    codes = [request.kpi_code] if request.kpi_code else []
    return _validated(codes, "kpi_code", request.client_id, request.period, request.history_buckets)


def dashboard_stream_request(request: stream_pb2.StreamDashboardRequest) -> StreamRequest:
    return _validated(
        list(request.kpi_codes),
        "kpi_codes",
        request.client_id,
        request.period,
        request.history_buckets,
        request.dashboard_id,
    )
