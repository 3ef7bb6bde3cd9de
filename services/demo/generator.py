"""`generate`: rows for every catalog object model, lazily, in batches, in declared column order.

Each model has a producer that yields one record (field name -> value) at a time from the shared
`World`; models whose rows come out of one simulation (the order book, purchasing) share a
family producer that yields each record tagged with its model, so the simulation runs once. The
generator projects records onto the model's declared fields, coerces values to the field types,
and cuts the stream into batches. A field the producer does not know (one added to the catalog
later) gets a type-correct value (one of its allowed values when it has any) when it is
required, and stays empty otherwise; a model without a producer gets plain type-correct rows so
that no catalog model is ever left empty.

Batches come model after model. A family streams its first (largest) model's batches as the
simulation makes them and parks the other members' rows in temporary files (see `spool`), which
it replays right after: a load still takes one model at a time, with memory bounded by a batch.
"""

from __future__ import annotations

import datetime
import decimal
import itertools
import logging
import operator
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from services.catalog.domain import Field, FieldType, ObjectModel
from services.demo import crm, order_rows, randomness, sales, supply
from services.demo.spec import DemoSpec
from services.demo.spool import Spool
from services.demo.world import World

logger = logging.getLogger(__name__)

Record = dict[str, Any]
Producer = Callable[[World], Iterator[Record]]
FamilyProducer = Callable[[World], Iterator[tuple[str, Record]]]
DEFAULT_BATCH_SIZE = 5_000


class RowBatch(NamedTuple):
    """Rows of one object model, each a tuple in the order of `columns` (the model's fields)."""

    object_model_code: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


class Family(NamedTuple):
    """Models produced together by one simulation; `models` lists the one with the most rows
    first (it streams, the others are spooled)."""

    models: tuple[str, ...]
    produce: FamilyProducer


def _products(world: World) -> Iterator[Record]:
    for product in world.reference.products:
        record = product._asdict()
        record["unit_cost"] = randomness.money(product.unit_cost_cents)
        record["list_price"] = randomness.money(product.list_price_cents)
        yield record


def _suppliers(world: World) -> Iterator[Record]:
    for supplier in world.reference.suppliers:
        yield supplier._asdict()


PRODUCERS: Mapping[str, Producer] = {
    "PRODUCT": _products,
    "SUPPLIER": _suppliers,
    "INVENTORY_SNAPSHOT": supply.inventory_snapshots,
    "WORK_ORDER": supply.work_orders,
    "CUSTOMER": crm.customers,
    "LEAD": crm.leads,
    "SUBSCRIPTION": crm.subscriptions,
    "SUPPORT_TICKET": crm.support_tickets,
    "MARKETING_SPEND": crm.marketing_spend,
    "SALES_REP": sales.sales_reps,
    "OPPORTUNITY": sales.opportunities,
    "QUOTA": sales.quotas,
}

FAMILIES: tuple[Family, ...] = (
    Family(order_rows.ORDER_BOOK_MODELS, order_rows.order_book),
    Family(supply.PURCHASING_MODELS, supply.purchasing),
)


