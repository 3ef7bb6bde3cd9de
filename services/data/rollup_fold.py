"""Folding a change of raw rows into the minute and hour rollups, as SQL for a statement's WITH
list: the delta rows (+1 and the values of rows as they are now, -1 and the values of rows as
they were), summed per minute and per hour and added to the rollup rows of the same dimension
values. Ingest folds written rows this way; moving carried copies folds the rows whose copies
changed.

A fold's CTEs are `folded` and `folded_hours`, each returning (bucket, row_count) of the rollup
rows it touched: a row_count of 0 is a group left empty, which the caller deletes."""

from __future__ import annotations

from collections.abc import Callable

from services.catalog.domain import ObjectModel
from services.data.tables import (
    COUNT_PREFIX,
    SUM_PREFIX,
    bucket_sql,
    hour_of,
    hour_rollup_table,
    quote,
    rollup_dimensions,
    rollup_sums,
    rollup_table,
)


def summed(model: ObjectModel) -> list[str]:
    """Names of what the rollups sum: the numeric fields and the derived durations."""
    return [field.name for field in rollup_sums(model)] + [
        duration.name for duration in model.derived_durations
    ]


def rollup_columns(model: ObjectModel) -> str:
    """The columns of a rollup row, in the order a fold inserts them."""
    return ", ".join(
        [
            "client_id",
            "bucket",
            *(quote(field.name) for field in rollup_dimensions(model)),
            "row_count",
            *_summed_columns(model),
        ]
    )


def group_key(model: ObjectModel) -> str:
    return ", ".join(
        ["client_id", "bucket", *(quote(field.name) for field in rollup_dimensions(model))]
    )


def delta_rows(
    model: ObjectModel, rows: str, sign: str, value: Callable[[str], str], where: str,
    *, unnamed: bool = False,
) -> str:
    """A SELECT of one delta row per row of CTE `rows` meeting `where`: its bucket, dimension
    values and sums as `value(name)` gives them (SQL over `rows`), signed by `sign` ("" or "-");
    a derived duration is also counted when present. `unnamed` leaves the columns unnamed, for
    a SELECT after the first of a UNION (which names them)."""

    def as_named(sql: str, name: str) -> str:
        return sql if unnamed else named(sql, name)

    parts = [
        as_named(bucket_sql(model, rows), "bucket"),
        *(as_named(value(field.name), field.name) for field in rollup_dimensions(model)),
        as_named(f"{sign}1", "row_count"),
        *(as_named(f"{sign}{value(name)}", SUM_PREFIX + name) for name in summed(model)),
        *(
            as_named(f"{sign}({value(d.name)} IS NOT NULL)::int", COUNT_PREFIX + d.name)
            for d in model.derived_durations
        ),
    ]
    return f"SELECT {', '.join(parts)} FROM {rows} WHERE {where}"


def named(value: str, name: str) -> str:
    """`value AS "name"`, or `value` alone when it is a column of that name already (statements
    must stay short: see statement_text)."""
    column = quote(name)
    return value if value.endswith(f".{column}") else f"{value} AS {column}"


def fold(model: ObjectModel, delta: str = "delta") -> str:
    """The CTEs adding CTE `delta`'s rows to the rollups of client $1: `by_minute` (the delta
    summed per minute and dimension values, once), `folded` (minutes) and `folded_hours` (the
    minutes summed per hour), written as `by_minute AS (...), folded AS (...), ...`."""
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    columns = _summed_columns(model)
    grouped = ", ".join(["bucket", *dimensions])
    added = "".join(f", {column} = r.{column} + EXCLUDED.{column}" for column in columns)
    target_columns = rollup_columns(model)
    key = group_key(model)

    def into(table: str, select: str) -> str:
        return f"""(
    INSERT INTO {table} AS r ({target_columns})
    {select}
    ON CONFLICT ({key}) DO UPDATE SET row_count = r.row_count + EXCLUDED.row_count{added}
    RETURNING r.bucket, r.row_count
)"""

    sums = "".join(f", COALESCE(sum({column}), 0) AS {column}" for column in columns)
    minutes = f"SELECT $1, {', '.join([grouped, 'row_count', *columns])} FROM by_minute"
    hours = (
        f"SELECT $1, {hour_of('bucket')}, {', '.join([*dimensions, 'sum(row_count)'])}"
        + "".join(f", sum({column})" for column in columns)
        + f" FROM by_minute GROUP BY {', '.join(['2', *dimensions])}"
    )
    return (
        f"by_minute AS (SELECT {grouped}, sum(row_count) AS row_count{sums}"
        f" FROM {delta} GROUP BY {grouped}), "
        f"folded AS {into(rollup_table(model), minutes)}, "
        # The hour rollup stays the sum of its minutes.
        f"folded_hours AS {into(hour_rollup_table(model), hours)}"
    )


def emptied() -> str:
    """SELECT of the first and last bucket of rollup groups a fold left empty (an emptied hour
    starts at or before its emptied minutes: one range covers both tables)."""
    return (
        "SELECT min(bucket) AS emptied_from, max(bucket) AS emptied_to "
        "FROM (SELECT * FROM folded UNION ALL SELECT * FROM folded_hours) AS both_levels "
        "WHERE row_count = 0"
    )


def _summed_columns(model: ObjectModel) -> list[str]:
    return [quote(SUM_PREFIX + name) for name in summed(model)] + [
        quote(COUNT_PREFIX + d.name) for d in model.derived_durations
    ]
