"""Rows sent as protobuf Structs read column by column: the same dicts json_format gives (a field
missing from a row may come back as None there, which the validation reads the same way), and
the same validation outcome, whatever the mix of kinds, gaps and unknown fields."""

from __future__ import annotations

import math

import pytest
from google.protobuf import json_format, struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st

from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data.ingest import validate_rows
from services.data.struct_rows import rows_from_structs
from services.errors import InvalidArgument


@pytest.fixture(scope="module")
def order() -> ObjectModel:
    model = load_catalog_files().object_model("ORDER")
    assert model is not None
    return model


def struct(row: dict[str, object]) -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(row)
    return message


def without_none(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    return [{key: value for key, value in row.items() if value is not None} for row in rows]


def names(model: ObjectModel) -> list[str]:
    return [field.name for field in model.fields]


def test_a_batch_reads_as_json_format_reads_it(order: ObjectModel) -> None:
    rows = [
        {"order_id": "SO-1", "order_value": 12.5, "delivered_in_full": True, "status": "open"},
        {"order_id": "SO-2", "order_value": "7.25", "delivered_in_full": None},
        {"order_id": "SO-3", "delivered_in_full": False, "status": 3.0},
        {},
    ]
    messages = [struct(row) for row in rows]
    expected = [json_format.MessageToDict(message) for message in messages]
    read = rows_from_structs(messages, names(order))
    assert without_none(read) == without_none(expected)
    assert [set(row) for row in read] == [{"order_id", "order_value", "delivered_in_full",
                                           "status"}] * 4


def test_unknown_fields_and_nested_values_are_kept_for_the_validation_to_name(
    order: ObjectModel,
) -> None:
    messages = [
        struct({"order_id": "SO-1", "colour": "red"}),
        struct({"order_id": {"nested": [1, "a"]}, "status": ["open"]}),
    ]
    read = rows_from_structs(messages, names(order))
    assert read == [
        {"order_id": "SO-1", "colour": "red"},
        {"order_id": {"nested": [1.0, "a"]}, "status": ["open"]},
    ]
    with pytest.raises(InvalidArgument) as error:
        validate_rows(order, read)
    fields = {violation.field for violation in error.value.violations}
    assert {"rows[0].colour", "rows[1].order_id", "rows[1].status"} <= fields


def test_numbers_that_are_not_finite_reach_the_validation(order: ObjectModel) -> None:
    messages = [struct({"order_value": math.inf}), struct({"order_value": 1.5})]
    read = rows_from_structs(messages, ["order_value"])
    assert read[0]["order_value"] == math.inf and read[1]["order_value"] == 1.5


def test_empty_batches_and_rows() -> None:
    assert rows_from_structs([], ["a"]) == []
    assert rows_from_structs([struct({}), struct({})], ["a"]) == [{}, {}]


_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.text(max_size=5),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from(["web", "edi", "open", "2026-10-01T00:00:00Z", "12.5"]),
)
_FIELDS = st.sampled_from(
    ["order_id", "customer_id", "channel", "status", "order_value", "created_at",
     "delivered_in_full", "unknown_field"])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.dictionaries(_FIELDS, _VALUES, max_size=6), min_size=1, max_size=6))
def test_validation_sees_what_json_format_would_give(rows: list[dict[str, object]]) -> None:
    model = load_catalog_files().object_model("ORDER")
    assert model is not None
    messages = [struct(row) for row in rows]
    expected = [json_format.MessageToDict(message) for message in messages]
    read = rows_from_structs(messages, names(model))
    assert without_none(read) == without_none(expected)
    assert _outcome(model, read) == _outcome(model, expected)


def _outcome(model: ObjectModel, rows: list[dict[str, object]]) -> object:
    try:
        return validate_rows(model, rows).rows
    except InvalidArgument as error:
        return [(violation.field, violation.description) for violation in error.violations]
