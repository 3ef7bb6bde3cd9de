"""Row validation of the data service's ingest: every problem named by row index and field, values
converted to the types the store writes."""

from __future__ import annotations

import datetime
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Field, FieldType, ObjectModel
from services.data.ingest import MAX_REPORTED_VIOLATIONS, validate_rows
from services.errors import InvalidArgument


@pytest.fixture(scope="module")
def order() -> ObjectModel:
    model = load_catalog_files().object_model("ORDER")
    assert model is not None
    return model


@pytest.fixture(scope="module")
def survey() -> ObjectModel:
    model = load_catalog_files().object_model("SURVEY_RESPONSE")
    assert model is not None
    return model


@pytest.fixture(scope="module")
def subscription() -> ObjectModel:
    model = load_catalog_files().object_model("SUBSCRIPTION")
    assert model is not None
    return model


_CATALOG = load_catalog_files()


def _model(code: str) -> ObjectModel:
    model = _CATALOG.object_model(code)
    assert model is not None
    return model


_ORDER, _SURVEY, _SUBSCRIPTION = (
    _model(code) for code in ("ORDER", "SURVEY_RESPONSE", "SUBSCRIPTION"))


def an_order(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "order_id": "SO-1", "customer_id": "CUST-1", "channel": "web", "region": "EMEA",
        "status": "delivered", "order_value": 120.5, "created_at": "2026-10-01T12:30:15Z",
        "promised_at": "2026-10-05T00:00:00+02:00", "shipped_at": None,
        "delivered_in_full": True,
    }
    row.update(changes)
    return row


def violations(error: pytest.ExceptionInfo[InvalidArgument]) -> dict[str, str]:
    return {violation.field: violation.description for violation in error.value.violations}


def test_a_valid_row_is_converted_to_typed_values_in_field_order(order: ObjectModel) -> None:
    batch = validate_rows(order, [an_order()])
    assert batch.columns == tuple(field.name for field in order.fields)
    row = dict(zip(batch.columns, batch.rows[0], strict=True))
    assert row["order_value"] == Decimal("120.5")
    assert row["created_at"] == datetime.datetime(2026, 10, 1, 12, 30, 15, tzinfo=datetime.UTC)
    assert row["promised_at"] == datetime.datetime(2026, 10, 4, 22, tzinfo=datetime.UTC)
    assert row["delivered_in_full"] is True
    # Absent optional fields are NULL.
    assert row["shipped_at"] is None and row["delivered_at"] is None


def test_each_error_names_the_row_index_and_field(order: ObjectModel) -> None:
    rows = [an_order(order_id=f"SO-{i}") for i in range(5)]
    rows[1]["order_value"] = "a lot"
    rows[3]["channel"] = "fax"
    del rows[3]["customer_id"]
    rows[4]["colour"] = "red"
    rows[4]["created_at"] = "2026-10-01 12:30"  # no UTC offset
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, rows)
    assert violations(error) == {
        "rows[1].order_value": "must be a decimal number (a JSON number or a decimal string)",
        "rows[3].channel": "must be one of: web, edi, sales_rep, marketplace",
        "rows[3].customer_id": "is required",
        "rows[4].colour": "is not a field of object model ORDER",
        "rows[4].created_at": "must carry a UTC offset, e.g. 2026-10-01T12:30:00Z",
    }
    assert "rows[1].order_value" in error.value.message
    assert "4 more problems" in error.value.message


def test_integer_fields_take_whole_floats_and_refuse_fractions(survey: ObjectModel) -> None:
    row = {"response_id": "R-1", "customer_id": "C-1", "channel": "email",
           "responded_at": "2026-10-03T16:20:00Z"}
    batch = validate_rows(survey, [{**row, "score": 3.0}, {**row, "score": "7"}])
    position = batch.columns.index("score")
    assert [r[position] for r in batch.rows] == [3, 7]
    assert all(type(r[position]) is int for r in batch.rows)
    with pytest.raises(InvalidArgument) as error:
        validate_rows(survey, [{**row, "score": 3.5}, {**row, "score": True},
                               {**row, "score": 1e30}, {**row, "score": "1_000"}])
    assert violations(error) == {
        "rows[0].score": "must be a whole number",
        "rows[1].score": "must be an integer",
        "rows[2].score": "is outside the 64-bit integer range",
        "rows[3].score": "must be an integer (a JSON number or a string of digits)",
    }


