"""Several aggregate statements as one: parameters renumbered into one list, identifiers and
literals left alone, row values named."""

from __future__ import annotations

import dataclasses

import pytest

from services.aggregates.lru import LruMemo
from services.data.combined_read import combine, result_columns
from services.data.sql_builder import Statement


def statement(sql: str, *params: object, **changes: object) -> Statement:
    base = Statement(
        sql=sql,
        params=params,
        used_rollups=False,
        rollup_level=None,
        rollup_refusal="raw",
        bucketed=True,
        dimension_names=("region",),
        measure_ids=("n", "s"),
        max_groups=0,
        row_limit=10,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_parameters_are_renumbered_around_the_shared_client() -> None:
    first = statement("SELECT $2::bigint AS \"$3\", '$4' FROM t WHERE c = $1", "acme", 5)
    second = statement("SELECT $2::text, $3::date, $10 FROM t WHERE c = $1", "acme", "x", "d")
    combined = combine([first, second], "acme", ["ORDER"])
    assert combined.params == ("acme", ["ORDER"], 5, "x", "d")
    # $1 stays the client; the first statement's $2 follows the versions' $2; a `$` inside a
    # quoted identifier or a string literal is not a parameter.
    assert "SELECT $3::bigint AS \"$3\", '$4' FROM t WHERE c = $1" in combined.sql
    assert "SELECT $4::text, $5::date, $12 FROM t WHERE c = $1" in combined.sql
    assert combined.sql.count(" AS part") == 2 and " AS versions" in combined.sql


def test_row_values_are_named_and_ordered_like_the_statement() -> None:
    grouped = statement("SELECT 1", "acme", max_groups=3)
    total = statement("SELECT 1", "acme", bucketed=False, dimension_names=())
    assert result_columns(grouped) == ("bucket_start", "d0", "row_count", "m0", "m1", "group_total")
    assert result_columns(total) == ("row_count", "m0", "m1")
    combined = combine([grouped, total], "acme", [])
    assert combined.columns == (result_columns(grouped), result_columns(total))
    assert "ORDER BY s.bucket_start, s.d0) AS part0" in combined.sql
    assert ") AS s) AS part1" in combined.sql


def test_statements_of_another_client_are_refused() -> None:
    with pytest.raises(ValueError):
        combine([statement("SELECT 1", "other")], "acme", [])


def test_the_memo_forgets_the_entry_used_longest_ago() -> None:
    memo: LruMemo[str, int] = LruMemo(2)
    memo.put("a", 1)
    memo.put("b", 2)
    assert memo.get("a") == 1
    memo.put("c", 3)
    assert (memo.get("a"), memo.get("b"), memo.get("c"), len(memo)) == (1, None, 3, 2)
