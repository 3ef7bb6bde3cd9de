"""The order-to-cash simulation: a day's customer orders with everything that follows from them
(lines, shipments, the invoice and its payments, a return, a survey answer).

All draws for one day come from one seeded stream in a fixed order, so the day's orders are the
same whichever model asks for them; each model's rows are views of these records.
"""

from __future__ import annotations

import bisect
import datetime
import itertools
import math
import random
from typing import NamedTuple

from services.demo import randomness
from services.demo.calendar import ONE_DAY, midnight
from services.demo.world_base import WorldBase

_CHANNELS = ("web", "edi", "sales_rep", "marketplace")
_CHANNEL_WEIGHTS = {
    "enterprise": (10, 60, 30, 0),
    "mid_market": (35, 30, 30, 5),
    "smb": (60, 0, 15, 25),
    "consumer": (70, 0, 0, 30),
}
_CHANNEL_CUMULATIVE = {s: tuple(itertools.accumulate(w)) for s, w in _CHANNEL_WEIGHTS.items()}
_PROMISE_DAYS = {"web": 5, "edi": 6, "sales_rep": 7, "marketplace": 5}
_MAX_LINES = {"enterprise": 8, "mid_market": 5, "smb": 3, "consumer": 2}
_QUANTITY_MEDIAN = {"enterprise": 40.0, "mid_market": 14.0, "smb": 5.0, "consumer": 1.3}
_DISCOUNT = {"enterprise": 0.12, "mid_market": 0.07, "smb": 0.03, "consumer": 0.0}
PAYMENT_TERMS = {"enterprise": 45, "mid_market": 30, "smb": 30, "consumer": 0}
# Days paid after (negative: before) the due date: mean and standard deviation.
PAYS_LATE_BY = {"enterprise": (-1.0, 9.0), "mid_market": (-3.0, 7.0), "smb": (-4.0, 6.0)}
_METHODS = {
    "enterprise": randomness.WeightedChoice(("wire", "ach"), (60, 40)),
    "mid_market": randomness.WeightedChoice(("ach", "wire", "check"), (60, 20, 20)),
    "smb": randomness.WeightedChoice(("ach", "check", "card"), (50, 30, 20)),
    "consumer": randomness.WeightedChoice(("card",), (1,)),
}
_RETURN_REASON = randomness.WeightedChoice(("defective", "wrong_item", "not_needed", "other"),
                                           (35, 20, 35, 10))


class Line(NamedTuple):
    number: int
    product_index: int
    quantity: int
    shipped_quantity: int
    unit_price_cents: int
    unit_cost_cents: int


class Shipment(NamedTuple):
    shipment_id: str
    carrier: str
    status: str
    shipped_at: datetime.datetime
    delivered_at: datetime.datetime | None
    freight_cents: int
    damaged: bool


class Payment(NamedTuple):
    payment_id: str
    amount_cents: int
    method: str
    received_at: datetime.datetime


class Invoice(NamedTuple):
    invoice_id: str
    status: str
    amount_cents: int
    issue_date: datetime.date
    due_date: datetime.date
    paid_date: datetime.date | None
    payments: tuple[Payment, ...]


class Return(NamedTuple):
    return_id: str
    product_index: int
    quantity: int
    reason: str
    status: str
    refund_cents: int
    requested_at: datetime.datetime
    received_at: datetime.datetime | None
    closed_at: datetime.datetime | None


class Survey(NamedTuple):
    response_id: str
    score: int
    channel: str
    comment_key: int
    responded_at: datetime.datetime


class Order(NamedTuple):
    order_id: str
    customer_id: str
    segment: str
    channel: str
    region: str
    status: str
    created_at: datetime.datetime
    promised_at: datetime.datetime
    shipped_at: datetime.datetime | None
    delivered_at: datetime.datetime | None
    in_full: bool | None
    damage_free: bool | None
    documentation_accurate: bool | None
    value_cents: int
    lines: tuple[Line, ...]
    shipments: tuple[Shipment, ...]
    invoice: Invoice | None
    returned: Return | None
    survey: Survey | None


def orders_of_day(world: WorldBase, day: datetime.date) -> list[Order]:
    spec = world.spec
    rng = randomness.stream(spec.seed, spec.client_id, "orders", day.isoformat())
    expected = world.volumes.orders_per_day * world.calendar.activity(day)
    count = randomness.count(rng, expected * world.calendar.fraction_in_range(day))
    stamp = day.strftime("%y%m%d")
    return [_order(world, rng, day, f"SO-{stamp}-{k + 1:06d}") for k in range(count)]


