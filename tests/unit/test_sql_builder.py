"""The SQL builder against the shipped catalog: parameterisation, catalog-only identifiers, client
scoping of every table, and the rollup decision table."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest

from services.aggregates import query as q
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import ObjectModel
from services.data.sql_builder import Statement, build_statement
from services.errors import InvalidArgument

UTC = datetime.UTC
START = datetime.datetime(2024, 3, 1, tzinfo=UTC)
END = datetime.datetime(2024, 4, 1, tzinfo=UTC)
RANGE = q.TimeRange(START, END)


@pytest.fixture(scope="module")
def models() -> dict[str, ObjectModel]:
    return {model.code: model for model in load_catalog_files().object_models}


def count(measure_id: str = "n", where: q.Filter | None = None) -> q.Measure:
    return q.Measure(measure_id, q.AggregateFunction.COUNT, filter=where)


def field(name: str, *path: str) -> q.FieldRef:
    return q.FieldRef(name, tuple(path))


def orders(*measures: q.Measure, **changes: object) -> q.AggregateQuery:
    query = q.AggregateQuery("q", "ORDER", RANGE, measures or (count(),))
    return q.AggregateQuery(**{**query.__dict__, **changes})  # type: ignore[arg-type]


def build(query: q.AggregateQuery, models: dict[str, ObjectModel], **options: object) -> Statement:
    return build_statement(query, models, client_id="client-'1", **options)  # type: ignore[arg-type]


HOSTILE = "x'); DROP TABLE scor_data.orders; --"
# ORDER.fulfillment_seconds, declared in the catalog.
FULFILLMENT_DAYS = q.Duration(field("created_at"), field("delivered_at"), q.DurationUnit.DAYS)
DELIVERED = q.Compare(field("status"), q.Comparator.EQ, q.Literal("delivered"))


def test_no_value_from_the_request_reaches_the_sql_text(models: dict[str, ObjectModel]) -> None:
    query = orders(
        q.Measure(
            "m'; DELETE FROM x; --",
            q.AggregateFunction.SUM,
            field("order_value"),
            q.AllOf(
                (
                    q.Compare(field("region"), q.Comparator.EQ, q.Literal(HOSTILE)),
                    q.InList(field("status"), ("open", "o'pen")),
                    q.Between(field("order_value"), Decimal("12.345"), 99887766),
                    q.Compare(field("segment", "customer"), q.Comparator.NE, q.Literal('seg"ment')),
                    q.Compare(field("carrier", "shipments"), q.Comparator.EQ, q.Literal("DHL'x")),
                )
            ),
        ),
        q.Measure("p", q.AggregateFunction.PERCENTILE, field("order_value"), percentile=0.937),
        q.Measure(
            "r",
            q.AggregateFunction.AVG,
            q.Arithmetic(
                q.ArithmeticOperator.MULTIPLY, field("order_value"), q.Literal(Decimal("1.0625"))
            ),
        ),
        group_by=(q.Dimension('dim"; --', field("channel")),),
        bucket=q.Period.DAY,
        row_filter=q.Compare(
            field("created_at"), q.Comparator.GE, q.Literal(datetime.date(2024, 3, 2))
        ),
    )
    statement = build(query, models, time_zone="America/New_York", max_groups=7)
    for literal in [
        HOSTILE,
        "o'pen",
        "12.345",
        "99887766",
        'seg"ment',
        "DHL'x",
        "0.937",
        "1.0625",
        "client-'1",
        "America/New_York",
        "m';",
        'dim"',
        "2024",
        "'7'",
    ]:
        assert literal not in statement.sql
    # The only quote characters are the catalog's identifiers and the interval/unit constants.
    for quoted in re.findall(r"'([^']*)'", statement.sql):
        assert quoted in {"day", "1 minute", "1 hour", "1 day"}
    assert statement.params[0] == "client-'1"
    for value in [
        HOSTILE,
        ["open", "o'pen"],
        Decimal("12.345"),
        99887766,
        'seg"ment',
        "DHL'x",
        0.937,
    ]:
        assert value in statement.params
    placeholders = {int(n) for n in re.findall(r"\$(\d+)", statement.sql)}
    assert placeholders == set(range(1, len(statement.params) + 1))


def test_identifiers_come_from_the_catalog_only(models: dict[str, ObjectModel]) -> None:
    statement = build(
        orders(
            q.Measure("s", q.AggregateFunction.SUM, field("order_value")),
            count("c", q.Compare(field("segment", "customer"), q.Comparator.EQ, q.Literal("a"))),
        ),
        models,
    )
    identifiers = set(re.findall(r'"([^"]+)"', statement.sql))
    order, customer = models["ORDER"], models["CUSTOMER"]
    allowed = {f.name for f in order.fields} | {f.name for f in customer.fields}
    allowed |= {order.schema_name, order.table_name, customer.schema_name, customer.table_name}
    assert identifiers <= allowed
    for bad, where in [
        (field('order_value"; --'), "measures[0].argument"),
        (field("region", "no_such_relationship"), "measures[0].argument"),
        (field("password", "customer"), "measures[0].argument"),
    ]:
        with pytest.raises(InvalidArgument) as refused:
            build(orders(q.Measure("m", q.AggregateFunction.COUNT_DISTINCT, bad)), models)
        assert refused.value.violations[0].field == where
    with pytest.raises(InvalidArgument) as unknown_model:
        build(q.AggregateQuery("q", "ORDERS; --", RANGE, (count(),)), models)
    assert unknown_model.value.violations[0].field == "object_model_code"


def test_every_table_is_scoped_to_the_client(models: dict[str, ObjectModel]) -> None:
    statement = build(
        orders(
            count("late", q.Compare(field("delivered_at"), q.Comparator.GT, field("promised_at"))),
            count(
                "web_eu", q.Compare(field("country", "customer"), q.Comparator.EQ, q.Literal("DE"))
            ),
            count(
                "deep",
                q.Compare(
                    field("name", "customer", "account_owner"), q.Comparator.EQ, q.Literal("A")
                ),
            ),
            count(
                "shipped_dhl",
                q.Compare(field("carrier", "shipments"), q.Comparator.EQ, q.Literal("D")),
            ),
            count(
                "line_product",
                q.Compare(
                    field("category", "lines", "product"), q.Comparator.EQ, q.Literal("toys")
                ),
            ),
        ),
        models,
        field_prefix="queries[0].",
    )
    aliases = re.findall(r'"\w+"\."\w+" AS (\w+)', statement.sql)
    assert sorted(aliases) == sorted(["t", "j1", "j2", "x3", "x4", "j5"])
    for alias in aliases:
        assert f"{alias}.client_id = $1" in statement.sql
    assert "LEFT JOIN" in statement.sql
    assert statement.sql.count("EXISTS (SELECT 1 FROM") == 2


def test_one_to_many_paths_only_in_filters(models: dict[str, ObjectModel]) -> None:
    with pytest.raises(InvalidArgument) as refused:
        build(orders(q.Measure("s", q.AggregateFunction.SUM, field("quantity", "lines"))), models)
    assert refused.value.violations[0].field == "measures[0].argument"
    assert "one-to-many" in refused.value.violations[0].description
    with pytest.raises(InvalidArgument):
        build(orders(group_by=(q.Dimension("carrier", field("carrier", "shipments")),)), models)


def test_a_condition_over_a_one_to_many_path_is_evaluated_on_one_related_row(
    models: dict[str, ObjectModel],
) -> None:
    late_shipment = q.Compare(
        field("delivered_at", "shipments"), q.Comparator.GT, field("promised_at")
    )
    statement = build(orders(count("late", late_shipment)), models)
    # The related row's field and the order's own field meet inside the same EXISTS.
    assert re.search(
        r'EXISTS \(SELECT 1 FROM "scor_data"."shipments" AS x1 WHERE x1.client_id = \$1'
        r' AND x1."order_id" = t."order_id" AND \(x1."delivered_at" > t."promised_at"\)\)',
        statement.sql,
    )


def test_measures_compile_to_filtered_aggregates(models: dict[str, ObjectModel]) -> None:
    # Not a derived duration of ORDER: computed from the two fields of each row.
    lead_days = q.Duration(field("promised_at"), field("delivered_at"), q.DurationUnit.DAYS)
    web = q.Compare(field("channel"), q.Comparator.EQ, q.Literal("web"))
    statement = build(
        orders(
            count("n", web),
            q.Measure("s", q.AggregateFunction.SUM, field("order_value"), web),
            q.Measure("a", q.AggregateFunction.AVG, lead_days),
            q.Measure("lo", q.AggregateFunction.MIN, field("order_value")),
            q.Measure("hi", q.AggregateFunction.MAX, field("order_value")),
            q.Measure("d", q.AggregateFunction.COUNT_DISTINCT, field("customer_id"), web),
            q.Measure("p", q.AggregateFunction.PERCENTILE, lead_days, web, percentile=0.5),
            q.Measure(
                "ratio",
                q.AggregateFunction.SUM,
                q.Arithmetic(q.ArithmeticOperator.DIVIDE, field("order_value"), lead_days),
            ),
        ),
        models,
    )
    sql = statement.sql
    assert 'count(*) FILTER (WHERE (t."channel" = $' in sql
    assert 'sum(t."order_value") FILTER (WHERE' in sql
    assert 'avg((extract(epoch from (t."delivered_at" - t."promised_at")) / 86400))' in sql
    assert 'min(t."order_value")' in sql and 'max(t."order_value")' in sql
    # A total's distinct count is a subquery of its own (see the test below).
    assert 'SELECT t."customer_id" AS value FROM "scor_data"."orders" AS t' in sql
    assert re.search(
        r"percentile_cont\(\$\d+::double precision\) WITHIN GROUP \(ORDER BY .*\) FILTER", sql
    )
    assert "NULLIF(((extract(epoch" in sql
    assert not statement.used_rollups


def test_a_totals_distinct_count_hashes_its_values_in_a_subquery_of_the_same_rows(
    models: dict[str, ObjectModel],
) -> None:
    smb = q.Compare(field("segment", "customer"), q.Comparator.EQ, q.Literal("smb"))
    customers = q.Measure("d", q.AggregateFunction.COUNT_DISTINCT, field("customer_id"), smb)
    total = build(
        orders(count(), customers, row_filter=q.InList(field("region"), ("EU", "US"))), models
    )
    (subquery,) = re.findall(
        r"CROSS JOIN \(SELECT count\(\*\) AS value_count FROM \((.*)\) AS distinct_values\)",
        total.sql,
    )
    # The subquery reads what the statement reads: its client, time range and row filter, plus
    # the measure's filter (through its own join) and the value's presence.
    assert subquery.startswith('SELECT t."customer_id" AS value FROM "scor_data"."orders" AS t')
    assert subquery.endswith("GROUP BY 1")
    for condition in (
        "t.client_id = $1",
        't."created_at" >= $',
        't."created_at" < $',
        '(t."customer_id") IS NOT NULL',
        '(t."region" = ANY($',
        '."segment" = $',
    ):
        assert condition in subquery, condition
    (join_alias,) = re.findall(r'LEFT JOIN "crm_data"."customers" AS (\w+)', subquery)
    assert f"{join_alias}.client_id = $1" in subquery
    assert "DISTINCT" not in total.sql
    # The rest of a total may be read from the rollup; the values are only in the raw rows.
    active = q.Measure(
        "d",
        q.AggregateFunction.COUNT_DISTINCT,
        field("customer_id"),
        q.Compare(field("status"), q.Comparator.NE, q.Literal("cancelled")),
    )
    rolled = build(orders(count(), active), models)
    assert rolled.used_rollups, rolled.rollup_refusal
    assert '"scor_data"."orders__hour" AS t' in rolled.sql
    assert 'SELECT t."customer_id" AS value FROM "scor_data"."orders" AS t' in rolled.sql
    assert not build(orders(count(), active), models, allow_rollups=False).used_rollups
    # A series or a grouped total keeps count(DISTINCT) in its one scan.
    for query in (
        orders(count(), customers, bucket=q.Period.DAY),
        orders(count(), customers, group_by=(q.Dimension("channel", field("channel")),)),
    ):
        sql = build(query, models).sql
        assert 'count(DISTINCT t."customer_id") FILTER (WHERE' in sql
        assert "distinct_values" not in sql


@pytest.mark.parametrize(
    ("measure", "where"),
    [
        (q.Measure("s", q.AggregateFunction.SUM, field("channel")), "measures[0].argument"),
        (q.Measure("s", q.AggregateFunction.AVG), "measures[0].argument"),
        (
            q.Measure("p", q.AggregateFunction.PERCENTILE, field("order_value"), percentile=1.5),
            "measures[0].percentile",
        ),
        (
            q.Measure("p", q.AggregateFunction.PERCENTILE, field("order_value")),
            "measures[0].percentile",
        ),
        (
            q.Measure(
                "a",
                q.AggregateFunction.SUM,
                q.Arithmetic(q.ArithmeticOperator.ADD, field("order_value"), field("region")),
            ),
            "measures[0].argument.right",
        ),
        (
            count("c", q.Compare(field("order_value"), q.Comparator.EQ, q.Literal("ten"))),
            "measures[0].filter.right",
        ),
        (
            count("c", q.Compare(field("created_at"), q.Comparator.EQ, field("region"))),
            "measures[0].filter",
        ),
        (
            count(
                "c",
                q.Compare(
                    field("created_at"), q.Comparator.EQ, q.Literal(datetime.datetime(2024, 1, 1))
                ),
            ),
            "measures[0].filter.right",
        ),
        (count(""), "measures[0].measure_id"),
    ],
)
def test_type_errors_name_the_field(
    models: dict[str, ObjectModel], measure: q.Measure, where: str
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        build(orders(measure), models, field_prefix="queries[2].")
    assert refused.value.violations[0].field == f"queries[2].{where}"


def test_utc_days_and_weeks_are_binned_without_zone_conversion(
    models: dict[str, ObjectModel],
) -> None:
    # In UTC a day and a week have one length: date_bin from a Monday midnight gives the buckets
    # date_trunc would (the integration tests compare values), without a conversion per row.
    for period, stride in ((q.Period.DAY, "1 day"), (q.Period.WEEK, "7 days")):
        for time_zone in ("UTC", "Etc/UTC"):
            built = build(orders(bucket=period), models, time_zone=time_zone, allow_rollups=False)
            assert f"date_bin(interval '{stride}', t.\"created_at\"" in built.sql
            assert "date_trunc" not in built.sql
    assert datetime.date(1900, 1, 1).weekday() == 0  # the origin is a Monday


def test_buckets_follow_the_time_zone(models: dict[str, ObjectModel]) -> None:
    day = build(
        orders(bucket=q.Period.DAY), models, time_zone="America/New_York", allow_rollups=False
    )
    assert re.search(r"date_trunc\('day', t\.\"created_at\", \$\d+::text\)", day.sql)
    assert "America/New_York" in day.params
    week = build(orders(bucket=q.Period.WEEK), models, time_zone="Europe/Berlin")
    assert "date_trunc('week'" in week.sql
    month = build(orders(bucket=q.Period.MONTH), models)
    assert "date_trunc('month'" in month.sql
    hour = build(orders(bucket=q.Period.HOUR), models, time_zone="Asia/Kolkata")
    assert "date_bin(interval '1 hour'" in hour.sql
    origin = next(
        p
        for p in hour.params
        if isinstance(p, datetime.datetime) and p.utcoffset() != datetime.timedelta(0)
    )
    # Kolkata is UTC+5:30: its hours start at :30 UTC.
    assert origin.astimezone(UTC).minute == 30
    with pytest.raises(InvalidArgument) as bad_zone:
        build(orders(), models, time_zone="Mars/Olympus")
    assert bad_zone.value.violations[0].field == "time_zone"


def test_date_time_fields_compare_dates(models: dict[str, ObjectModel]) -> None:
    noon = datetime.datetime(2024, 3, 1, 12, tzinfo=UTC)
    query = q.AggregateQuery(
        "i", "INVOICE", q.TimeRange(noon, END), (count(),), bucket=q.Period.DAY
    )
    statement = build(query, models, time_zone="Europe/Berlin", allow_rollups=False)
    # Invoices issued on 1 March start before noon: the range starts with 2 March.
    assert datetime.date(2024, 3, 2) in statement.params
    # ...and ends after 1 April: its Berlin midnight is 31 March 22:00 UTC, before the end.
    assert datetime.date(2024, 4, 2) in statement.params
    assert '(t."issue_date"::timestamp AT TIME ZONE $' in statement.sql


def test_max_groups_and_row_limit(models: dict[str, ObjectModel]) -> None:
    statement = build(
        orders(group_by=(q.Dimension("region", field("region")),), bucket=q.Period.DAY),
        models,
        max_groups=3,
        row_limit=10,
    )
    assert (
        "row_number() OVER (PARTITION BY g.bucket_start ORDER BY g.row_count DESC" in statement.sql
    )
    assert statement.max_groups == 3 and 3 in statement.params and 11 in statement.params
    assert build(orders(), models, max_groups=3).max_groups == 0  # nothing to cut without groups


# -- the rollup decision table ----------------------------------------------------------------

web = q.Compare(field("channel"), q.Comparator.EQ, q.Literal("web"))
same_dims = q.Compare(field("channel"), q.Comparator.NE, field("status"))

ROLLUP_CASES: list[tuple[str, q.AggregateQuery, dict[str, object], str | None]] = [
    (
        "count, sum, avg of required fields",
        orders(
            count(),
            q.Measure("s", q.AggregateFunction.SUM, field("order_value"), web),
            q.Measure("a", q.AggregateFunction.AVG, field("order_value")),
            group_by=(
                q.Dimension("ch", field("channel")),
                q.Dimension("full", field("delivered_in_full")),
            ),
            bucket=q.Period.MINUTE,
            row_filter=q.AnyOf(
                (q.InList(field("status"), ("open",)), q.Not(q.IsNull(field("delivered_in_full"))))
            ),
        ),
        {},
        None,
    ),
    ("dimension compared with dimension", orders(count("n", same_dims)), {}, None),
    (
        "every bucket period",
        orders(bucket=q.Period.MONTH),
        {"time_zone": "Australia/Adelaide"},
        None,
    ),
    ("disabled by the caller", orders(), {"allow_rollups": False}, "disabled"),
    ("another time field", orders(time_field="promised_at"), {}, "time field"),
    (
        "range not on whole minutes",
        orders(time_range=q.TimeRange(START + datetime.timedelta(seconds=30), END)),
        {},
        "whole minutes",
    ),
    (
        "min",
        orders(q.Measure("m", q.AggregateFunction.MIN, field("order_value"))),
        {},
        "only COUNT(*)",
    ),
    (
        "count of a field",
        orders(q.Measure("m", q.AggregateFunction.COUNT, field("delivered_at"))),
        {},
        "only COUNT(*)",
    ),
    (
        "count distinct in a series",
        orders(
            q.Measure("m", q.AggregateFunction.COUNT_DISTINCT, field("customer_id")),
            bucket=q.Period.DAY,
        ),
        {},
        "only COUNT(*)",
    ),
    (
        # Counted apart from the raw rows (the test above); the rest of the total may roll up.
        "count distinct in a total",
        orders(count(), q.Measure("m", q.AggregateFunction.COUNT_DISTINCT, field("customer_id"))),
        {},
        None,
    ),
    (
        "percentile",
        orders(
            q.Measure("m", q.AggregateFunction.PERCENTILE, field("order_value"), percentile=0.5)
        ),
        {},
        "only COUNT(*)",
    ),
    (
        "sum of a duration",
        orders(
            q.Measure(
                "m",
                q.AggregateFunction.SUM,
                q.Duration(field("promised_at"), field("delivered_at"), q.DurationUnit.DAYS),
            )
        ),
        {},
        "plain field",
    ),
    (
        "sum and average of a derived duration",
        orders(
            q.Measure("s", q.AggregateFunction.SUM, FULFILLMENT_DAYS),
            q.Measure("a", q.AggregateFunction.AVG, FULFILLMENT_DAYS, DELIVERED),
        ),
        {},
        None,
    ),
    (
        "the derived duration's fields the other way round",
        orders(
            q.Measure(
                "a",
                q.AggregateFunction.AVG,
                q.Duration(field("delivered_at"), field("created_at"), q.DurationUnit.DAYS),
            )
        ),
        {},
        "plain field",
    ),
    (
        "maximum of a derived duration",
        orders(q.Measure("x", q.AggregateFunction.MAX, FULFILLMENT_DAYS)),
        {},
        "only COUNT(*)",
    ),
    (
        "sum of a related field",
        q.AggregateQuery(
            "l",
            "ORDER_LINE",
            RANGE,
            (q.Measure("m", q.AggregateFunction.SUM, field("order_value", "order")),),
        ),
        {},
        "plain field",
    ),
    (
        "filter on a non-dimension field",
        orders(count("n", q.Compare(field("region"), q.Comparator.EQ, q.Literal("EU")))),
        {},
        "filter",
    ),
    (
        "filter on a related field",
        orders(
            count("n", q.Compare(field("segment", "customer"), q.Comparator.EQ, q.Literal("x")))
        ),
        {},
        "filter",
    ),
    (
        "filter on a one-to-many path",
        orders(
            count("n", q.Compare(field("status", "shipments"), q.Comparator.EQ, q.Literal("x")))
        ),
        {},
        "filter",
    ),
    (
        "group by a non-dimension",
        orders(group_by=(q.Dimension("r", field("region")),)),
        {},
        "group-by",
    ),
    (
        "row filter on a non-dimension",
        orders(row_filter=q.Compare(field("order_value"), q.Comparator.GT, q.Literal(1))),
        {},
        "row filter",
    ),
    (
        "date-placed model in UTC",
        q.AggregateQuery("i", "INVOICE", RANGE, (count(),), bucket=q.Period.DAY),
        {},
        None,
    ),
    (
        "date-placed model elsewhere",
        q.AggregateQuery("i", "INVOICE", RANGE, (count(),), bucket=q.Period.DAY),
        {"time_zone": "Europe/London"},
        "date",
    ),
]


@pytest.mark.parametrize(
    ("case", "query", "options", "refusal"), ROLLUP_CASES, ids=[c[0] for c in ROLLUP_CASES]
)
def test_rollup_decision(
    models: dict[str, ObjectModel],
    case: str,
    query: q.AggregateQuery,
    options: dict[str, object],
    refusal: str | None,
) -> None:
    statement = build(query, models, **options)
    if refusal is None:
        assert statement.used_rollups, statement.rollup_refusal
        assert f'__{statement.rollup_level}" AS t' in statement.sql
    else:
        assert not statement.used_rollups
        assert statement.rollup_refusal is not None and refusal in statement.rollup_refusal
        assert statement.rollup_level is None
        assert "__minute" not in statement.sql and "__hour" not in statement.sql


HOUR_CASES = [
    ("total over whole hours", {}, {}, "hour"),
    ("days in UTC", {"bucket": q.Period.DAY}, {}, "hour"),
    ("hours in UTC", {"bucket": q.Period.HOUR}, {}, "hour"),
    ("months in a zone with DST", {"bucket": q.Period.MONTH}, {"time_zone": "Europe/Berlin"},
     "hour"),
    ("minutes", {"bucket": q.Period.MINUTE}, {}, "minute"),
    ("days in a zone offset by half an hour", {"bucket": q.Period.DAY},
     {"time_zone": "Asia/Kolkata"}, "minute"),
    # Summer time at +11 until 7 April 2024, then standard time at +10:30.
    ("days in summer time at whole hours", {"bucket": q.Period.DAY},
     {"time_zone": "Australia/Lord_Howe"}, "hour"),
    ("days reaching into standard time at half hours",
     {"bucket": q.Period.DAY, "time_range": q.TimeRange(START, END + datetime.timedelta(days=7))},
     {"time_zone": "Australia/Lord_Howe"}, "minute"),
    ("a range starting mid-hour",
     {"time_range": q.TimeRange(START + datetime.timedelta(minutes=30), END)}, {}, "minute"),
    ("a range ending mid-hour",
     {"time_range": q.TimeRange(START, END - datetime.timedelta(minutes=1))}, {}, "minute"),
]


@pytest.mark.parametrize(
    ("case", "changes", "options", "level"), HOUR_CASES, ids=[c[0] for c in HOUR_CASES]
)
def test_whole_hour_reads_use_the_hour_rollup(
    models: dict[str, ObjectModel],
    case: str,
    changes: dict[str, object],
    options: dict[str, object],
    level: str,
) -> None:
    statement = build(orders(**changes), models, **options)
    assert statement.rollup_level == level
    assert f'"scor_data"."orders__{level}" AS t' in statement.sql


def test_avg_of_a_nullable_numeric_field_never_uses_rollups() -> None:
    # Today every numeric catalog field is required; a nullable one must still be refused.
    from services.catalog.domain import Field, FieldType

    model = ObjectModel(
        code="M",
        name="M",
        description="",
        schema_name="s",
        table_name="m",
        time_field="at",
        fields=(
            Field("at", FieldType.TIMESTAMP, "", required=True),
            Field("x", FieldType.DECIMAL, ""),
        ),
        relationships=(),
        value_chain_codes=(),
    )
    for function in (q.AggregateFunction.AVG, q.AggregateFunction.SUM):
        query = q.AggregateQuery("m", "M", RANGE, (q.Measure("a", function, field("x")),))
        statement = build(query, {"M": model})
        assert not statement.used_rollups
        assert statement.rollup_refusal is not None and "may be absent" in statement.rollup_refusal


def test_rollup_avg_is_sum_over_row_count(models: dict[str, ObjectModel]) -> None:
    statement = build(
        orders(q.Measure("a", q.AggregateFunction.AVG, field("order_value"), web)), models
    )
    assert statement.used_rollups
    assert re.search(
        r'sum\(t\."sum__order_value"\) FILTER \(WHERE .*\) / NULLIF\(sum\(t\.row_count\) FILTER',
        statement.sql,
    )
    assert 't."bucket" >= $' in statement.sql


def test_a_derived_duration_is_read_from_its_stored_seconds(
    models: dict[str, ObjectModel],
) -> None:
    """Raw rows and rollups alike divide the summed seconds once: the same arithmetic, so the two
    agree to the last digit; the rollups count the rows that have a duration."""
    measures = (
        q.Measure("s", q.AggregateFunction.SUM, FULFILLMENT_DAYS),
        q.Measure("a", q.AggregateFunction.AVG, FULFILLMENT_DAYS, DELIVERED),
    )
    raw = build(orders(*measures), models, allow_rollups=False)
    assert 'sum(t."fulfillment_seconds") / 86400' in raw.sql
    assert 'avg(t."fulfillment_seconds") FILTER (WHERE (t."status" = $' in raw.sql
    assert "extract(epoch" not in raw.sql
    rolled = build(orders(*measures), models)
    assert rolled.used_rollups
    assert 'sum(t."count__fulfillment_seconds") > 0 THEN sum(t."sum__fulfillment_seconds")' in (
        rolled.sql
    )
    assert re.search(
        r'sum\(t."sum__fulfillment_seconds"\) FILTER \(WHERE .*\) / NULLIF\('
        r'sum\(t."count__fulfillment_seconds"\) FILTER \(WHERE .*\), 0\) / 86400',
        rolled.sql,
    )


def payments(*measures: q.Measure, **changes: object) -> q.AggregateQuery:
    query = q.AggregateQuery("q", "PAYMENT", RANGE, measures)
    return q.AggregateQuery(**{**query.__dict__, **changes})  # type: ignore[arg-type]


# PAYMENT carries its invoice's dates; its derived flag and weighted durations read the copies.
ON_TIME = q.Compare(field("value_date"), q.Comparator.LE, field("due_date", "invoice"))
DAYS_TO_COLLECT = q.Duration(field("issue_date", "invoice"), field("value_date"),
                             q.DurationUnit.DAYS)


def test_a_weighted_duration_over_copies_is_read_from_its_stored_sums(
    models: dict[str, ObjectModel],
) -> None:
    weighted = q.Arithmetic(q.ArithmeticOperator.MULTIPLY, field("amount"), DAYS_TO_COLLECT)
    mirrored = q.Arithmetic(q.ArithmeticOperator.MULTIPLY, DAYS_TO_COLLECT, field("amount"))
    for argument in (weighted, mirrored):
        measure = q.Measure("w", q.AggregateFunction.SUM, argument)
        rolled = build(payments(measure, bucket=q.Period.DAY), models)
        assert rolled.used_rollups, rolled.rollup_refusal
        assert 'sum(t."sum__amount_seconds_to_collect")' in rolled.sql
        raw = build(payments(measure), models, allow_rollups=False)
        assert 'sum(t."amount_seconds_to_collect") / 86400' in raw.sql
        assert "JOIN" not in raw.sql.upper().replace("JOIN GENERATE_SERIES", "")
    # Weighted by another field, or not a declared pair: computed from the rows as written.
    other = q.Arithmetic(q.ArithmeticOperator.MULTIPLY, field("amount"), q.Duration(
        field("issue_date", "invoice"), field("received_at"), q.DurationUnit.DAYS))
    statement = build(payments(q.Measure("w", q.AggregateFunction.SUM, other)), models)
    assert not statement.used_rollups and "amount_seconds_to_collect" not in statement.sql


def test_a_comparison_with_a_copy_reads_the_derived_flag(models: dict[str, ObjectModel]) -> None:
    for condition in (ON_TIME, q.Not(ON_TIME), q.Compare(
            field("due_date", "invoice"), q.Comparator.GE, field("value_date"))):
        measure = q.Measure("s", q.AggregateFunction.SUM, field("amount"), condition)
        rolled = build(payments(measure, bucket=q.Period.DAY), models)
        assert rolled.used_rollups, rolled.rollup_refusal
        assert 't."collected_on_time"' in rolled.sql
        raw = build(payments(measure), models, allow_rollups=False)
        assert 't."collected_on_time"' in raw.sql and "invoices" not in raw.sql


def test_durations_between_two_dates_are_whole_days_in_every_zone(
    models: dict[str, ObjectModel],
) -> None:
    days = q.Duration(field("invoice_date"), field("paid_date"), q.DurationUnit.DAYS)
    query = q.AggregateQuery("q", "AP_INVOICE", RANGE,
                             (q.Measure("d", q.AggregateFunction.AVG, days),))
    statement = build(query, models, time_zone="Europe/Berlin")
    assert '((t."paid_date" - t."invoice_date") * 86400)::numeric' in statement.sql
    assert "AT TIME ZONE" not in statement.sql.split("FROM")[0]
