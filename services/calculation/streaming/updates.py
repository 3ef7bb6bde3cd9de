"""KpiUpdated events built from calculated results, in the pieces `published` compares.

A serialized protobuf message followed by another parses as their merge, repeated fields
appended. So a KpiUpdated is carried as a header (everything but the values) plus one fragment
per bucket (a KpiUpdated holding just that value): the publishing script concatenates the header
with the fragments of the buckets that changed, without knowing protobuf.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from analytics.calculation.v1 import calculation_pb2
from analytics.events.v1 import events_pb2
from analytics.type.v1 import types_pb2

from services.aggregates.query import Period, TimeRange
from services.bus.names import kpi_channel
from services.calculation import messages
from services.calculation.streaming.buckets import BUCKET_SECONDS
from services.calculation.streaming.subscriptions import Subscription


@dataclass(frozen=True)
class BucketUpdate:
    # Bucket start in epoch seconds: the field the value is remembered under.
    field: str
    # What "the value changed" compares: the value, or why there is none.
    fingerprint: str
    # A serialized KpiUpdated holding only this bucket's value.
    fragment: bytes


@dataclass(frozen=True)
class SubscriptionUpdate:
    key: str
    channel: str
    # Sum of the data versions the values reflect. Versions only grow, and the versions of one
    # result are read together, so of two results the newer never has the smaller sum: an older
    # result arriving late is not published over a newer one.
    rank: int
    # A serialized KpiUpdated without values.
    header: bytes
    buckets: tuple[BucketUpdate, ...]
    # Buckets before this one (epoch seconds) have left the live window and are forgotten.
    oldest_field: int


def data_versions(text: str) -> dict[str, int]:
    """The per-object-model versions of a result's data_version ("ORDER:42,SHIPMENT:17")."""
    versions: dict[str, int] = {}
    for part in filter(None, text.split(",")):
        model, _, version = part.rpartition(":")
        versions[model] = int(version)
    return versions


def fingerprint(value: types_pb2.KpiValue) -> str:
    if value.HasField("value"):
        return repr(value.value)
    return f"none:{value.no_value_reason}"


def complete_series(
    result: calculation_pb2.KpiResult, period: Period, span: TimeRange
) -> list[types_pb2.KpiValue]:
    """One value per bucket of `span`, oldest first: a bucket the calculation left out (it holds
    no rows) is a value without data — a bucket whose rows went away must read as changed."""
    found = {value.bucket_start.seconds: value for value in result.series}
    length = datetime.timedelta(seconds=BUCKET_SECONDS[period])
    # Stamped like the result's other values: same KPI, computation time and watermark.
    template = types_pb2.KpiValue(
        kpi_code=result.kpi_code,
        period=messages.PERIODS_BACK[period],
        no_value_reason=types_pb2.NO_VALUE_REASON_NO_DATA,
        computed_at=result.total.computed_at,
    )
    if result.HasField("watermark"):
        template.watermark.CopyFrom(result.watermark)
    completed = []
    bucket = span.start
    while bucket < span.end:
        value = found.get(int(bucket.timestamp()))
        if value is None:
            value = types_pb2.KpiValue()
            value.CopyFrom(template)
            value.bucket_start.FromDatetime(bucket)
        completed.append(value)
        bucket += length
    return completed


def subscription_update(
    subscription: Subscription,
    result: calculation_pb2.KpiResult,
    span: TimeRange,
    oldest_bucket: datetime.datetime,
) -> SubscriptionUpdate:
    """The update of `subscription` from `result`, calculated over the buckets of `span`."""
    key = subscription.key
    versions = data_versions(result.data_version)
    header = events_pb2.KpiUpdated(
        client_id=subscription.client_id,
        period=messages.PERIODS_BACK[subscription.period],
        security_context_key=subscription.security_context_key,
        subscription_key=key,
        data_versions=versions,
    )
    return SubscriptionUpdate(
        key=key,
        channel=kpi_channel(key),
        rank=sum(versions.values()),
        header=header.SerializeToString(),
        buckets=tuple(
            BucketUpdate(
                str(value.bucket_start.seconds),
                fingerprint(value),
                events_pb2.KpiUpdated(values=[value]).SerializeToString(),
            )
            for value in complete_series(result, subscription.period, span)
        ),
        oldest_field=int(oldest_bucket.timestamp()),
    )
