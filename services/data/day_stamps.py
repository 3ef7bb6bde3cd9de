"""The day stamps of client rows (pure: SQL text, no I/O): what every write of an object model's
rows adds to its transaction so a distinct count kept for a bucket is never used after the rows
of that bucket changed (see services.data.settled_distinct and sql/0022).

A write gives each UTC day it touched a new stamp, one upsert per day (not per row): the days
from its first to its last time value, which the writer knows already. A date-placed model's
day is the date itself.
"""

from __future__ import annotations

STAMPS_TABLE = "analytics.row_day_stamps"
STAMP_SEQUENCE = "analytics.row_day_stamp"
# The day whose stamp stands for all of a client's rows of a model (bumped when they all go).
ALL_DAYS = "'-infinity'::date"


def bump_days(client: str, model_code: str, first: str, last: str, source: str,
              is_date: bool) -> str:
    """An INSERT giving every day from that of `first` to that of `last` (time values of the
    model's time field, SQL evaluated over `source`: a FROM list of one row, or of none when
    nothing was written) a new stamp. Short: it rides in the ingest statement, which must stay
    under asyncpg's 15 KiB limit of prepared statements."""
    days = (
        f"{first}::timestamp, {last}::timestamp" if is_date
        else f"date_trunc('day', {first} AT TIME ZONE 'UTC'), {last} AT TIME ZONE 'UTC'"
    )
    return (
        f"INSERT INTO {STAMPS_TABLE} SELECT {client}, {model_code}, d::date,"
        f" nextval('{STAMP_SEQUENCE}') FROM {source}, generate_series({days}, '1 day') AS d"
        " ON CONFLICT (client_id, object_model_code, day) DO UPDATE SET stamp = EXCLUDED.stamp"
    )


# $1 client, $2 object model code: every kept count of the model's rows is out of date.
BUMP_ALL_DAYS = (
    f"INSERT INTO {STAMPS_TABLE} AS stamps (client_id, object_model_code, day, stamp)"
    f" VALUES ($1::text, $2::text, {ALL_DAYS}, nextval('{STAMP_SEQUENCE}'))"
    " ON CONFLICT (client_id, object_model_code, day) DO UPDATE SET stamp = EXCLUDED.stamp"
)
