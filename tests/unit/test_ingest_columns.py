"""Validation of batches sent as typed columns: the same values and the same violations (by row
index and field) as rows sent as objects, malformed columns named, and the IngestColumns message
read and built without losing a value."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from decimal import Decimal

import pytest
from analytics.data.v1 import data_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Field, FieldType, ObjectModel
from services.data import ingest_columns
from services.data.column_batches import columns_message, sent_columns
from services.data.ingest import validate_rows
from services.data.ingest_columns import (
    SentColumn,
    ValueKind,
    days_of,
    instant,
    micros_of,
    validate_columns,
)
from services.errors import InvalidArgument

_CATALOG = load_catalog_files()


def _model(code: str) -> ObjectModel:
    model = _CATALOG.object_model(code)
    assert model is not None
    return model


ORDER, SURVEY, SUBSCRIPTION = (_model(code) for code in ("ORDER", "SURVEY_RESPONSE",
                                                          "SUBSCRIPTION"))
T0 = datetime.datetime(2026, 10, 1, 12, 30, tzinfo=datetime.UTC)


def an_order(number: int, **changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "order_id": f"SO-{number}", "customer_id": "CUST-1", "channel": "web", "region": "EMEA",
        "status": "delivered", "order_value": f"{number}.25",
        "created_at": (T0 + datetime.timedelta(seconds=number)).isoformat(),
        "promised_at": "2026-10-05T00:00:00+02:00",
        "delivered_in_full": None if number % 2 else True,
    }
    row.update(changes)
    return row


def checked(model: ObjectModel, rows: list[dict[str, object]]) -> ingest_columns.CheckedColumns:
    message = columns_message(model, rows)
    return validate_columns(model, sent_columns(message), message.row_count)


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> list[tuple[str, str]]:
    return [(violation.field, violation.description) for violation in error.value.violations]


def as_objects(batch: ingest_columns.CheckedColumns, model: ObjectModel) -> tuple[object, ...]:
    """The batch's values as validate_rows gives them (instants in place of microseconds)."""
    types = [field.type for field in model.fields]
    return tuple(
        tuple(instant(value) if kind is FieldType.TIMESTAMP and isinstance(value, int) else value
              for value in column)
        for kind, column in zip(types, batch.column_values, strict=True))


def test_columns_give_the_values_rows_give() -> None:
    rows = [an_order(number) for number in range(5)]
    batch = checked(ORDER, rows)
    expected = validate_rows(ORDER, rows)
    assert batch.columns == expected.columns and batch.row_count == 5
    assert as_objects(batch, ORDER) == expected.column_values
    created = batch.column_values[batch.columns.index("created_at")]
    assert created[1] == micros_of(T0 + datetime.timedelta(seconds=1))
    assert batch.column_values[batch.columns.index("delivered_in_full")] == (
        True, None, True, None, True)


def test_a_date_model_reads_days() -> None:
    row = {"subscription_id": "S-1", "customer_id": "C-1", "plan": "basic", "status": "active",
           "monthly_recurring_revenue": "29.00", "start_date": "2026-02-01",
           "end_date": "2027-01-31"}
    batch = checked(SUBSCRIPTION, [row])
    assert batch.column_values == validate_rows(SUBSCRIPTION, [row]).column_values
    assert days_of(datetime.date(1970, 1, 2)) == 1


def test_bad_values_are_named_by_row_and_field_in_row_order() -> None:
    rows = [an_order(0), an_order(1, status="lost"), an_order(2, order_value="1_000"),
            an_order(3, channel="a\x00b")]
    with pytest.raises(InvalidArgument) as error:
        checked(ORDER, rows)
    assert violations(error) == [
        ("rows[1].status", "must be one of: open, allocated, shipped, delivered, cancelled"),
        ("rows[2].order_value", "must be a decimal number (a JSON number or a decimal string)"),
        ("rows[3].channel", "must not contain NUL characters"),
    ]
    assert error.value.message.startswith("the ORDER batch was refused: rows[1].status")


def test_a_null_in_a_required_field_and_a_missing_required_column_are_named() -> None:
    message = columns_message(ORDER, [an_order(0), an_order(1)])
    region = next(column for column in message.columns if column.field == "region")
    region.nulls.extend([False, True])
    sent = [column for column in sent_columns(message) if column.field != "customer_id"]
    with pytest.raises(InvalidArgument) as error:
        validate_columns(ORDER, sent, 2)
    assert violations(error) == [
        ("rows[0].customer_id", "is required"),
        ("rows[1].customer_id", "is required"),
        ("rows[1].region", "is required"),
    ]


def test_timestamps_outside_the_years_1_to_9999_are_refused() -> None:
    sent = sent_columns(columns_message(ORDER, [an_order(0), an_order(1)]))
    sent = [SentColumn(column.field, column.kind, [0, 2**62], ())
            if column.field == "promised_at" else column for column in sent]
    with pytest.raises(InvalidArgument) as error:
        validate_columns(ORDER, sent, 2)
    assert violations(error) == [("rows[1].promised_at", "is outside the years 1 to 9999")]


