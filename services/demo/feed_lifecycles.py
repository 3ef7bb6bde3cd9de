"""What happens to one new record of the live feed, from its creation to its last update.

Each lifecycle draws everything about its record at creation (from its own seeded stream) and
returns the whole timeline: the rows to send and when. Business durations are the generator's
(an order ships after about 18 hours, an enterprise pays after about 45 days), played `speedup`
times faster, so a viewer sees orders ship, deliver and get paid within minutes. A row is sent
again whole when its record changes; its key and time field never change, so the store replaces
the row in place.

References point at rows the historical demo data holds for the same client, seed and volume:
customers of the existing base, active products, quota-carrying reps, suppliers. Orders reuse
the generator's order simulation itself (`orders._order`), so their lines, prices, delays,
invoices, returns and survey answers follow the same rules as the history.
"""

from __future__ import annotations

import datetime
import math
import random
from collections.abc import Callable
from typing import Any, NamedTuple

from services.demo import crm as crm_model
from services.demo import names, orders, randomness
from services.demo import sales as sales_model
from services.demo import supply as supply_model
from services.demo.calendar import midnight
from services.demo.spec import DemoSpec
from services.demo.world import World

Row = dict[str, Any]
# The simulated world runs this long past the feed's start, so every simulated order completes
# (the longest path, a disputed invoice paid late, takes about 100 days).
_HORIZON_DAYS = 400
_TICKET_CLOSED_AFTER_DAYS = 3.0
_OPPORTUNITY_STAGES = ("prospecting", "qualification", "proposal", "negotiation")
_PLANTS = ("PLANT-MEX1", "PLANT-POL2", "PLANT-OH3")


class Transition(NamedTuple):
    """One row to send at `at`: a new record, or the new state of one sent before."""

    at: datetime.datetime
    object_model_code: str
    row: Row


class FeedWorld:
    """The generator's world for the feed's client, seed and volume, and the time compression."""

    def __init__(self, client_id: str, seed: int, rows_per_day: int, start: datetime.datetime,
                 speedup: float) -> None:
        first = midnight(start.astimezone(datetime.UTC).date())
        # The range starts on the feed's day, so every customer picked is one of the base that
        # existed before any range (never one won in a range the history may not cover).
        self.world = World(DemoSpec(client_id, first, first + datetime.timedelta(
            days=_HORIZON_DAYS), rows_per_day, seed))
        self.day = first.date()
        self.speedup = speedup

    @property
    def reference(self) -> Any:
        return self.world.reference


class Timeline:
    """Transitions of one record, with real business durations mapped onto feed time."""

    def __init__(self, world: FeedWorld, at: datetime.datetime,
                 real_origin: datetime.datetime | None = None) -> None:
        self.world = world
        self.at = at
        self.real_origin = real_origin or at
        self.transitions: list[Transition] = []

    def moment(self, real: datetime.datetime) -> datetime.datetime:
        """When a business moment `real` happens in feed time (never before the record began)."""
        elapsed = (real - self.real_origin) / self.world.speedup
        return _milliseconds(self.at + max(elapsed, datetime.timedelta()))

    def after(self, *, days: float = 0.0, hours: float = 0.0) -> datetime.datetime:
        return self.moment(self.real_origin + datetime.timedelta(days=days, hours=hours))

    def add(self, at: datetime.datetime, code: str, row: Row) -> None:
        self.transitions.append(Transition(max(at, self.at), code, dict(row)))


Lifecycle = Callable[[FeedWorld, random.Random, datetime.datetime, str], list[Transition]]