def generate(
    catalog_models: Iterable[ObjectModel],
    client_id: str,
    start: datetime.datetime,
    end: datetime.datetime,
    rows_per_day: int,
    seed: int,
    *,
    only: Collection[str] | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> Iterator[RowBatch]:
    """Rows for every model in `catalog_models` (or those in `only`), model after model, in
    batches of at most `batch_size` rows. Raises ValueError for an invalid spec."""
    spec = DemoSpec(client_id, start, end, rows_per_day, seed)
    world = World(spec)
    selected = {model.code: model for model in catalog_models
                if only is None or model.code in only}
    family_of = {code: family for family in FAMILIES for code in family.models}
    done: set[str] = set()
    for code, model in selected.items():
        if code in done:
            continue
        family = family_of.get(code)
        if family is not None:
            members = [selected[member] for member in family.models if member in selected]
            done.update(member.code for member in members)
            yield from _family_batches(world, family, members, batch_size)
            continue
        done.add(code)
        producer = PRODUCERS.get(code)
        if producer is None:
            logger.warning("no demo producer for object model %s; generating plain rows", code)
            records = _plain_records(world, model)
        else:
            records = producer(world)
        yield from _batches(model, records, batch_size)


def _batches(model: ObjectModel, records: Iterator[Record], size: int) -> Iterator[RowBatch]:
    columns = tuple(field.name for field in model.fields)
    projection = _Projection(model)
    while batch := list(itertools.islice(records, size)):
        yield RowBatch(model.code, columns, projection.rows(batch))


def _family_batches(world: World, family: Family, members: list[ObjectModel],
                    size: int) -> Iterator[RowBatch]:
    """The batches of `members` (the selected models of `family`) from one run of its
    simulation: the first member's as they come, then each other member's from its spool."""
    streamed = members[0].code
    columns = {model.code: tuple(field.name for field in model.fields) for model in members}
    projections = {model.code: _Projection(model) for model in members}
    pending: dict[str, list[Record]] = {model.code: [] for model in members}
    spools = {model.code: Spool([field.type for field in model.fields])
              for model in members[1:]}
    try:
        for code, record in family.produce(world):
            records = pending.get(code)
            if records is None:
                continue  # a member the request did not select
            records.append(record)
            if len(records) >= size:
                rows = projections[code].rows(records)
                if code == streamed:
                    yield RowBatch(code, columns[code], rows)
                else:
                    spools[code].write(rows)
                pending[code] = []
        if pending[streamed]:
            yield RowBatch(streamed, columns[streamed],
                           projections[streamed].rows(pending[streamed]))
        for code, spool in spools.items():
            if pending[code]:
                spool.write(projections[code].rows(pending[code]))
            for rows in spool.read():
                yield RowBatch(code, columns[code], rows)
            spool.close()
    finally:
        for spool in spools.values():
            spool.close()


class _Projection:
    """Turns records into the model's rows, a batch at a time: one C-level itemgetter per row
    while records carry every field (integers and floats in decimal fields converted),
    per-field getters with fallbacks once a field is missing."""

    def __init__(self, model: ObjectModel) -> None:
        names = [field.name for field in model.fields]
        self._pick = operator.itemgetter(*names)
        self._single = len(names) == 1
        self._decimals = [i for i, field in enumerate(model.fields)
                          if field.type is FieldType.DECIMAL]
        self._getters = [_getter(field, model) for field in model.fields]
        self._complete = True
        self._number = 0  # records projected so far: numbers the fallback values

    def rows(self, records: list[Record]) -> list[tuple[object, ...]]:
        first = self._number
        self._number += len(records)
        if self._complete:
            try:
                picked = list(map(self._pick, records))
            except KeyError:
                self._complete = False
            else:
                rows: list[tuple[object, ...]] = (
                    [(value,) for value in picked] if self._single else picked)
                return self._with_decimals(rows)
        getters = self._getters
        return [tuple(get(record, number) for get in getters)
                for number, record in enumerate(records, first)]

    def _with_decimals(self, rows: list[tuple[object, ...]]) -> list[tuple[object, ...]]:
        """`rows` with integers and floats in decimal fields as Decimal (checked column by
        column in C; rows rebuilt only when a column needs it)."""
        decimals = self._decimals
        if not any(not _NUMBERS.isdisjoint(map(type, map(operator.itemgetter(i), rows)))
                   for i in decimals):
            return rows
        return [tuple(_to_decimal(v) if i in decimals else v for i, v in enumerate(row))
                for row in rows]


def _getter(field: Field, model: ObjectModel) -> Callable[[Record, int], object]:
    name = field.name
    missing = _fallback(field, model)
    if field.type is FieldType.DECIMAL:

        def decimal_value(record: Record, number: int) -> object:
            value = record.get(name, missing)
            return _to_decimal(value(record, number) if callable(value) else value)

        return decimal_value

    def plain_value(record: Record, number: int) -> object:
        value = record.get(name, missing)
        return value(record, number) if callable(value) else value

    return plain_value


_NUMBERS = frozenset((int, float))


def _to_decimal(value: object) -> object:
    """Integers and floats of a decimal field as Decimal (floats by their shortest repr)."""
    if type(value) is int:
        return decimal.Decimal(value)
    if type(value) is float:
        return decimal.Decimal(repr(value))
    return value


def _fallback(field: Field, model: ObjectModel) -> object:
    """The value of a field the producer does not know: empty unless required."""
    if not field.required:
        return None
    if field.allowed_values:
        options = field.allowed_values
        return lambda record, number: options[number % len(options)]
    if field.type is FieldType.STRING:
        prefix = f"{model.code}-{field.name}".upper()
        return lambda record, number: f"{prefix}-{number + 1}"
    time_value = model.time_field
    if field.type is FieldType.TIMESTAMP:
        return lambda record, number: _first_temporal(record, time_value, datetime.datetime)
    if field.type is FieldType.DATE:
        return lambda record, number: _first_temporal(record, time_value, datetime.date)
    return {FieldType.INTEGER: 0, FieldType.DECIMAL: decimal.Decimal(0),
            FieldType.BOOLEAN: False}[field.type]


def _first_temporal(record: Record, time_field: str, kind: type) -> object:
    value = record.get(time_field)
    candidates = [value] + [v for v in record.values() if isinstance(v, datetime.date)]
    for candidate in candidates:
        if isinstance(candidate, datetime.datetime):
            return candidate if kind is datetime.datetime else candidate.date()
        if isinstance(candidate, datetime.date):
            return candidate if kind is datetime.date else datetime.datetime(
                candidate.year, candidate.month, candidate.day, tzinfo=datetime.UTC)
    return None


def _plain_records(world: World, model: ObjectModel) -> Iterator[Record]:
    """Rows for a model the generator has no simulation for: a few per day, time field spread
    over the range, keys unique; other fields come from the fallbacks."""
    spec = world.spec
    time_field = model.field(model.time_field)
    for day in world.calendar.days:
        rng = randomness.stream(spec.seed, spec.client_id, "plain", model.code, day.isoformat())
        expected = max(1.0, spec.rows_per_day / 20) * world.calendar.fraction_in_range(day)
        for number in range(randomness.count(rng, expected)):
            moment = world.calendar.moment(rng, day)
            record: Record = {}
            if time_field is not None:
                record[time_field.name] = moment if time_field.type is FieldType.TIMESTAMP \
                    else moment.date()
            for field in model.fields:
                if field.key and field.type is FieldType.STRING:
                    record[field.name] = f"{model.code}-{day:%y%m%d}-{number + 1:06d}"
            yield record