def test_malformed_columns_are_named_by_position() -> None:
    good = sent_columns(columns_message(ORDER, [an_order(0)]))
    sent = [
        *good,
        SentColumn("nope", ValueKind.STRING, ["x"], ()),
        SentColumn("region", ValueKind.STRING, ["EMEA"], ()),
        SentColumn("", ValueKind.STRING, ["x"], ()),
    ]
    sent[0] = SentColumn("order_id", ValueKind.INTEGER, [1], ())
    sent[1] = SentColumn("customer_id", ValueKind.STRING, ["a", "b"], ())
    sent[2] = SentColumn("channel", ValueKind.STRING, ["web"], [False, True])
    last = len(good)
    with pytest.raises(InvalidArgument) as error:
        validate_columns(ORDER, sent, 1)
    assert violations(error) == [
        ("columns.columns[0]",
         "sends integer_values for STRING field 'order_id', which takes string_values"),
        ("columns.columns[1]", "holds 2 values for 1 rows"),
        ("columns.columns[2]", "holds 2 nulls for 1 rows"),
        (f"columns.columns[{last}]", "names 'nope', which is not a field of object model ORDER"),
        (f"columns.columns[{last + 1}]", "repeats field 'region'; send each field once"),
        (f"columns.columns[{last + 2}]", "names no field (`field` is required)"),
    ]


def test_a_column_filling_two_lists_is_refused_and_an_all_null_column_needs_no_values() -> None:
    message = data_pb2.IngestColumns(row_count=1, columns=[
        data_pb2.IngestColumn(field="order_value", string_values=["1"], double_values=[1.0])])
    with pytest.raises(InvalidArgument) as error:
        sent_columns(message)
    assert violations(error) == [
        ("columns.columns[0]", "fills string_values, double_values; send the values in one list")]

    message = columns_message(ORDER, [an_order(0), an_order(1)])
    message.columns.add(field="shipped_at", nulls=[True, True])
    batch = validate_columns(ORDER, sent_columns(message), 2)
    assert batch.column_values[batch.columns.index("shipped_at")] == (None, None)


def test_an_empty_batch_is_refused() -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_columns(ORDER, [], 0)
    assert violations(error) == [("rows", "at least one row is required")]


# The column pass must accept exactly what the value-by-value pass accepts, giving the same
# values, for values of every kind a column can hold.
_BY_KIND: dict[ValueKind, st.SearchStrategy[object]] = {
    ValueKind.STRING: st.one_of(
        st.text(max_size=6),
        st.sampled_from(["web", "open", "12.50", "-0.5", ".5", "5.", "1e5", "1_0", " 7", "nan",
                         "1" * 20_000, "a\x00b", "delivered", "email"]),
    ),
    ValueKind.INTEGER: st.integers(min_value=-(2**63), max_value=2**63 - 1),
    ValueKind.DOUBLE: st.floats(allow_nan=True, allow_infinity=True),
    ValueKind.BOOLEAN: st.booleans(),
    ValueKind.TIMESTAMP_MICROS: st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.datetimes(timezones=st.just(datetime.UTC)).map(micros_of),
    ),
    ValueKind.DATE_DAYS: st.one_of(st.integers(min_value=-(2**31), max_value=2**31 - 1),
                                   st.dates().map(days_of)),
}


def _kinds(field: Field) -> list[ValueKind]:
    return sorted(ingest_columns._KINDS[field.type], key=lambda kind: kind.value)


def _outcome(model: ObjectModel, sent: Sequence[SentColumn], count: int,
             by_value: bool) -> object:
    try:
        if by_value:
            columns = ingest_columns._columns_by_field(model, sent, count, "columns")
            values = [columns.get(field.name) or [None] * count for field in model.fields]
            return ingest_columns._convert_by_value(model, list(values), "rows")
        return list(validate_columns(model, sent, count).column_values)
    except InvalidArgument as error:
        return [(violation.field, violation.description) for violation in error.violations]


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_column_pass_agrees_with_the_value_by_value_pass(data: st.DataObject) -> None:
    model = data.draw(st.sampled_from([ORDER, SURVEY, SUBSCRIPTION]))
    count = data.draw(st.integers(min_value=1, max_value=5))
    sent = []
    for field in model.fields:
        if not data.draw(st.integers(0, 3)):
            continue
        kind = data.draw(st.sampled_from(_kinds(field)))
        values = data.draw(st.lists(_BY_KIND[kind], min_size=count, max_size=count))
        nulls = data.draw(st.one_of(st.just([]), st.lists(st.booleans(), min_size=count,
                                                          max_size=count)))
        sent.append(SentColumn(field.name, kind, values, nulls))
    assert _outcome(model, sent, count, by_value=False) == _outcome(model, sent, count,
                                                                    by_value=True)


def test_plain_decimal_texts_are_read_exactly() -> None:
    rows = [an_order(0, order_value="0.10"), an_order(1, order_value="-12345678901234567890.5"),
            an_order(2, order_value="1e3")]
    batch = checked(ORDER, rows)
    assert batch.column_values[batch.columns.index("order_value")] == (
        Decimal("0.10"), Decimal("-12345678901234567890.5"), Decimal("1e3"))