def _milliseconds(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def _money(cents: int) -> Any:
    return randomness.money(cents)


# -- orders: lines, allocation, shipments, invoice, ledger, payments, return, survey -----------


def order_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                    stamp: str) -> list[Transition]:
    order = orders._order(world.world, rng, world.day, f"SO-{stamp}")
    timeline = Timeline(world, at, order.created_at)
    products = world.reference.orderable
    state: Row = {
        "order_id": order.order_id, "customer_id": order.customer_id, "channel": order.channel,
        "region": order.region, "status": "open", "order_value": _money(order.value_cents),
        "created_at": at, "promised_at": timeline.moment(order.promised_at), "shipped_at": None,
        "delivered_at": None, "delivered_in_full": None, "delivered_damage_free": None,
        "documentation_accurate": None,
    }
    timeline.add(at, "ORDER", state)
    lines = {
        line.number: {
            "order_line_id": f"{order.order_id}-{line.number}", "order_id": order.order_id,
            "line_number": line.number, "product_id": products[line.product_index].product_id,
            "quantity": line.quantity, "shipped_quantity": 0,
            "unit_price": _money(line.unit_price_cents),
            "extended_price": _money(line.quantity * line.unit_price_cents),
            "extended_cost": _money(line.quantity * line.unit_cost_cents), "created_at": at,
            "extended_list_price": _money(
                line.quantity * products[line.product_index].list_price_cents),
        }
        for line in order.lines
    }
    for line_row in lines.values():
        timeline.add(at, "ORDER_LINE", line_row)
    if order.status == "cancelled" or not order.shipments or order.shipped_at is None:
        timeline.add(timeline.after(hours=rng.uniform(0.5, 6)), "ORDER",
                     {**state, "status": "cancelled"})
        return timeline.transitions
    shipped = timeline.moment(order.shipped_at)
    allocated = timeline.after(hours=2)
    if allocated < shipped:
        state["status"] = "allocated"
        timeline.add(allocated, "ORDER", state)
    shipments = {}
    for shipment in order.shipments:
        shipments[shipment.shipment_id] = {
            "shipment_id": shipment.shipment_id, "order_id": order.order_id,
            "carrier": shipment.carrier, "status": "in_transit",
            "shipped_at": timeline.moment(shipment.shipped_at), "delivered_at": None,
            "freight_cost": _money(shipment.freight_cents), "damaged": shipment.damaged,
        }
        timeline.add(timeline.moment(shipment.shipped_at), "SHIPMENT",
                     shipments[shipment.shipment_id])
    state.update(status="shipped", shipped_at=shipped)
    timeline.add(shipped, "ORDER", state)
    for line in order.lines:
        lines[line.number]["shipped_quantity"] = line.shipped_quantity
        timeline.add(shipped, "ORDER_LINE", lines[line.number])
    _invoice_and_ledger(timeline, order, shipped)
    for shipment in order.shipments:
        if shipment.delivered_at is not None:
            delivered = timeline.moment(shipment.delivered_at)
            timeline.add(delivered, "SHIPMENT", {**shipments[shipment.shipment_id],
                                                 "status": "delivered",
                                                 "delivered_at": delivered})
    if order.delivered_at is not None:
        state.update(status="delivered", delivered_at=timeline.moment(order.delivered_at),
                     delivered_in_full=order.in_full, delivered_damage_free=order.damage_free,
                     documentation_accurate=order.documentation_accurate)
        timeline.add(state["delivered_at"], "ORDER", state)
    _return(timeline, order)
    _survey(timeline, order)
    return timeline.transitions


def _invoice_and_ledger(timeline: Timeline, order: orders.Order,
                        shipped: datetime.datetime) -> None:
    invoice = order.invoice
    if invoice is None:
        return
    issue = shipped.date()
    row: Row = {
        "invoice_id": invoice.invoice_id, "customer_id": order.customer_id,
        "order_id": order.order_id, "status": "open", "amount": _money(invoice.amount_cents),
        "currency": "USD", "issue_date": issue,
        "due_date": issue + (invoice.due_date - invoice.issue_date), "paid_date": None,
    }
    if invoice.status == "void":
        timeline.add(shipped, "INVOICE", {**row, "status": "void"})
        return
    timeline.add(shipped, "INVOICE", row)
    cogs = sum(line.shipped_quantity * line.unit_cost_cents for line in order.lines)
    freight = sum(shipment.freight_cents for shipment in order.shipments)
    stamp = f"JE-{issue:%Y%m%d}"
    for suffix, code, name, kind, center, cents in (
        ("REV", "4000", "Product revenue", "revenue", None, invoice.amount_cents),
        ("COGS", "5000", "Cost of goods sold", "cogs", None, cogs),
        ("FRT", "5100", "Freight out", "cogs", "CC-OPS", freight),
    ):
        timeline.add(shipped, "GL_ENTRY", {
            "entry_id": f"{stamp}-{suffix}-{invoice.invoice_id}", "account_code": code,
            "account_name": name, "account_type": kind, "cost_center": center,
            "amount": _money(cents), "posting_date": issue,
        })
    last = shipped
    for payment in invoice.payments:
        last = max(timeline.moment(payment.received_at), shipped)
        timeline.add(last, "PAYMENT", {
            "payment_id": payment.payment_id, "invoice_id": invoice.invoice_id,
            "amount": _money(payment.amount_cents), "method": payment.method,
            "received_at": last, "value_date": last.astimezone(datetime.UTC).date(),
        })
    if invoice.status == "paid":
        timeline.add(last, "INVOICE", {**row, "status": "paid", "paid_date": last.date()})


