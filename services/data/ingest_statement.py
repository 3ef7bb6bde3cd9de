"""The ingest statement of an object model: one statement that inserts new keys, replaces changed
rows, folds the rollup delta into the minute and hour rollups, records the batch, bumps the data
version and writes the outbox record; plus the statements that drop emptied rollup groups and
rebuild a client's rollups.
Built once per object model and kept under asyncpg's 15 KiB prepared-statement limit."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import (
    Iterable,
    Sequence,
)

from services.catalog.domain import ObjectModel, carried_column
from services.data import day_stamps, rollup_fold
from services.data.batch_wire import wire_columns
from services.data.carried_copies import NO_CARRYING, CarriedOut, Carrier, Carrying
from services.data.statement_text import compact
from services.data.tables import (
    COUNT_PREFIX,
    SQL_TYPES,
    SUM_PREFIX,
    bucket_sql,
    carried_fields,
    derived_value,
    duration_fields,
    duration_value,
    hour_of,
    hour_rollup_table,
    natural_key,
    quote,
    raw_table,
    rollup_dimensions,
    rollup_sums,
    rollup_table,
    time_is_date,
)

# The notification channel that says "the outbox has new rows": PostgreSQL delivers a NOTIFY at
# commit (never for a rolled-back change), so the relay can publish at once instead of polling.
OUTBOX_CHANNEL = "analytics_change_outbox"


@dataclasses.dataclass(frozen=True)
class Statements:
    write_and_fold: str
    delete_empty_groups: str
    rebuild_rollup: str
    # After rebuild_rollup (a statement cannot read the rows it writes): the hours summed again
    # from their minutes.
    rebuild_hour_rollup: str


@dataclasses.dataclass(frozen=True)
class _BookkeepingParameters:
    """The SQL of the ingest statement's last parameters (sent in this order, after the
    columns): what the batch's record, the version bump and the outbox record need."""

    model: str
    idempotency_key: str
    source_system: str
    ingest_id: str
    sent_row_count: str


def _bookkeeping_parameters(first: int) -> _BookkeepingParameters:
    return _BookkeepingParameters(
        model=f"${first}::text",
        idempotency_key=f"${first + 1}::text",
        source_system=f"${first + 2}::text",
        ingest_id=f"${first + 3}::uuid",
        sent_row_count=f"${first + 4}::bigint",
    )


