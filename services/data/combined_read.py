"""Several aggregate statements and the data versions they are labelled with, as ONE statement
(pure: no I/O).

A live recomputation asks for the current bucket of a dozen object models: a dozen statements of
well under a millisecond each. Sent one per pooled connection, each cost a round trip, a server
process woken and an event-loop turn, and the answer waited for the slowest of them; on a busy
machine those waits, not the SQL, were its time. Combined, it is one statement: every part a
subquery in the select list (planned on its own: as a FROM list of a dozen subqueries the planner
searched join orders and took longer than the reads), its rows gathered into an array of row
values. One statement also reads the versions and the rows in the same snapshot, so a version
never claims rows that the answer lacks.

The parts' `$n` parameters are renumbered into one list; they share `$1`, the client. Row values
come back without column names: `columns` says which is which, in the order selected here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from services.aggregates.lru import LruMemo
from services.data.sql_builder import Statement

VERSIONS_COLUMNS = ("object_model_code", "version", "watermark", "updated_at")

# A quoted identifier, a string literal, or a parameter reference: the first two are skipped
# whole, so a `$` inside one is never taken for a parameter.
_TOKEN = re.compile(r'"(?:[^"]|"")*"|\'(?:[^\']|\'\')*\'|\$(\d+)')


@dataclass(frozen=True)
class CombinedRead:
    sql: str
    params: tuple[object, ...]
    # Per statement, the names of its row values' fields in order.
    columns: tuple[tuple[str, ...], ...]


def result_columns(statement: Statement) -> tuple[str, ...]:
    """The columns of `statement`'s rows that its reader uses (see Statement), in order."""
    return (
        *(("bucket_start",) if statement.bucketed else ()),
        *(f"d{index}" for index in range(len(statement.dimension_names))),
        "row_count",
        *(f"m{index}" for index in range(len(statement.measure_ids))),
        *(("group_total",) if statement.max_groups else ()),
    )


def combine(
    statements: Sequence[Statement], client_id: str, object_model_codes: Sequence[str]
) -> CombinedRead:
    """One statement returning one row: `versions` (the data versions of the object models, an
    array of VERSIONS_COLUMNS row values), then `part0`, `part1`, ... (each statement's rows, an
    array of row values of its `columns`, in the statement's order)."""
    params: list[object] = [client_id, list(object_model_codes)]
    parts = [
        "ARRAY(SELECT ROW(" + ", ".join(VERSIONS_COLUMNS) + ") FROM analytics.data_versions"
        " WHERE client_id = $1 AND object_model_code = ANY($2::text[])) AS versions"
    ]
    columns: list[tuple[str, ...]] = []
    for index, statement in enumerate(statements):
        if statement.params[0] != client_id:
            raise ValueError("every statement must read the same client")
        names = result_columns(statement)
        columns.append(names)
        sql = _renumbered(statement.sql, len(params) - 1)
        params.extend(statement.params[1:])
        # The statement's ORDER BY again, on the outside: a subquery's order is not promised to
        # survive into the array. It sorts by its groups, so the order is the same.
        keys = [*(["bucket_start"] if statement.bucketed else [])]
        keys += [f"d{position}" for position in range(len(statement.dimension_names))]
        order = (" ORDER BY " + ", ".join(f"s.{key}" for key in keys)) if keys else ""
        values = ", ".join(f"s.{name}" for name in names)
        parts.append(f"ARRAY(SELECT ROW({values}) FROM (\n{sql}\n) AS s{order}) AS part{index}")
    return CombinedRead("SELECT " + ",\n".join(parts), tuple(params), tuple(columns))


# Parts renumbered lately, by statement text and offset. A live round combines the same few
# statements at the same offsets over and over; scanning a statement's text for its parameters
# took as long as the rest of building the combined statement.
_RENUMBERED: LruMemo[tuple[str, int], str] = LruMemo(2048)


def _renumbered(sql: str, offset: int) -> str:
    """`sql` with `$1` kept (the client) and every other `$n` moved to `$(n + offset)`."""
    found = _RENUMBERED.get((sql, offset))
    if found is None:
        found = _renumbering(sql, offset)
        _RENUMBERED.put((sql, offset), found)
    return found


def _renumbering(sql: str, offset: int) -> str:
    def renumber(match: re.Match[str]) -> str:
        number = match.group(1)
        if number is None or number == "1":
            return match.group(0)
        return f"${int(number) + offset}"

    return _TOKEN.sub(renumber, sql)