def _return(timeline: Timeline, order: orders.Order) -> None:
    returned = order.returned
    if returned is None:
        return
    requested = timeline.moment(returned.requested_at)
    row: Row = {
        "return_id": returned.return_id, "order_id": order.order_id,
        "product_id": timeline.world.reference.orderable[returned.product_index].product_id,
        "quantity": returned.quantity, "reason": returned.reason, "status": "requested",
        "refund_amount": _money(0), "requested_at": requested, "received_at": None,
        "closed_at": None,
    }
    timeline.add(requested, "RETURN", row)
    if returned.status == "rejected" and returned.closed_at is not None:
        closed = timeline.moment(returned.closed_at)
        timeline.add(closed, "RETURN", {**row, "status": "rejected", "closed_at": closed})
        return
    if returned.received_at is not None:
        row.update(status="received", received_at=timeline.moment(returned.received_at))
        timeline.add(row["received_at"], "RETURN", row)
    if returned.closed_at is not None:
        closed = timeline.moment(returned.closed_at)
        timeline.add(closed, "RETURN", {**row, "status": "closed", "closed_at": closed,
                                        "refund_amount": _money(returned.refund_cents)})


def _survey(timeline: Timeline, order: orders.Order) -> None:
    survey = order.survey
    if survey is None:
        return
    comment = names.survey_comment(survey.score, survey.comment_key)
    responded = timeline.moment(survey.responded_at)
    timeline.add(responded, "SURVEY_RESPONSE", {
        "response_id": survey.response_id, "customer_id": order.customer_id,
        "score": survey.score, "channel": survey.channel, "comment": comment,
        "responded_at": responded,
    })


# -- support tickets ---------------------------------------------------------------------------


def ticket_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                     stamp: str) -> list[Transition]:
    timeline = Timeline(world, at)
    customer_id, _, _ = world.world.pick_customer(rng, world.day)
    priority = rng.choices(crm_model._PRIORITIES, (30, 45, 18, 7))[0]
    wait = crm_model._FIRST_RESPONSE_HOURS[priority] * rng.lognormvariate(0, 0.6)
    solve = crm_model._RESOLUTION_HOURS[priority] * rng.lognormvariate(0, 0.7)
    contacts = 1 if rng.random() < 0.71 else 2 + int(rng.expovariate(0.8))
    row: Row = {
        "ticket_id": f"TCK-{stamp}", "customer_id": customer_id,
        "channel": rng.choices(("email", "phone", "chat", "portal"), (35, 20, 30, 15))[0],
        "priority": priority, "status": "open", "contact_count": 1, "opened_at": at,
        "first_response_at": None, "resolved_at": None,
    }
    timeline.add(at, "SUPPORT_TICKET", row)
    responded = timeline.after(hours=wait)
    row.update(status="pending", first_response_at=responded)
    timeline.add(responded, "SUPPORT_TICKET", row)
    resolved = timeline.after(hours=wait + solve)
    row.update(status="resolved", resolved_at=resolved, contact_count=contacts)
    timeline.add(resolved, "SUPPORT_TICKET", row)
    timeline.add(timeline.after(hours=wait + solve, days=_TICKET_CLOSED_AFTER_DAYS),
                 "SUPPORT_TICKET", {**row, "status": "closed"})
    return timeline.transitions


# -- leads, some of which become customers -----------------------------------------------------


