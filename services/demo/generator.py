"""`generate`: rows for every catalog object model, lazily, in batches, in declared column order.

Each model has a producer that yields one record (field name -> value) at a time from the shared
`World`; the generator projects records onto the model's declared fields, coerces values to the
field types, and cuts the stream into batches. A field the producer does not know (one added to
the catalog later) gets a type-correct value (one of its allowed values when it has any) when it
is required, and stays empty otherwise; a model without a producer gets plain type-correct rows so
that no catalog model is ever left empty.
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
from services.demo import crm, ledger, order_rows, randomness, sales, supply
from services.demo.spec import DemoSpec
from services.demo.world import World

logger = logging.getLogger(__name__)

Record = dict[str, Any]
Producer = Callable[[World], Iterator[Record]]
DEFAULT_BATCH_SIZE = 5_000


class RowBatch(NamedTuple):
    """Rows of one object model, each a tuple in the order of `columns` (the model's fields)."""

    object_model_code: str
    columns: tuple[str, ...]
    rows: list[tuple[object, ...]]


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
    "ORDER": order_rows.order_rows,
    "ORDER_LINE": order_rows.order_line_rows,
    "SHIPMENT": order_rows.shipment_rows,
    "INVENTORY_SNAPSHOT": supply.inventory_snapshots,
    "DEMAND_FORECAST": order_rows.demand_forecast_rows,
    "PURCHASE_ORDER": supply.purchase_orders,
    "WORK_ORDER": supply.work_orders,
    "RETURN": order_rows.return_rows,
    "CUSTOMER": crm.customers,
    "LEAD": crm.leads,
    "SUBSCRIPTION": crm.subscriptions,
    "SURVEY_RESPONSE": order_rows.survey_rows,
    "SUPPORT_TICKET": crm.support_tickets,
    "MARKETING_SPEND": crm.marketing_spend,
    "SALES_REP": sales.sales_reps,
    "OPPORTUNITY": sales.opportunities,
    "QUOTA": sales.quotas,
    "INVOICE": order_rows.invoice_rows,
    "PAYMENT": order_rows.payment_rows,
    "AP_INVOICE": supply.ap_invoices,
    "GL_ENTRY": ledger.gl_entries,
}


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
    for model in catalog_models:
        if only is not None and model.code not in only:
            continue
        producer = PRODUCERS.get(model.code)
        if producer is None:
            logger.warning("no demo producer for object model %s; generating plain rows",
                           model.code)
            records = _plain_records(world, model)
        else:
            records = producer(world)
        yield from _batches(model, _project(model, records), batch_size)


def _batches(model: ObjectModel, rows: Iterator[tuple[object, ...]],
             size: int) -> Iterator[RowBatch]:
    columns = tuple(field.name for field in model.fields)
    while batch := list(itertools.islice(rows, size)):
        yield RowBatch(model.code, columns, batch)


def _project(model: ObjectModel, records: Iterator[Record]) -> Iterator[tuple[object, ...]]:
    """Fast path while records carry every field (one C-level itemgetter per row, integers in
    decimal fields converted); per-field getters with fallbacks once a field is missing."""
    names = [field.name for field in model.fields]
    pick = operator.itemgetter(*names)
    decimals = [i for i, field in enumerate(model.fields) if field.type is FieldType.DECIMAL]
    getters = [_getter(field, model) for field in model.fields]
    complete = True
    for number, record in enumerate(records):
        if complete:
            try:
                values = pick(record)
            except KeyError:
                complete = False
            else:
                row = values if len(names) > 1 else (values,)
                if any(type(row[i]) in _NUMBERS for i in decimals):
                    row = tuple(_to_decimal(v) if i in decimals else v
                                for i, v in enumerate(row))
                yield row
                continue
        yield tuple(get(record, number) for get in getters)


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


_NUMBERS = (int, float)


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