def test_decimals_keep_their_digits_and_refuse_non_finite_values(order: ObjectModel) -> None:
    batch = validate_rows(order, [an_order(order_value=0.1), an_order(order_value="1234.50"),
                                  an_order(order_value=7)])
    position = batch.columns.index("order_value")
    assert [r[position] for r in batch.rows] == [Decimal("0.1"), Decimal("1234.50"), Decimal(7)]
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(order_value=float("nan")),
                              an_order(order_value=float("inf")),
                              an_order(order_value="NaN"), an_order(order_value="1e-20000"),
                              an_order(order_value=False)])
    assert violations(error) == {
        "rows[0].order_value": "must be a finite number",
        "rows[1].order_value": "must be a finite number",
        "rows[2].order_value": "must be a decimal number (a JSON number or a decimal string)",
        "rows[3].order_value": "is too large or too precise for a decimal",
        "rows[4].order_value": "must be a decimal number",
    }


def test_dates_strings_and_booleans_are_checked(
    subscription: ObjectModel, order: ObjectModel
) -> None:
    row = {"subscription_id": "S-1", "customer_id": "C-1", "plan": "basic", "status": "active",
           "monthly_recurring_revenue": "29.00", "start_date": "2026-02-01",
           "end_date": "2027-01-31"}
    batch = validate_rows(subscription, [row])
    assert batch.rows[0][batch.columns.index("end_date")] == datetime.date(2027, 1, 31)
    with pytest.raises(InvalidArgument) as error:
        validate_rows(subscription, [{**row, "end_date": "2026-02-30"},
                                     {**row, "start_date": "2026-10-01T00:00:00Z"},
                                     {**row, "customer_id": 42},
                                     {**row, "customer_id": "C\x00"}])
    assert violations(error) == {
        "rows[0].end_date": "must be a calendar date YYYY-MM-DD",
        "rows[1].start_date": "must be a calendar date YYYY-MM-DD",
        "rows[2].customer_id": "must be a string",
        "rows[3].customer_id": "must not contain NUL characters",
    }
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(delivered_in_full="yes")])
    assert violations(error) == {"rows[0].delivered_in_full": "must be true or false"}


def test_a_row_that_is_not_an_object_and_an_empty_batch_are_refused(order: ObjectModel) -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(), ["SO-1"]])
    assert violations(error) == {"rows[1]": "must be an object keyed by field name"}
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [])
    assert violations(error) == {"rows": "at least one row is required"}


def test_the_prefix_names_the_batch_of_a_stream(order: ObjectModel) -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(), an_order(status="lost")],
                      field_prefix="batches[2].rows")
    assert list(violations(error)) == ["batches[2].rows[1].status"]


def test_a_batch_of_many_bad_rows_reports_a_bounded_number_of_violations(
    order: ObjectModel,
) -> None:
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(status="lost") for _ in range(1000)])
    assert len(error.value.violations) == MAX_REPORTED_VIOLATIONS
    assert "999 more problems" in error.value.message


# The column pass (plain dicts) must accept exactly what the row-by-row pass accepts and give the
# same values; a mapping that is not a dict takes the row-by-row pass, so the two can be compared.
_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=None),
    st.sampled_from(["web", "edi", "fax", "", " 7 ", "12.50", "1e5", "2026-02-30", "2026-10-01",
                     " 2026-10-01", "2026-10-01T12:30:00Z", "2026-10-01T12:30:00",
                     "2026-10-01 12:30:00.1234567+05:30", "2026-10-01T12:30:00Z ", "a\x00b"]),
    st.text(max_size=8),
    st.datetimes(timezones=st.sampled_from([datetime.UTC, None])),
    st.dates(),
)