def lead_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                   stamp: str) -> list[Transition]:
    timeline = Timeline(world, at)
    owners = world.reference.account_owners
    channel = rng.choices(("paid_search", "organic", "referral", "event", "outbound", "partner"),
                          (30, 20, 15, 10, 15, 10))[0]
    row: Row = {
        "lead_id": f"LEAD-{stamp}", "source": crm_model._LEAD_SOURCE[channel], "status": "new",
        "owner_id": None, "customer_id": None, "created_at": at, "converted_at": None,
    }
    timeline.add(at, "LEAD", row)
    owner = owners[rng.randrange(len(owners))].sales_rep_id if owners else None
    worked = rng.uniform(2, 48)
    row.update(status="working", owner_id=owner)
    timeline.add(timeline.after(hours=worked), "LEAD", row)
    outcome = rng.random()
    decided = timeline.after(days=rng.uniform(2, 40), hours=worked)
    if outcome < 0.12:
        # Any number keys a new customer's attributes; the stamp's digits are unique per lead.
        serial = int("".join(filter(str.isdigit, stamp)))
        customer = world.reference.new_customer(f"CUST-{stamp}", serial, decided, channel)
        timeline.add(decided, "CUSTOMER", crm_model.customer_row(customer))
        timeline.add(decided, "LEAD", {**row, "status": "converted",
                                       "owner_id": customer.account_owner_id or owner,
                                       "customer_id": customer.customer_id,
                                       "converted_at": decided})
    elif outcome < 0.32:
        timeline.add(decided, "LEAD", {**row, "status": "qualified"})
    else:
        timeline.add(decided, "LEAD", {**row, "status": "disqualified"})
    return timeline.transitions


# -- opportunities through the pipeline --------------------------------------------------------


def opportunity_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                          stamp: str) -> list[Transition]:
    timeline = Timeline(world, at)
    owners = world.reference.account_owners
    customer_id, segment, _ = world.world.pick_customer(rng, world.day)
    dollars = round(sales_model._AMOUNT_MEDIAN[segment]
                    * rng.lognormvariate(0, sales_model._AMOUNT_SIGMA), -2)
    cycle = rng.lognormvariate(math.log(sales_model._CYCLE_MEDIAN_DAYS), sales_model._CYCLE_SIGMA)
    closes = timeline.after(days=cycle)
    row: Row = {
        "opportunity_id": f"OPP-{stamp}", "customer_id": customer_id,
        "owner_id": owners[rng.randrange(len(owners))].sales_rep_id, "stage": "prospecting",
        "amount": _money(int(dollars) * 100),
        "source": rng.choices(("inbound", "outbound", "partner", "expansion"),
                              (35, 30, 15, 20))[0],
        "product_line": names.PRODUCT_LINES[rng.randrange(len(names.PRODUCT_LINES))],
        "created_at": at,
        # The time field, so it never changes: the (compressed) expected close, which is also
        # when the deal closes.
        "close_date": closes.date(),
    }
    won = rng.random() < sales_model.WIN_RATE
    for step, stage in enumerate(_OPPORTUNITY_STAGES):
        timeline.add(timeline.after(days=cycle * step / 4), "OPPORTUNITY", {**row, "stage": stage})
    timeline.add(closes, "OPPORTUNITY", {**row, "stage": "closed_won" if won else "closed_lost"})
    return timeline.transitions


# -- purchasing and payables -------------------------------------------------------------------


def purchase_order_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                             stamp: str) -> list[Transition]:
    timeline = Timeline(world, at)
    suppliers = world.reference.suppliers
    supplier = suppliers[rng.randrange(len(suppliers))]
    cents = int(supply_model._PO_AMOUNT_MEDIAN[supplier.category] * rng.lognormvariate(0, 0.6)
                * 100)
    lead_hours = supplier.lead_time_days * 24
    if rng.random() < supplier.on_time_probability:
        receipt_hours = lead_hours - rng.uniform(0, 72)
    else:
        receipt_hours = lead_hours + rng.uniform(24, 240)
    receipt_hours = max(receipt_hours, 20.0)
    row: Row = {
        "purchase_order_id": f"PO-{stamp}", "supplier_id": supplier.supplier_id,
        "status": "open", "amount": _money(cents), "ordered_at": at,
        "promised_at": timeline.after(hours=lead_hours), "received_at": None,
        "received_in_full": None,
    }
    timeline.add(at, "PURCHASE_ORDER", row)
    if rng.random() < 0.02:
        timeline.add(timeline.after(hours=rng.uniform(1, 48)), "PURCHASE_ORDER",
                     {**row, "status": "cancelled"})
        return timeline.transitions
    in_full = rng.random() < 0.95
    received = timeline.after(hours=receipt_hours)
    timeline.add(received, "PURCHASE_ORDER", {**row, "status": "received",
                                              "received_at": received,
                                              "received_in_full": in_full})
    invoiced = timeline.after(hours=receipt_hours, days=rng.randint(0, 2))
    terms = supply_model._AP_TERMS.get(supplier.country, 30)
    invoice: Row = {
        "ap_invoice_id": f"AP-{supplier.supplier_id[4:]}-{stamp}",
        "supplier_id": supplier.supplier_id, "purchase_order_id": row["purchase_order_id"],
        "status": "open", "amount": _money(cents if in_full else int(cents * 0.92)),
        "invoice_date": invoiced.date(),
        "due_date": invoiced.date() + datetime.timedelta(days=terms), "paid_date": None,
    }
    if rng.random() < 0.01:
        timeline.add(invoiced, "AP_INVOICE", {**invoice, "status": "void"})
        return timeline.transitions
    timeline.add(invoiced, "AP_INVOICE", invoice)
    paid = timeline.after(hours=receipt_hours, days=max(1.0, terms + rng.gauss(-5, 4)))
    timeline.add(paid, "AP_INVOICE", {**invoice, "status": "paid", "paid_date": paid.date()})
    return timeline.transitions


