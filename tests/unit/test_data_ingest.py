"""Row validation of the data service's ingest: every problem named by row index and field, values
converted to the types the store writes."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
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