# Values a field accepts, in every form it accepts them.
_VALID: dict[FieldType, st.SearchStrategy[object]] = {
    FieldType.STRING: st.text(alphabet=st.characters(exclude_characters="\x00"), max_size=6),
    FieldType.INTEGER: st.one_of(
        st.integers(min_value=-(2**63), max_value=2**63 - 1),
        st.integers(min_value=-(2**53), max_value=2**53).map(float),
        st.integers(min_value=-999, max_value=999).map(lambda n: f" {n} "),
    ),
    FieldType.DECIMAL: st.one_of(
        st.floats(allow_nan=False, allow_infinity=False),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.decimals(allow_nan=False, allow_infinity=False, places=4),
        st.sampled_from(["12.50", " -0.5 ", "1e5", ".5"]),
    ),
    FieldType.BOOLEAN: st.booleans(),
    FieldType.TIMESTAMP: st.one_of(
        st.datetimes(timezones=st.just(datetime.UTC)).map(datetime.datetime.isoformat),
        st.datetimes(timezones=st.just(datetime.timezone(datetime.timedelta(hours=-7)))),
        st.sampled_from(["2026-10-01T12:30:00Z", " 2026-10-01T12:30:00+02:00 "]),
    ),
    FieldType.DATE: st.one_of(st.dates().map(datetime.date.isoformat), st.dates()),
}
# Values some field refuses (or that look close to accepted ones).
_SUSPECT = st.one_of(
    _VALUES,
    st.sampled_from(["2026-10-01T12:30:00", "20261001T123000Z", "2026-10-01", "2026-W40-1",
                     "2026-02-30", "2026-10-01 ", "nan", "1e-20000", "1_000", "true", 1, 2.5,
                     2**63, float("inf"), Decimal("NaN"), "lost", "a\x00b"]),
)


def _valid(field: Field) -> st.SearchStrategy[object]:
    if field.allowed_values:
        return st.sampled_from(field.allowed_values)
    return _VALID[field.type]


def _outcome(model: ObjectModel, rows: list[Mapping[str, object]]) -> tuple[object, ...]:
    try:
        batch = validate_rows(model, rows)
    except InvalidArgument as error:
        return ("refused", error.message, [(v.field, v.description) for v in error.violations])
    return ("accepted", batch.columns, batch.rows,
            [[type(value) for value in column] for column in batch.column_values])


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_the_column_pass_agrees_with_the_row_by_row_pass(data: st.DataObject) -> None:
    model = data.draw(st.sampled_from([_ORDER, _SURVEY, _SUBSCRIPTION]))
    count = data.draw(st.integers(min_value=1, max_value=6))
    rows: list[dict[str, object]] = [
        {
            field.name: data.draw(_valid(field))
            for field in model.fields
            if field.required or data.draw(st.booleans())
        }
        for _ in range(count)
    ]
    # One batch in three has a suspect value somewhere.
    if data.draw(st.integers(0, 2)) == 0:
        row = data.draw(st.sampled_from(rows))
        row[data.draw(st.sampled_from([field.name for field in model.fields]))] = data.draw(
            _SUSPECT)
    by_column = _outcome(model, list(rows))
    by_row = _outcome(model, [MappingProxyType(row) for row in rows])
    assert by_column == by_row
    assert _outcome_as_decimals(model, rows) == by_column


def _outcome_as_decimals(model: ObjectModel, rows: list[dict[str, object]]) -> tuple[object, ...]:
    """The outcome of validating with decimals kept as texts, each text read back as the
    Decimal it stands for (its digits and exponent kept): the same as without."""
    try:
        batch = validate_rows(model, rows, decimal_texts=True)
    except InvalidArgument as error:
        return ("refused", error.message, [(v.field, v.description) for v in error.violations])
    decimal_columns = {f.name for f in model.fields if f.type is FieldType.DECIMAL}
    columns = [
        tuple(Decimal(value) if name in decimal_columns and isinstance(value, str) else value
              for value in column)
        for name, column in zip(batch.columns, batch.column_values, strict=True)
    ]
    return ("accepted", batch.columns, tuple(zip(*columns, strict=True)),
            [[type(value) for value in column] for column in columns])


