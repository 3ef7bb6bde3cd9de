"""Rows of the order-to-cash models, read off the simulated order book."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from services.demo import names, orders, randomness
from services.demo.calendar import midnight
from services.demo.orders import Invoice, Order
from services.demo.world import World

Record = dict[str, Any]
# Receivables open when the range starts were issued up to this many days before it.
_OPENING_DAYS = 90
# Opening invoices' size relative to an average order, by segment.
_OPENING_VALUE_FACTOR = {"enterprise": 3.2, "mid_market": 1.1, "smb": 0.35, "consumer": 0.1}


def _all_orders(world: World) -> Iterator[Order]:
    for day in world.calendar.days:
        yield from world.orders(day)


def order_rows(world: World) -> Iterator[Record]:
    for order in _all_orders(world):
        yield {"order_id": order.order_id, "customer_id": order.customer_id,
               "channel": order.channel, "region": order.region, "status": order.status,
               "order_value": randomness.money(order.value_cents),
               "created_at": order.created_at, "promised_at": order.promised_at,
               "shipped_at": order.shipped_at, "delivered_at": order.delivered_at,
               "delivered_in_full": order.in_full,
               "delivered_damage_free": order.damage_free,
               "documentation_accurate": order.documentation_accurate}


def order_line_rows(world: World) -> Iterator[Record]:
    products = world.reference.orderable
    for order in _all_orders(world):
        for line in order.lines:
            yield {"order_line_id": f"{order.order_id}-{line.number}",
                   "order_id": order.order_id, "line_number": line.number,
                   "product_id": products[line.product_index].product_id,
                   "quantity": line.quantity, "shipped_quantity": line.shipped_quantity,
                   "unit_price": randomness.money(line.unit_price_cents),
                   "extended_price": randomness.money(line.quantity * line.unit_price_cents),
                   "extended_cost": randomness.money(line.quantity * line.unit_cost_cents),
                   "created_at": order.created_at}


def shipment_rows(world: World) -> Iterator[Record]:
    for order in _all_orders(world):
        for shipment in order.shipments:
            yield {"shipment_id": shipment.shipment_id, "order_id": order.order_id,
                   "carrier": shipment.carrier, "status": shipment.status,
                   "shipped_at": shipment.shipped_at, "delivered_at": shipment.delivered_at,
                   "freight_cost": randomness.money(shipment.freight_cents),
                   "damaged": shipment.damaged}


def return_rows(world: World) -> Iterator[Record]:
    products = world.reference.orderable
    for order in _all_orders(world):
        returned = order.returned
        if returned is None:
            continue
        yield {"return_id": returned.return_id, "order_id": order.order_id,
               "product_id": products[returned.product_index].product_id,
               "quantity": returned.quantity, "reason": returned.reason,
               "status": returned.status, "refund_amount": randomness.money(returned.refund_cents),
               "requested_at": returned.requested_at, "received_at": returned.received_at,
               "closed_at": returned.closed_at}


def survey_rows(world: World) -> Iterator[Record]:
    for order in _all_orders(world):
        survey = order.survey
        if survey is None:
            continue
        comment = names.survey_comment(survey.score, survey.comment_key)
        yield {"response_id": survey.response_id, "customer_id": order.customer_id,
               "score": survey.score, "channel": survey.channel, "comment": comment,
               "responded_at": survey.responded_at}


def _invoice_row(invoice: Invoice, customer_id: str, order_id: str | None) -> Record:
    return {"invoice_id": invoice.invoice_id, "customer_id": customer_id, "order_id": order_id,
            "status": invoice.status, "amount": randomness.money(invoice.amount_cents),
            "currency": "USD", "issue_date": invoice.issue_date, "due_date": invoice.due_date,
            "paid_date": invoice.paid_date}


def invoice_rows(world: World) -> Iterator[Record]:
    for order in _all_orders(world):
        if order.invoice is not None:
            yield _invoice_row(order.invoice, order.customer_id, order.order_id)
    for invoice, customer_id in opening_receivables(world):
        yield _invoice_row(invoice, customer_id, None)


def _invoices(world: World) -> Iterator[Invoice]:
    for order in _all_orders(world):
        if order.invoice is not None:
            yield order.invoice
    for invoice, _ in opening_receivables(world):
        yield invoice


def payment_rows(world: World) -> Iterator[Record]:
    start = world.spec.start
    for invoice in _invoices(world):
        for payment in invoice.payments:
            if payment.received_at < start:
                continue
            yield {"payment_id": payment.payment_id, "invoice_id": invoice.invoice_id,
                   "amount": randomness.money(payment.amount_cents), "method": payment.method,
                   "received_at": payment.received_at}


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


def demand_forecast_rows(world: World) -> Iterator[Record]:
    """Weekly forecast per product for the weeks wholly inside the range; the actual is what
    customers really ordered that week, the forecast is what planning expected four weeks out."""
    days = world.calendar.days
    products = world.reference.orderable
    first_monday = days[0] + datetime.timedelta(days=(7 - days[0].weekday()) % 7)
    monday = first_monday
    while monday + datetime.timedelta(days=6) <= days[-1]:
        week_days = [monday + datetime.timedelta(days=d) for d in range(7)]
        if not all(world.calendar.fraction_in_range(d) == 1.0 for d in week_days):
            monday += datetime.timedelta(days=7)
            continue
        actual = [0] * len(products)
        for day in week_days:
            for order in world.orders(day):
                if order.status == "cancelled":
                    continue
                for line in order.lines:
                    actual[line.product_index] += line.quantity
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
        monday += datetime.timedelta(days=7)
