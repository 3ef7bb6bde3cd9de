"""Keeping carried copies right (see services.catalog.carried_fields): a row's copies of its
related row's fields are looked up when the row is written (ingest_statement), and moved when
the related row arrives late or its fields change (here).

The copies are right after every commit because every write that can change one takes the same
writers' lock: the model whose fields are carried lends its lock to the models carrying them
(`writers_lock_code`), so an order and its lines are never written at once, and a line's lookup
sees its order as committed.

When a carried model's rows are written, the ingest statement names the keys of new rows and of
rows whose carried fields changed (`CarriedOut`); `move_statement` then, in the same transaction,
finds the carrying rows of those keys whose copies differ, updates them, and folds the move into
their rollups (a line moves from the `open` group to the `shipped` one). New keys only look for
rows waiting for them when the client has any row with no copy (a partial index answers that),
so a stream of new orders costs one probe per batch (in the ingest statement), not one per
order, and no statement of its own."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping

from services.catalog.domain import (
    FieldType,
    ObjectModel,
    Relationship,
    carried_column,
    operand_column,
)
from services.data import rollup_fold
from services.data.statement_text import compact
from services.data.tables import (
    SQL_TYPES,
    derived_value,
    duration_value,
    natural_key,
    quote,
    raw_table,
)


@dataclasses.dataclass(frozen=True)
class CarriedOut:
    """Fields of a model that another model's rows keep copies of, found by `key_field` (the
    relationship's target field); `waiting` is SQL telling whether client $1 has rows still
    waiting for a related row (the only case where new keys need a look)."""

    key_field: str
    fields: tuple[str, ...]
    waiting: str


@dataclasses.dataclass(frozen=True)
class Carrier:
    """A model keeping copies of another's fields through its relationship `relationship`."""

    model: ObjectModel
    relationship: Relationship


@dataclasses.dataclass(frozen=True)
class Carrying:
    """What writing one model needs to keep copies right."""

    # The models it copies fields from (to look the copies up).
    targets: tuple[ObjectModel, ...] = ()
    # The models copying its fields, and for each which fields by which key (same order).
    carriers: tuple[Carrier, ...] = ()
    carried_out: tuple[CarriedOut, ...] = ()


NO_CARRYING = Carrying()


def carrying(model: ObjectModel, models: Mapping[str, ObjectModel]) -> Carrying:
    targets = tuple(
        models[rel.target_object_model_code]
        for rel in model.relationships
        if rel.carried_fields and rel.target_object_model_code in models
    )
    carriers = tuple(
        Carrier(other, rel)
        for other in models.values()
        for rel in other.relationships
        if rel.carried_fields and rel.target_object_model_code == model.code
    )
    carried_out = tuple(
        CarriedOut(
            c.relationship.target_field,
            tuple(f.name for f in c.relationship.carried_fields),
            f"EXISTS (SELECT FROM {raw_table(c.model)} AS waiting WHERE waiting.client_id = $1"
            f" AND {waiting_index_condition(c.relationship)})",
        )
        for c in carriers
    )
    return Carrying(targets, carriers, carried_out)


def writers_lock_code(model: ObjectModel) -> str:
    """The model whose writers' lock `model`'s writers take: the model it copies fields from,
    if any (fields are carried one relationship deep, so that model copies none), else itself."""
    return min(
        (rel.target_object_model_code for rel in model.relationships if rel.carried_fields),
        default=model.code,
    )


def waiting_index_condition(relationship: Relationship) -> str:
    """The rows with no copy yet (their related row had not arrived): the predicate of the
    partial index that tells whether a client has any."""
    return " AND ".join(
        f"{quote(carried_column(relationship, field))} IS NULL"
        for field in relationship.carried_fields
    )