@functools.lru_cache(maxsize=256)
def statements(model: ObjectModel, carrying: Carrying = NO_CARRYING) -> Statements:
    """The statements of `model`; `carrying` says which related models it copies fields from and
    which of its fields other models copy (see carried_copies)."""
    carried_out = carrying.carried_out
    columns = [field.name for field in model.fields]
    key = natural_key(model)
    # Copies of related rows' fields: looked up for every row written (see _lookups).
    carried = [field.name for field in carried_fields(model)]
    written = columns + carried
    changeable = [name for name in written if name not in key]
    dimensions = [quote(field.name) for field in rollup_dimensions(model)]
    durations = [duration.name for duration in model.derived_durations]
    # Values the table computes itself (generated columns), read back for the rollup delta.
    derived_names = [derived.name for derived in model.derived_fields] + durations
    sums = [field.name for field in rollup_sums(model)] + durations
    raw, rollup, hours = raw_table(model), rollup_table(model), hour_rollup_table(model)
    is_date = time_is_date(model)
    time = quote(model.time_field)
    moment_cast = "::date" if is_date else "::timestamptz"
    # A row can have changed only when the span holds stored rows: checked once, so the
    # statement's parts for changed rows read no row of a batch of new ones.
    any_stored = "EXISTS (SELECT FROM stored)"

    def listed(names: Iterable[str], alias: str = "") -> str:
        prefix = f"{alias}." if alias else ""
        return ", ".join(prefix + quote(name) for name in names)

    def stored_as(name: str) -> str:
        return quote("was__" + name)

    rollup_columns = rollup_fold.rollup_columns(model)
    group_key = rollup_fold.group_key(model)
    summed_columns = [quote(SUM_PREFIX + n) for n in sums] + [
        quote(COUNT_PREFIX + n) for n in durations
    ]
    replaced_sums = "".join(f", {column} = EXCLUDED.{column}" for column in summed_columns)
    wire = wire_columns(model)
    # $1 client, $2 and $3 the batch's earliest and latest time values, then the columns, then
    # the batch's bookkeeping (_BookkeepingParameters).
    # Each column unnested in the select list: the arrays are read in step (a shorter one, an
    # all-NULL column sent as no array, padded with NULLs) without first copying each into a
    # tuplestore, as unnest(a, b, ...) in FROM does (a third of the decoding's time).
    decoded = ", ".join(
        f"unnest({column.decode(4 + 2 * index)}) AS {quote(name)}"
        for index, (column, name) in enumerate(zip(wire, columns, strict=True))
    )
    bookkeeping = _bookkeeping_parameters(4 + 2 * len(wire))
    sent_values = {
        name: column.value.replace("{}", f"sent.{quote(name)}")
        for column, name in zip(wire, columns, strict=True)
    }
    # The decoded fields, then what is derived from them (riding along for the rollup delta; the
    # table computes its own), over the decoded values by name rather than decoding them again.
    decoded_values = ", ".join(
        rollup_fold.named(value, name) for name, value in sent_values.items()
    )

    # A derived value may read a copy of a related row's field: the copy as looked up below.
    looked_up = {
        carried_column(rel, field): f"{quote(f'related__{rel.name}')}.{quote(field.name)}"
        for rel in model.relationships
        for field in rel.carried_fields
    }

    def decoded_column(name: str) -> str:
        return looked_up.get(name, f"decoded.{quote(name)}")

    derived_values = "".join(
        [
            *(
                f", {derived_value(derived, decoded_column)} AS {quote(derived.name)}"
                for derived in model.derived_fields
            ),
            *(
                f", {duration_value(model, d, decoded_column)} AS {quote(d.name)}"
                for d in model.derived_durations
            ),
        ]
    )
    copies, lookups = _lookups(model, carrying.targets)
    incoming = (
        f"(SELECT decoded.*{derived_values}{copies} FROM (SELECT {decoded_values}"
        # OFFSET 0 keeps the decoded values columns: each is computed once per row rather
        # than again in every condition that reads it (a copy's lookup window, the probe).
        f" FROM (SELECT {decoded}) AS sent OFFSET 0) AS decoded{lookups}"
        # A batch applied before writes nothing (one-time filter: checked once, not per row).
        " WHERE NOT EXISTS (SELECT FROM earlier))"
    )
    if changeable:
        changed = (
            f"was.found AND ({listed(changeable, 'was')}) IS DISTINCT FROM "
            f"({listed(changeable, 'incoming')})"
        )
        # Every row sent here exists (the writers' lock keeps it so): the arbiter index finds it
        # in one probe and the row is updated in place of being inserted.
        replace = f"""
), replaced AS (
    INSERT INTO {raw} AS target (client_id, {listed(written)})
    SELECT $1, {listed(written)} FROM matched WHERE changed AND {any_stored}
    ON CONFLICT (client_id, {listed(key)}) DO UPDATE SET
        {", ".join(f"{quote(name)} = EXCLUDED.{quote(name)}" for name in changeable)}"""
    else:
        # Every field is part of the key: a row sent again is the same row.
        changed, replace = "false", ""
    # The batch's first and last buckets come from its earliest and latest time values (a
    # bucket only grows with the time), so only two values are bucketed, not every row.
    first_bucket, last_bucket = bucket_sql(model, "first_row"), bucket_sql(model, "last_row")
    newest = "last_bucket" if is_date else "last_time"
    bucket_width = "INTERVAL '24 hours'" if is_date else "INTERVAL '1 minute'"

    # Copied fields that can change on a stored row: those outside the natural key (a row with
    # another value of a key field is another row, found as a new key).
    watched = sorted({name for out in carried_out for name in out.fields if name not in key})
    stored_fields = [
        *rollup_dimensions(model),
        *rollup_sums(model),
        *duration_fields(model),
        *(field for field in model.fields if field.name in watched),
    ]
    stored_fields = list({field.name: field for field in stored_fields}.values())
    no_stored_values = "".join(
        f", NULL::{SQL_TYPES[field.type]} AS {stored_as(field.name)}" for field in stored_fields
    )
    # Named by the first branch of the UNION they follow (statements must stay short).
    stored_values = "".join(f", was.{quote(field.name)}" for field in stored_fields)
    # The first stored time in the span, in time order: only the (client, time) index gives it
    # without reading the client's rows (a plan made while a partition was empty costs the
    # other indexes the same; see _probe_by_natural_key).
    first_stored = (
        f"SELECT any_stored.{time} FROM {raw} AS any_stored WHERE any_stored.client_id = $1 "
        f"AND any_stored.{time} >= $2{moment_cast} AND any_stored.{time} <= $3{moment_cast} "
        f"ORDER BY any_stored.{time} LIMIT 1"
    )

    def now(name: str) -> str:
        return f"matched.{quote(name)}"

    def before(name: str) -> str:
        return f"matched.{stored_as(name)}"

    # For each model keeping copies of this one's fields: the keys of new rows when some of its
    # rows wait for a related row, and of rows whose copied fields changed.
    def changed_keys(out: CarriedOut) -> str:
        changing = [name for name in out.fields if name in watched]
        if not changing:
            return "NULL::text[]"
        return (
            f"array_agg(matched.{quote(out.key_field)}::text) FILTER (WHERE changed AND"
            f" ({listed(changing, 'matched')}) IS DISTINCT FROM"
            f" ({', '.join(before(name) for name in changing)}))"
        )

    # A client with no rows keeping copies has none to move (one probe, not a move per batch).
    # It has a data version of the carrier model if it ever wrote rows of it (every write of
    # rows bumps one, and none is removed): one index probe, where a look at the carrier's rows
    # probes each of its partitions. Only then is it asked whether any of them wait for a
    # related row (the AND stops at the first false).
    def keeps_copies(carrier: Carrier) -> str:
        code = carrier.model.code.replace("'", "''")
        return (
            "EXISTS (SELECT FROM analytics.data_versions AS copying"
            f" WHERE copying.client_id = $1 AND copying.object_model_code = '{code}')"
        )

    recarry = "".join(
        f", array_agg(matched.{quote(out.key_field)}::text) FILTER (WHERE found IS NULL"
        f" AND {keeps_copies(carrier)} AND {out.waiting})"
        f" AS new_keys_{index}, CASE WHEN {keeps_copies(carrier)} THEN {changed_keys(out)} END"
        f" AS changed_keys_{index}"
        for index, (carrier, out) in enumerate(zip(carrying.carriers, carried_out, strict=True))
    )
    stored_key_match, stored_key_order = _probe_by_natural_key(key, model.time_field)
    write_and_fold = f"""
WITH earlier AS (
    -- The answer given to a batch sent before with the same idempotency key (the literal
    -- `<> ''` lets the planner use the partial unique index on keyed batches).
    SELECT ingest_id, accepted_row_count, duplicate_row_count, data_version, watermark,
           range_start, range_end
    FROM analytics.ingest_batches
    WHERE client_id = $1 AND object_model_code = {bookkeeping.model}
        AND idempotency_key = {bookkeeping.idempotency_key} AND idempotency_key <> ''
), incoming AS NOT MATERIALIZED (
    -- The rows sent, decoded (written once, planned into each branch below).
    {incoming}
), stored AS (
    -- Whether the client has any row in the batch's span (looked for once).
    {first_stored}
), matched AS MATERIALIZED (
    -- Each row sent, with the stored row of its natural key (`was`, its values `was__*`) when
    -- there is one. When the client has no row in the batch's time span (the usual case of a
    -- live stream or a first load; checked once), no row can be stored and none is looked for.
    -- Otherwise one index probe per row (LIMIT 1 keeps the planner from turning this into a
    -- scan of all the client's rows), limited to the span so only the partitions of the span
    -- are probed.
    SELECT incoming.*, NULL::boolean AS found, false AS changed
        {no_stored_values}
    FROM incoming
    WHERE NOT {any_stored}
    UNION ALL
    SELECT incoming.*, was.found, ({changed}) AS changed
        {stored_values}
    FROM incoming LEFT JOIN LATERAL (
        SELECT true AS found, {listed([*changeable, *derived_names], "was") or "true"}
        FROM {raw} AS was
        WHERE was.client_id = $1 AND {stored_key_match}
            AND was.{time} >= $2{moment_cast} AND was.{time} <= $3{moment_cast}
        {stored_key_order}LIMIT 1
    ) AS was ON true
    WHERE {any_stored}
), inserted AS (
    -- New keys: a plain insert, with no conflict to look for (the probe above found none, and
    -- the writers' lock keeps it so; were it broken, the unique index would refuse the batch).
    INSERT INTO {raw} (client_id, {listed(written)})
    SELECT $1, {listed(written)} FROM matched WHERE found IS NULL{replace}
), delta AS (
    {rollup_fold.delta_rows(model, "matched", "", now, "found IS NULL OR changed")}
    UNION ALL
    {rollup_fold.delta_rows(model, "matched", "-", before, f"changed AND {any_stored}",
                            unnamed=True)}
), {rollup_fold.fold(model)}, written AS (
    SELECT count(*) AS written, min({time}) AS first_time, max({time}) AS last_time{recarry}
    FROM matched WHERE found IS NULL OR changed
), span AS (
    SELECT written, {first_bucket} AS first_bucket, {last_bucket} AS last_bucket,
           last_time
    FROM written, LATERAL (SELECT written.first_time AS {time}) AS first_row,
        LATERAL (SELECT written.last_time AS {time}) AS last_row
), emptied AS (
    {rollup_fold.emptied()}
), bumped AS (
    -- The data version bump, the outbox record and the batch's record ride in this statement
    -- (one round trip): written in the same transaction as the rows.
    INSERT INTO analytics.data_versions AS v (client_id, object_model_code, version, watermark,
                                              updated_at)
    SELECT $1, {bookkeeping.model}, 1, {newest}::timestamptz, now() FROM span WHERE written > 0
    ON CONFLICT (client_id, object_model_code) DO UPDATE
    SET version = v.version + 1, watermark = GREATEST(v.watermark, EXCLUDED.watermark),
        updated_at = now()
    RETURNING version, watermark
), announced AS (
    INSERT INTO analytics.change_outbox (client_id, object_model_code, range_start, range_end,
                                         watermark, row_count, data_version)
    SELECT $1, {bookkeeping.model}, first_bucket, last_bucket + {bucket_width},
           bumped.watermark, written, bumped.version
    FROM span, bumped
), stamped AS (
    -- New stamps for the days written (one row per day): see day_stamps.
    {day_stamps.bump_days("$1", bookkeeping.model, "first_time", "last_time", "written",
                          is_date)}
), outcome AS (
    SELECT {bookkeeping.ingest_id} AS ingest_id, span.written AS accepted_row_count,
           {bookkeeping.sent_row_count} - span.written AS duplicate_row_count,
           COALESCE(bumped.version, stored_version.version, 0) AS data_version,
           CASE WHEN bumped.version IS NULL THEN stored_version.watermark ELSE bumped.watermark END
               AS watermark,
           span.first_bucket AS range_start, span.last_bucket + {bucket_width} AS range_end,
           false AS replayed
    FROM span LEFT JOIN bumped ON true
        LEFT JOIN analytics.data_versions AS stored_version
            ON stored_version.client_id = $1
                AND stored_version.object_model_code = {bookkeeping.model}
    WHERE NOT EXISTS (SELECT FROM earlier)
    UNION ALL
    SELECT earlier.*, true FROM earlier
), recorded AS (
    INSERT INTO analytics.ingest_batches (ingest_id, client_id, object_model_code,
        idempotency_key, source_system, accepted_row_count, duplicate_row_count, data_version,
        watermark, range_start, range_end)
    SELECT ingest_id, $1, {bookkeeping.model}, {bookkeeping.idempotency_key},
           {bookkeeping.source_system}, accepted_row_count, duplicate_row_count, data_version,
           watermark, range_start, range_end
    FROM outcome WHERE NOT replayed
)
SELECT outcome.*, emptied.*{"".join(
        f", written.new_keys_{i}, written.changed_keys_{i}" for i in range(len(carried_out)))},
       -- Tells the outbox relay at commit (never for a rolled-back change).
       CASE WHEN accepted_row_count > 0 AND NOT replayed
            THEN pg_notify('{OUTBOX_CHANNEL}', '') END AS notified
FROM outcome, emptied{", written" if carried_out else ""}
"""
    # A group whose rows all moved to other groups (an update changed a dimension) is removed,
    # so a breakdown never shows a group with no rows.
    emptied = "client_id = $1 AND bucket >= $2 AND bucket <= $3 AND row_count = 0"
    delete_empty_groups = (
        f"WITH minutes AS (DELETE FROM {rollup} WHERE {emptied}) "
        f"DELETE FROM {hours} WHERE {emptied}"
    )
    rebuild_rollup = f"""
INSERT INTO {rollup} AS rollup ({rollup_columns})
SELECT raw.client_id, {bucket_sql(model, "raw")} AS bucket,
       {", ".join([*(f"raw.{d}" for d in dimensions), "count(*)"])}
       {"".join(f", COALESCE(sum(raw.{quote(n)}), 0)" for n in sums)}
       {"".join(f", count(raw.{quote(n)})" for n in durations)}
FROM {raw} AS raw
WHERE raw.client_id = $1 AND raw.{time} >= $2{moment_cast} AND raw.{time} < $3{moment_cast}
GROUP BY {", ".join(str(position) for position in range(1, 3 + len(dimensions)))}
ON CONFLICT ({group_key}) DO UPDATE SET row_count = EXCLUDED.row_count
    {replaced_sums}
"""
    # $2 and $3: the rebuilt minutes' first bucket and the end of their last; every hour they
    # touch is summed again whole.
    rebuild_hour_rollup = f"""
INSERT INTO {hours} AS rollup ({rollup_columns})
SELECT client_id, {hour_of("bucket")}, {", ".join([*dimensions, "sum(row_count)"])}
       {"".join(f", sum({column})" for column in summed_columns)}
FROM {rollup}
WHERE client_id = $1 AND bucket >= {hour_of("$2::timestamptz")}
    AND bucket < {hour_of("$3::timestamptz - INTERVAL '1 microsecond'")} + INTERVAL '1 hour'
GROUP BY {", ".join(["1", "2", *dimensions])}
ON CONFLICT ({group_key}) DO UPDATE SET row_count = EXCLUDED.row_count
    {replaced_sums}
"""
    return Statements(
        compact(write_and_fold),
        compact(delete_empty_groups),
        compact(rebuild_rollup),
        compact(rebuild_hour_rollup),
    )