def _order(world: WorldBase, rng: random.Random, day: datetime.date, order_id: str) -> Order:
    calendar = world.calendar
    end = world.spec.end
    created = calendar.moment(rng, day)
    customer_id, segment, region = world.pick_customer(rng, day)
    channel = _CHANNELS[bisect.bisect_right(_CHANNEL_CUMULATIVE[segment],
                                            rng.random() * _CHANNEL_CUMULATIVE[segment][-1])]
    promise_days = _PROMISE_DAYS[channel] + (1 if region.startswith("eu") else 0)
    promised = midnight(created.date()) + datetime.timedelta(days=promise_days, hours=17)

    lines = sample_lines(world, rng, segment)
    value = sum(line.quantity * line.unit_price_cents for line in lines)
    cancelled = rng.random() < 0.015
    short_line = rng.randrange(len(lines)) if rng.random() < 0.024 else -1
    damaged = rng.random() < 0.007
    documents_ok = rng.random() >= 0.011
    late_incident = rng.random() < 0.025

    # Pick and pack: most orders leave the next working day; weekends wait.
    ship_lag = datetime.timedelta(hours=rng.lognormvariate(math.log(18), 0.45))
    shipped = created + ship_lag
    if shipped.weekday() >= 5:
        shipped += datetime.timedelta(days=7 - shipped.weekday(), hours=2)
    transit_days = max(0.4, rng.gauss(1.7, 0.5) + (0.8 if region.startswith("eu") else 0.0))
    if late_incident:
        transit_days += rng.uniform(2.0, 4.0)
    disrupted = calendar.anomalies.disrupted(shipped.date()) and rng.random() < 0.6
    if disrupted:
        transit_days += rng.uniform(2.0, 4.5)
    split = len(lines) > 1 and rng.random() < 0.08
    carrier = world.carriers[rng.randrange(len(world.carriers))]
    freight = int(900 + value * rng.uniform(0.015, 0.035))
    second_gap = datetime.timedelta(hours=rng.uniform(3, 30)) if split else datetime.timedelta()
    tail = rng.random(), rng.random(), rng.random(), rng.random(), rng.random(), rng.random()

    if cancelled:
        lines = tuple(line._replace(shipped_quantity=0) for line in lines)
        return Order(order_id, customer_id, segment, channel, region, "cancelled", created,
                     promised, None, None, None, None, None, value, lines, (), None, None, None)

    shipments = []
    legs: tuple[tuple[datetime.datetime, int], ...] = (
        (shipped, freight if not split else freight // 2),)
    if split:
        legs += ((shipped + second_gap, freight - freight // 2),)
    for number, (leg_shipped, leg_freight) in enumerate(legs, start=1):
        delivered = leg_shipped + datetime.timedelta(days=transit_days * (0.9 + 0.2 * tail[0]))
        delivered = delivered.replace(microsecond=0)
        is_delivered = delivered < end
        status = "delivered" if is_delivered else ("exception" if disrupted else "in_transit")
        shipments.append(Shipment(f"SHP-{order_id[3:]}-{number}", carrier, status,
                                  leg_shipped.replace(microsecond=0),
                                  delivered if is_delivered else None, leg_freight,
                                  damaged and number == 1))
    last_shipped = shipments[-1].shipped_at
    if last_shipped >= end:
        # Not all of it has left the warehouse by the end of the range.
        lines = tuple(line._replace(shipped_quantity=0) for line in lines)
        status = "allocated" if created + datetime.timedelta(hours=2) < end else "open"
        return Order(order_id, customer_id, segment, channel, region, status, created, promised,
                     None, None, None, None, None, value, lines, (), None, None, None)

    if short_line >= 0:
        line = lines[short_line]
        shipped_quantity = int(line.quantity * (0.6 + 0.35 * tail[1]))
        lines = lines[:short_line] + (line._replace(shipped_quantity=shipped_quantity),) + \
            lines[short_line + 1:]
    delivered_at = max((s.delivered_at for s in shipments if s.delivered_at), default=None)
    all_delivered = all(s.delivered_at is not None for s in shipments)
    if not all_delivered:
        delivered_at = None
    order = Order(order_id, customer_id, segment, channel, region,
                  "delivered" if all_delivered else "shipped", created, promised, last_shipped,
                  delivered_at,
                  (short_line < 0) if all_delivered else None,
                  (not damaged) if all_delivered else None,
                  documents_ok if all_delivered else None,
                  value, lines, tuple(shipments), None, None, None)
    invoice = invoice_for(world, rng, order)
    returned = _return(world, rng, order) if all_delivered else None
    survey = _survey(world, rng, order) if all_delivered else None
    return order._replace(invoice=invoice, returned=returned, survey=survey)


def sample_lines(world: WorldBase, rng: random.Random, segment: str) -> tuple[Line, ...]:
    products = world.reference.orderable
    cumulative = world.demand_cumulative
    count = 1 + int(rng.random() ** 1.6 * _MAX_LINES[segment])
    median = _QUANTITY_MEDIAN[segment]
    discount = _DISCOUNT[segment]
    lines = []
    for number in range(1, count + 1):
        index = bisect.bisect_right(cumulative, rng.random() * cumulative[-1])
        product = products[index]
        quantity = max(1, int(rng.lognormvariate(math.log(median), 0.6)))
        price = int(product.list_price_cents * (1 - discount) * rng.uniform(0.97, 1.0))
        lines.append(Line(number, index, quantity, quantity, price, product.unit_cost_cents))
    return tuple(lines)


def invoice_for(world: WorldBase, rng: random.Random, order: Order) -> Invoice:
    end = world.spec.end
    assert order.shipped_at is not None
    amount = sum(line.shipped_quantity * line.unit_price_cents for line in order.lines)
    issue = order.shipped_at.date()
    terms = PAYMENT_TERMS[order.segment]
    due = issue + datetime.timedelta(days=terms)
    invoice_id = f"INV-{order.order_id[3:]}"
    if rng.random() < 0.004:
        return Invoice(invoice_id, "void", amount, issue, due, None, ())
    if order.segment == "consumer":
        days = 0
    else:
        mean, deviation = PAYS_LATE_BY[order.segment]
        days = max(1, int(terms + rng.gauss(mean, deviation)))
        if order.documentation_accurate is False or rng.random() < 0.03:
            days += rng.randint(15, 45)  # disputed invoice
    method = _METHODS[order.segment](rng)
    paid = issue + datetime.timedelta(days=days)
    received = midnight(paid) + datetime.timedelta(hours=rng.uniform(7, 18))
    if order.segment == "consumer":
        received = max(received, order.shipped_at + datetime.timedelta(minutes=5))
    received = received.replace(microsecond=0)
    payments: list[Payment] = []
    partial = order.segment != "consumer" and rng.random() < 0.04
    if partial:
        first = received - datetime.timedelta(days=rng.randint(5, max(6, days - 1)))
        first = max(first, midnight(issue) + datetime.timedelta(hours=9))
        if first < end:
            payments.append(Payment(f"PAY-{order.order_id[3:]}-1", amount // 2, method, first))
    if received < end:
        paid_so_far = sum(p.amount_cents for p in payments)
        payments.append(Payment(f"PAY-{order.order_id[3:]}-{len(payments) + 1}",
                                amount - paid_so_far, method, received))
        return Invoice(invoice_id, "paid", amount, issue, due, paid, tuple(payments))
    status = "overdue" if due < (end - ONE_DAY).date() else "open"
    return Invoice(invoice_id, status, amount, issue, due, None, tuple(payments))


def _return(world: WorldBase, rng: random.Random, order: Order) -> Return | None:
    end = world.spec.end
    damaged = order.damage_free is False
    if rng.random() >= (0.7 if damaged else 0.15):
        return None
    assert order.delivered_at is not None
    line = order.lines[rng.randrange(len(order.lines))]
    quantity = max(1, int(line.shipped_quantity * rng.uniform(0.2, 1.0)))
    reason = "damaged" if damaged else _RETURN_REASON(rng)
    requested = (order.delivered_at + datetime.timedelta(days=rng.uniform(0.3, 18))).replace(
        microsecond=0)
    received = (requested + datetime.timedelta(days=rng.uniform(2, 7))).replace(microsecond=0)
    closed = (received + datetime.timedelta(days=rng.uniform(0.3, 4))).replace(microsecond=0)
    rejected = rng.random() < 0.07
    if requested >= end:
        return None
    return_id = f"RMA-{order.order_id[3:]}"
    if rejected:
        closed = requested + datetime.timedelta(hours=rng.uniform(2, 30))
        return Return(return_id, line.product_index, quantity, reason, "rejected", 0, requested,
                      None, closed.replace(microsecond=0) if closed < end else None)
    if received >= end:
        return Return(return_id, line.product_index, quantity, reason, "requested", 0, requested,
                      None, None)
    if closed >= end:
        return Return(return_id, line.product_index, quantity, reason, "received", 0, requested,
                      received, None)
    return Return(return_id, line.product_index, quantity, reason, "closed",
                  quantity * line.unit_price_cents, requested, received, closed)


def _survey(world: WorldBase, rng: random.Random, order: Order) -> Survey | None:
    if rng.random() >= 0.06:
        return None
    assert order.delivered_at is not None
    responded = (order.delivered_at + datetime.timedelta(days=rng.uniform(0.1, 4))).replace(
        microsecond=0)
    perfect = bool(order.in_full and order.damage_free and order.documentation_accurate
                   and order.delivered_at <= order.promised_at)
    draw = rng.random()
    if perfect:
        score = 9 + (draw < 0.35) if draw < 0.62 else (7 + (draw < 0.8) if draw < 0.9 else
                                                        int(draw * 70) % 7)
    else:
        score = 9 + (draw < 0.1) if draw < 0.2 else (7 + (draw < 0.35) if draw < 0.5 else
                                                      int(draw * 70) % 7)
    channel = ("email", "in_app", "phone")[int(rng.random() * 3)]
    if responded >= world.spec.end:
        return None
    return Survey(f"NPS-{order.order_id[3:]}", int(score), channel, rng.randrange(1 << 30),
                  responded)