@functools.lru_cache(maxsize=64)
def move_statement(carrier: Carrier, target: ObjectModel) -> str:
    """Moves the copies of `carrier`'s rows related to rows of `target` whose keys are given,
    and folds the move into the carrier's rollups.

    $1 client; $2 keys whose carried fields changed; $3 new keys (the ingest statement names
    them only when the client has rows waiting for a related row); $4 and $5 the earliest and
    latest time of the target's rows written (the target's rows of those keys are found within
    them). Returns one row: how many carrier rows moved, their first and last time, and the
    emptied rollup range."""
    model, rel = carrier.model, carrier.relationship
    copies = [(carried_column(rel, field), field) for field in rel.carried_fields]
    key_type = SQL_TYPES[_field_type(target, rel.target_field)]
    time_type = SQL_TYPES[_field_type(target, target.time_field)]
    key = natural_key(model)
    raw = raw_table(model)
    source = quote(rel.source_field)

    def column_now(name: str) -> str:
        moved = next((column for column, _ in copies if column == name), None)
        return f"moving.{quote('new__' + name) if moved else quote(name)}"

    # Derived values reading a moved copy change with it (the table recomputes its generated
    # columns on the UPDATE; the rollups' delta needs the new values too).
    moved_columns = {column for column, _ in copies}
    recomputed = {
        **{d.name: derived_value(d, column_now) for d in model.derived_fields
           if {operand_column(d.left_field), operand_column(d.right_field)} & moved_columns},
        **{d.name: duration_value(model, d, column_now) for d in model.derived_durations
           if {operand_column(d.start_field), operand_column(d.end_field)} & moved_columns},
    }

    def now(name: str) -> str:
        return recomputed.get(name) or column_now(name)

    def before(name: str) -> str:
        return f"moving.{quote(name)}"

    kept = sorted(
        {*(f.name for f in model.fields), *(d.name for d in model.derived_fields),
         *(d.name for d in model.derived_durations), *(column for column, _ in copies)}
    )
    return compact(f"""
WITH wanted AS (
    SELECT key FROM unnest($2::text[]) AS key
    UNION
    SELECT key FROM unnest($3::text[]) AS key
), related AS MATERIALIZED (
    SELECT DISTINCT ON (target.{quote(rel.target_field)}) target.{quote(rel.target_field)} AS key,
        {", ".join(f"target.{quote(field.name)}" for _, field in copies)}
    FROM wanted JOIN {raw_table(target)} AS target
        ON target.client_id = $1 AND target.{quote(rel.target_field)} = wanted.key::{key_type}
    WHERE target.{quote(target.time_field)} >= $4::{time_type}
        AND target.{quote(target.time_field)} <= $5::{time_type}
), moving AS MATERIALIZED (
    SELECT {", ".join(f"copying.{quote(name)}" for name in kept)},
        {", ".join(f"related.{quote(field.name)} AS {quote('new__' + column)}"
                   for column, field in copies)}
    FROM related JOIN {raw} AS copying ON copying.client_id = $1 AND copying.{source} = related.key
    WHERE ({", ".join(f"copying.{quote(column)}" for column, _ in copies)})
        IS DISTINCT FROM ({", ".join(f"related.{quote(field.name)}" for _, field in copies)})
), moved AS (
    UPDATE {raw} AS copying
    SET {", ".join(f"{quote(column)} = moving.{quote('new__' + column)}" for column, _ in copies)}
    FROM moving
    WHERE copying.client_id = $1
        AND {" AND ".join(f"copying.{quote(k)} = moving.{quote(k)}" for k in key)}
), delta AS (
    {rollup_fold.delta_rows(model, "moving", "", now, "true")}
    UNION ALL
    {rollup_fold.delta_rows(model, "moving", "-", before, "true")}
), {rollup_fold.fold(model)}, emptied AS (
    {rollup_fold.emptied()}
)
SELECT (SELECT count(*) FROM moving) AS moved,
       (SELECT min({quote(model.time_field)}) FROM moving) AS first_time,
       (SELECT max({quote(model.time_field)}) FROM moving) AS last_time,
       emptied.*
FROM emptied
""")


def clear_statement(carrier: Carrier) -> str:
    """Clears the copies of client $1's carrier rows with $2 <= time < $3 (their related rows
    were all deleted). Returns how many rows changed and their first and last time, as
    fill_statement does."""
    model, rel = carrier.model, carrier.relationship
    time = quote(model.time_field)
    time_type = SQL_TYPES[_field_type(model, model.time_field)]
    columns = [quote(carried_column(rel, field)) for field in rel.carried_fields]
    return (
        f"WITH cleared AS (UPDATE {raw_table(model)} SET "
        + ", ".join(f"{column} = NULL" for column in columns)
        + f" WHERE client_id = $1 AND {time} >= $2::{time_type} AND {time} < $3::{time_type}"
        + " AND NOT ("
        + " AND ".join(f"{column} IS NULL" for column in columns)
        + f") RETURNING {time} AS moment)"
        " SELECT count(*) AS filled, min(moment) AS first_time, max(moment) AS last_time"
        " FROM cleared"
    )


def fill_statement(carrier: Carrier, target: ObjectModel) -> str:
    """Sets the copies of client $1's carrier rows with $2 <= time < $3 that differ from their
    related rows (after a bulk load, which writes rows without them, or of the related rows).
    Returns how many rows changed and their first and last time; the caller summarises the
    carrier's rollups of that span again."""
    model, rel = carrier.model, carrier.relationship
    time = quote(model.time_field)
    copies = [
        (quote(carried_column(rel, field)), quote(field.name)) for field in rel.carried_fields
    ]
    time_type = SQL_TYPES[_field_type(model, model.time_field)]
    return (
        f"WITH filled AS (UPDATE {raw_table(model)} AS copying SET "
        + ", ".join(f"{column} = related.{field}" for column, field in copies)
        + f" FROM {raw_table(target)} AS related"
        f" WHERE copying.client_id = $1 AND copying.{time} >= $2::{time_type}"
        f" AND copying.{time} < $3::{time_type} AND related.client_id = $1"
        f" AND related.{quote(rel.target_field)} = copying.{quote(rel.source_field)}"
        f" AND ({', '.join(f'copying.{column}' for column, _ in copies)}) IS DISTINCT FROM"
        f" ({', '.join(f'related.{field}' for _, field in copies)})"
        f" RETURNING copying.{time} AS moment)"
        " SELECT count(*) AS filled, min(moment) AS first_time, max(moment) AS last_time"
        " FROM filled"
    )


def _field_type(model: ObjectModel, name: str) -> FieldType:
    spec = model.field(name)
    assert spec is not None, f"{model.code}.{name}"
    return spec.type