def _probe_by_natural_key(key: Sequence[str], time_field: str) -> tuple[str, str]:
    """The conditions finding the stored row (`was`) of an incoming row by its natural key, and
    the ORDER BY making the plan probe the natural-key index: the key's last field other than
    the time as a one-value range, in its order, which only that index gives without a sort.
    A partition planned while empty (a new month: the plan is generic and cached) otherwise
    costs every index of the client alike, and a plan probing one by client and time, or by
    client alone, reads many rows for each row sent."""
    ordered = next((name for name in reversed(key) if name != time_field), None)

    def match(name: str) -> str:
        stored, sent = f"was.{quote(name)}", f"incoming.{quote(name)}"
        if name == ordered:
            return f"{stored} >= {sent} AND {stored} <= {sent}"
        return f"{stored} = {sent}"

    conditions = [match(name) for name in key]
    order = f"ORDER BY was.{quote(ordered)} " if ordered else ""
    return " AND ".join(conditions), order


def _lookups(model: ObjectModel, targets: tuple[ObjectModel, ...]) -> tuple[str, str]:
    """The copies of related rows' fields for the rows sent: the select-list entries and the
    joins finding each related row (over `decoded`, the decoded rows). One index probe per row
    first within the relationship's usual time window (a partition or two), and only when that
    finds nothing in every partition; LIMIT 1 takes one related row, as the relationship means
    one. No related row: the copies are NULL until it arrives (see carried_copies)."""
    columns: list[str] = []
    joins: list[str] = []
    by_code = {target.code: target for target in targets}
    for rel in model.relationships:
        if not rel.carried_fields:
            continue
        target = by_code.get(rel.target_object_model_code)
        if target is None:
            raise ValueError(
                f"{model.code} keeps copies of {rel.target_object_model_code} fields: its writes "
                "need carried_copies.carrying(model, models)"
            )
        alias = quote(f"related__{rel.name}")
        fields = ", ".join(f"related.{quote(field.name)}" for field in rel.carried_fields)
        # The related key as a one-value range, in its order: only an index leading with
        # (client, key) gives that order without a sort, so the plan probes that index. With
        # `=` a partition with no statistics yet (a new month) costs the (client, time) index
        # the same, and a plan probing it reads every row of the window for each row sent.
        related_key, sent_key = f"related.{quote(rel.target_field)}", quote(rel.source_field)
        lookup = (
            f"SELECT {fields} FROM {raw_table(target)} AS related WHERE related.client_id = $1"
            f" AND {related_key} >= decoded.{sent_key} AND {related_key} <= decoded.{sent_key}"
        )
        in_key_order = f" ORDER BY {related_key} LIMIT 1"
        window = rel.target_time_window
        target_time = target.field(target.time_field)
        if window is not None and target_time is not None:
            moment = f"decoded.{quote(model.time_field)}"
            kind = SQL_TYPES[target_time.type]
            # A day of slack each side: a date compared with a moment is cut in the zone.
            near = (
                f" AND related.{quote(target.time_field)} >= ({moment} - interval"
                f" '{window.days_before + 1} days')::{kind} AND related.{quote(target.time_field)}"
                f" <= ({moment} + interval '{window.days_after + 1} days')::{kind}"
            )
            search = f"(({lookup}{near}{in_key_order}) UNION ALL ({lookup}{in_key_order}) LIMIT 1)"
        else:
            search = f"({lookup}{in_key_order})"
        joins.append(f" LEFT JOIN LATERAL {search} AS {alias} ON true")
        columns += [
            f", {alias}.{quote(field.name)} AS {quote(carried_column(rel, field))}"
            for field in rel.carried_fields
        ]
    return "".join(columns), "".join(joins)