# -- production --------------------------------------------------------------------------------


def work_order_lifecycle(world: FeedWorld, rng: random.Random, at: datetime.datetime,
                         stamp: str) -> list[Transition]:
    timeline = Timeline(world, at)
    products = world.reference.orderable
    cumulative = world.world.demand_cumulative
    product = products[supply_model._weighted_index(cumulative, rng.random())]
    starts_in = rng.uniform(1, 12)
    runs_for = rng.uniform(8, 60)
    planned = max(50, int(round(rng.lognormvariate(math.log(600), 0.5), -1)))
    lateness = -rng.uniform(0, 6) if rng.random() < 0.87 else rng.uniform(1, 30)
    produced = round(planned * rng.uniform(0.96, 1.03))
    yield_rate = min(1.0, max(0.85, rng.gauss(0.969, 0.012)))
    row: Row = {
        "work_order_id": f"WO-{stamp}", "product_id": product.product_id,
        "plant": _PLANTS[rng.randrange(len(_PLANTS))], "status": "planned",
        "planned_start_at": timeline.after(hours=starts_in),
        "planned_end_at": timeline.after(hours=starts_in + runs_for), "completed_at": None,
        "planned_quantity": planned, "produced_quantity": 0, "good_quantity": 0,
    }
    timeline.add(at, "WORK_ORDER", row)
    if rng.random() < 0.02:
        timeline.add(timeline.after(hours=starts_in / 2), "WORK_ORDER",
                     {**row, "status": "cancelled"})
        return timeline.transitions
    halfway = round(planned * rng.uniform(0.3, 0.7))
    timeline.add(row["planned_start_at"], "WORK_ORDER", {
        **row, "status": "in_progress", "produced_quantity": halfway,
        "good_quantity": math.floor(halfway * yield_rate)})
    completed = timeline.after(hours=max(starts_in + 1, starts_in + runs_for + lateness))
    timeline.add(completed, "WORK_ORDER", {
        **row, "status": "completed", "completed_at": completed, "produced_quantity": produced,
        "good_quantity": math.floor(produced * yield_rate)})
    return timeline.transitions


class Origin(NamedTuple):
    """A model whose new records arrive at the feed's rate, and every model its lifecycle
    writes."""

    object_model_code: str
    lifecycle: Lifecycle
    writes: frozenset[str]


ORIGINS: tuple[Origin, ...] = (
    Origin("ORDER", order_lifecycle, frozenset({
        "ORDER", "ORDER_LINE", "SHIPMENT", "INVOICE", "PAYMENT", "GL_ENTRY", "RETURN",
        "SURVEY_RESPONSE"})),
    Origin("SUPPORT_TICKET", ticket_lifecycle, frozenset({"SUPPORT_TICKET"})),
    Origin("LEAD", lead_lifecycle, frozenset({"LEAD", "CUSTOMER"})),
    Origin("OPPORTUNITY", opportunity_lifecycle, frozenset({"OPPORTUNITY"})),
    Origin("PURCHASE_ORDER", purchase_order_lifecycle,
           frozenset({"PURCHASE_ORDER", "AP_INVOICE"})),
    Origin("WORK_ORDER", work_order_lifecycle, frozenset({"WORK_ORDER"})),
)
