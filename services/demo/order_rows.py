"""Rows of the order-to-cash models, read off one simulation of the order book.

Orders, their lines, shipments, invoices, payments, returns and survey answers, the ledger's
revenue postings and the weekly demand actuals all derive from the same simulated orders, so the
book is walked once and every model's rows come out of that single walk, tagged with their model.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from services.demo import ledger, names, orders, randomness
from services.demo.calendar import midnight
from services.demo.orders import Invoice, Order, orders_of_day
from services.demo.world import World

Record = dict[str, Any]
# Receivables open when the range starts were issued up to this many days before it.
_OPENING_DAYS = 90
# Opening invoices' size relative to an average order, by segment.
_OPENING_VALUE_FACTOR = {"enterprise": 3.2, "mid_market": 1.1, "smb": 0.35, "consumer": 0.1}

# The models `order_book` produces rows for, the one with the most rows first.
ORDER_BOOK_MODELS = ("ORDER_LINE", "ORDER", "SHIPMENT", "INVOICE", "PAYMENT", "RETURN",
                     "SURVEY_RESPONSE", "GL_ENTRY", "DEMAND_FORECAST")


def order_book(world: World) -> Iterator[tuple[str, Record]]:
    """(object model code, record) for every row of `ORDER_BOOK_MODELS`, simulating each day's
    orders once."""
    money, units = randomness.money, randomness.units
    products = world.reference.orderable
    product_ids = [product.product_id for product in products]
    list_prices = [product.list_price_cents for product in products]
    start = world.spec.start
    postings = ledger.Postings(world.calendar.days[-1])
    actuals = _WeeklyActuals(world)
    for day in world.calendar.days:
        for order in orders_of_day(world, day):
            order_id = order.order_id
            created_at = order.created_at
            yield "ORDER", {
                "order_id": order_id, "customer_id": order.customer_id,
                "channel": order.channel, "region": order.region, "status": order.status,
                "order_value": money(order.value_cents),
                "created_at": created_at, "promised_at": order.promised_at,
                "shipped_at": order.shipped_at, "delivered_at": order.delivered_at,
                "delivered_in_full": order.in_full,
                "delivered_damage_free": order.damage_free,
                "documentation_accurate": order.documentation_accurate}
            for line in order.lines:
                yield "ORDER_LINE", {
                    "order_line_id": f"{order_id}-{line.number}",
                    "order_id": order_id, "line_number": line.number,
                    "product_id": product_ids[line.product_index],
                    "quantity": units(line.quantity),
                    "shipped_quantity": units(line.shipped_quantity),
                    "unit_price": money(line.unit_price_cents),
                    "extended_price": money(line.quantity * line.unit_price_cents),
                    "extended_cost": money(line.quantity * line.unit_cost_cents),
                    "created_at": created_at,
                    "extended_list_price": money(
                        line.quantity * list_prices[line.product_index])}
            for shipment in order.shipments:
                yield "SHIPMENT", {
                    "shipment_id": shipment.shipment_id, "order_id": order_id,
                    "carrier": shipment.carrier, "status": shipment.status,
                    "shipped_at": shipment.shipped_at, "delivered_at": shipment.delivered_at,
                    "freight_cost": money(shipment.freight_cents),
                    "damaged": shipment.damaged}
            if order.invoice is not None:
                yield "INVOICE", _invoice_row(order.invoice, order.customer_id, order_id)
                yield from _payment_rows(order.invoice, start)
                postings.post(order)
            if order.returned is not None:
                returned = order.returned
                yield "RETURN", {
                    "return_id": returned.return_id, "order_id": order_id,
                    "product_id": product_ids[returned.product_index],
                    "quantity": units(returned.quantity), "reason": returned.reason,
                    "status": returned.status, "refund_amount": money(returned.refund_cents),
                    "requested_at": returned.requested_at, "received_at": returned.received_at,
                    "closed_at": returned.closed_at}
            if order.survey is not None:
                survey = order.survey
                yield "SURVEY_RESPONSE", {
                    "response_id": survey.response_id, "customer_id": order.customer_id,
                    "score": survey.score, "channel": survey.channel,
                    "comment": names.survey_comment(survey.score, survey.comment_key),
                    "responded_at": survey.responded_at}
            actuals.count(day, order)
    for invoice, customer_id in opening_receivables(world):
        yield "INVOICE", _invoice_row(invoice, customer_id, None)
        yield from _payment_rows(invoice, start)
    for record in ledger.gl_entries(world, postings):
        yield "GL_ENTRY", record
    for record in actuals.forecast_rows():
        yield "DEMAND_FORECAST", record


def _invoice_row(invoice: Invoice, customer_id: str, order_id: str | None) -> Record:
    return {"invoice_id": invoice.invoice_id, "customer_id": customer_id, "order_id": order_id,
            "status": invoice.status, "amount": randomness.money(invoice.amount_cents),
            "currency": "USD", "issue_date": invoice.issue_date, "due_date": invoice.due_date,
            "paid_date": invoice.paid_date}


def _payment_rows(invoice: Invoice, start: datetime.datetime) -> Iterator[tuple[str, Record]]:
    for payment in invoice.payments:
        if payment.received_at < start:
            continue
        yield "PAYMENT", {"payment_id": payment.payment_id, "invoice_id": invoice.invoice_id,
                          "amount": randomness.money(payment.amount_cents),
                          "method": payment.method, "received_at": payment.received_at,
                          "value_date": payment.received_at.astimezone(datetime.UTC).date()}


def opening_receivables(world: World) -> Iterator[tuple[Invoice, str]]:
    """Invoices issued before the range and still unpaid at its start (no order in the data:
    the orders predate the range), so that days-sales-outstanding is realistic from day one."""
    spec = world.spec
    first = world.calendar.days[0]
    average = world.expected_order_value_cents()
    for offset in range(-_OPENING_DAYS, 0):
        day = first + datetime.timedelta(days=offset)
        rng = randomness.stream(spec.seed, spec.client_id, "opening_receivables", day.isoformat())
        expected = world.volumes.orders_per_day * world.calendar.activity(day) * 0.98
        for number in range(randomness.count(rng, expected)):
            customer_id, segment, region = world.pick_customer(rng, day)
            if segment == "consumer":
                continue  # paid by card at shipment
            mean, deviation = orders.PAYS_LATE_BY[segment]
            days = max(1, int(orders.PAYMENT_TERMS[segment] + rng.gauss(mean, deviation)))
            if day + datetime.timedelta(days=days + 1) < first:
                continue
            value = int(average * _OPENING_VALUE_FACTOR[segment] * rng.lognormvariate(-0.18, 0.6))
            pseudo = Order(f"SO-OB{day:%y%m%d}{number:05d}", customer_id, segment, "edi", region,
                           "delivered", midnight(day), midnight(day), midnight(day) +
                           datetime.timedelta(hours=rng.uniform(8, 18)), None, True, True, True,
                           value, (orders.Line(1, 0, 1, 1, value, 0),), (), None, None, None)
            invoice = orders.invoice_for(world, rng, pseudo)
            if invoice.status == "void":
                continue
            if invoice.paid_date is not None and all(p.received_at < spec.start
                                                     for p in invoice.payments):
                continue
            yield invoice, customer_id


class _WeeklyActuals:
    """Units customers ordered per product in each week wholly inside the range (cancelled
    orders aside), counted as the book is walked, and the forecasts set against them."""

    def __init__(self, world: World) -> None:
        self._world = world
        days = world.calendar.days
        first_monday = days[0] + datetime.timedelta(days=(7 - days[0].weekday()) % 7)
        self._mondays: list[datetime.date] = []
        monday = first_monday
        while monday + datetime.timedelta(days=6) <= days[-1]:
            week = [monday + datetime.timedelta(days=d) for d in range(7)]
            if all(world.calendar.fraction_in_range(d) == 1.0 for d in week):
                self._mondays.append(monday)
            monday += datetime.timedelta(days=7)
        self._units: dict[datetime.date, list[int]] = {}
        self._product_count = len(world.reference.orderable)

    def count(self, day: datetime.date, order: Order) -> None:
        if order.status == "cancelled":
            return
        monday = day - datetime.timedelta(days=day.weekday())
        units = self._units.get(monday)
        if units is None:
            units = self._units[monday] = [0] * self._product_count
        for line in order.lines:
            units[line.product_index] += line.quantity

    def forecast_rows(self) -> Iterator[Record]:
        """Weekly forecast per product; the actual is what customers really ordered that week,
        the forecast is what planning expected four weeks out."""
        world = self._world
        products = world.reference.orderable
        for monday in self._mondays:
            actual = self._units.get(monday, [0] * self._product_count)
            rng = randomness.stream(world.spec.seed, world.spec.client_id, "forecast",
                                    monday.isoformat())
            year, week, _ = monday.isocalendar()
            for index, product in enumerate(products):
                bias = 1.04 + rng.gauss(0, 0.18)
                forecast = max(0, round(actual[index] * bias + rng.gauss(0, 2 + math.sqrt(
                    actual[index]))))
                yield {"forecast_id": f"FC-{year}W{week:02d}-{product.product_id}",
                       "product_id": product.product_id, "period_start": monday,
                       "forecast_quantity": forecast, "actual_quantity": actual[index]}