def test_decimals_sent_as_numbers_can_stay_their_exact_texts(order: ObjectModel) -> None:
    rows = [an_order(order_id=f"SO-{i}", order_value=value)
            for i, value in enumerate([0.1, 1e22, 1.5e-07, -0.0, 120.5])]
    texts = validate_rows(order, rows, decimal_texts=True)
    decimals = validate_rows(order, rows)
    position = texts.columns.index("order_value")
    sent = texts.column_values[position]
    assert sent == ("0.1", "1e+22", "1.5e-07", "-0.0", "120.5")
    assert [Decimal(str(text)).as_tuple() for text in sent] == [
        Decimal(str(value)).as_tuple() for value in decimals.column_values[position]]
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, [an_order(order_value=float("inf"))], decimal_texts=True)
    assert violations(error) == {"rows[0].order_value": "must be a finite number"}


def test_a_valid_batch_of_common_values_takes_the_column_pass(order: ObjectModel) -> None:
    rows = [an_order(order_id=f"SO-{i}", order_value=float(i) + 0.25) for i in range(3)]
    batch = validate_rows(order, rows)
    assert batch.row_count == 3
    assert batch.column_values[batch.columns.index("order_value")] == (
        Decimal("0.25"), Decimal("1.25"), Decimal("2.25"))
    assert batch.rows == tuple(zip(*batch.column_values, strict=True))
    assert _outcome(order, list(rows)) == _outcome(order, [MappingProxyType(r) for r in rows])


_EDGE_VALUES: list[object] = [
    None, True, 1, -(2**63), 2**63 - 1, 2**63, -(2**63) - 1, 3.0, 2.5, 1e30, float("nan"),
    float("inf"), 1e-300, 10**131071, 10**131072, Decimal("1E-16383"), Decimal("1E-16384"),
    Decimal("NaN"), "7", " 7 ", "1_000", "12.50", "1e5", "nan", "", "web", "lost", "a\x00b",
    "2026-10-01", " 2026-10-01 ", "20261001", "2026-W40-1", "2026-02-30",
    "2026-10-01T12:30:00Z", " 2026-10-01T12:30:00Z", "2026-10-01T12:30:00",
    "2026-10-01T12:30:00.1234567+05:30", "2026-10-01x12:30:00+00:00", "20261001T123000Z",
    datetime.datetime(2026, 10, 1, 12, 30), datetime.datetime(2026, 10, 1, tzinfo=datetime.UTC),
    datetime.date(2026, 10, 1), ["list"], {"a": 1},
]
_BASE_ROWS: dict[str, dict[str, object]] = {
    "ORDER": {"order_id": "SO-1", "customer_id": "CUST-1", "channel": "web", "region": "EMEA",
              "status": "open", "order_value": 12.5, "created_at": "2026-10-01T12:30:15Z",
              "promised_at": "2026-10-05T00:00:00+02:00"},
    "SURVEY_RESPONSE": {"response_id": "R-1", "customer_id": "C-1", "channel": "email",
                        "score": 7, "responded_at": "2026-10-03T16:20:00Z"},
    "SUBSCRIPTION": {"subscription_id": "S-1", "customer_id": "C-1", "plan": "basic",
                     "status": "active", "monthly_recurring_revenue": "29.00",
                     "start_date": "2026-02-01", "end_date": "2027-01-31"},
}


@pytest.mark.parametrize("code", sorted(_BASE_ROWS))
def test_each_edge_value_is_judged_alike_by_column_and_by_row(code: str) -> None:
    model = _model(code)
    base = _BASE_ROWS[code]
    assert _outcome(model, [dict(base)])[0] == "accepted"
    for field in model.fields:
        for value in _EDGE_VALUES:
            changed = {**base, field.name: value}
            # The value among others, and a whole column of it (the column pass's own case).
            for rows in ([dict(base), changed], [changed, dict(changed)]):
                column_pass = _outcome(model, list(rows))
                row_pass = _outcome(model, [MappingProxyType(row) for row in rows])
                assert column_pass == row_pass, (field.name, value)
