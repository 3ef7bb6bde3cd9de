"""Purchasing, payables, production, inventory and demand planning."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from services.demo import randomness
from services.demo.calendar import ONE_DAY, midnight
from services.demo.reference import Supplier
from services.demo.world_base import WorldBase

Record = dict[str, Any]
_PO_AMOUNT_MEDIAN = {"raw_material": 25_000.0, "components": 18_000.0,
                     "finished_goods": 30_000.0, "packaging": 5_000.0, "services": 8_000.0}
_AP_TERMS = {"US": 30, "CA": 30, "MX": 45, "DE": 45, "PL": 45, "IT": 60, "CN": 60, "IN": 60,
             "VN": 60, "JP": 45}
# Payables open when the range starts were invoiced up to this many days before it.
_OPENING_DAYS = 90
_WEEKDAY_ONLY = (1.2, 1.2, 1.2, 1.2, 1.2, 0.0, 0.0)


def _po_count(world: WorldBase, rng: Any, day: datetime.date, share: float) -> int:
    expected = world.volumes.purchase_orders_per_day * _WEEKDAY_ONLY[day.weekday()] * share
    return randomness.count(rng, expected)


def purchase_orders_with_invoices(world: WorldBase) -> Iterator[tuple[Record, Record | None]]:
    """Each purchase order of the range with the supplier invoice that followed its receipt."""
    spec = world.spec
    calendar = world.calendar
    suppliers = world.reference.suppliers
    last = calendar.days[-1]
    for day in calendar.days:
        rng = randomness.stream(spec.seed, spec.client_id, "purchase_orders", day.isoformat())
        for number in range(_po_count(world, rng, day, calendar.fraction_in_range(day))):
            supplier = suppliers[rng.randrange(len(suppliers))]
            ordered = calendar.moment(rng, day)
            amount = int(_PO_AMOUNT_MEDIAN[supplier.category] * rng.lognormvariate(0, 0.6) * 100)
            promised = midnight(ordered.date()) + datetime.timedelta(
                days=supplier.lead_time_days, hours=17)
            if rng.random() < supplier.on_time_probability:
                received = promised - datetime.timedelta(hours=rng.uniform(0, 72))
            else:
                received = promised + datetime.timedelta(hours=rng.uniform(24, 240))
            received = max(received, ordered + datetime.timedelta(hours=20)).replace(microsecond=0)
            in_full = rng.random() < 0.95
            cancelled = rng.random() < 0.02
            invoice_lag, pays_late, void = rng.randint(0, 2), rng.gauss(-5, 4), rng.random() < 0.01
            po_id = f"PO-{day:%y%m%d}-{number + 1:04d}"
            record = {"purchase_order_id": po_id, "supplier_id": supplier.supplier_id,
                      "amount": randomness.money(amount), "ordered_at": ordered,
                      "promised_at": promised}
            if cancelled:
                yield {**record, "status": "cancelled", "received_at": None,
                       "received_in_full": None}, None
                continue
            if received >= spec.end:
                yield {**record, "status": "open", "received_at": None,
                       "received_in_full": None}, None
                continue
            invoiced = int(amount if in_full else amount * 0.92)
            invoice_date = received.date() + datetime.timedelta(days=invoice_lag)
            invoice = None
            if invoice_date <= last:
                invoice = _ap_invoice(f"AP-{supplier.supplier_id[4:]}-{po_id[3:]}", supplier,
                                      po_id, invoiced, invoice_date, pays_late, void, last)
            yield {**record, "status": "received", "received_at": received,
                   "received_in_full": in_full}, invoice


def _ap_invoice(invoice_id: str, supplier: Supplier, po_id: str | None, cents: int,
                invoice_date: datetime.date, pays_late: float, void: bool,
                last: datetime.date) -> Record:
    due = invoice_date + datetime.timedelta(days=_AP_TERMS.get(supplier.country, 30))
    paid = due + datetime.timedelta(days=round(pays_late))
    paid = max(paid, invoice_date + ONE_DAY)
    status = "void" if void else ("paid" if paid <= last else "open")
    return {"ap_invoice_id": invoice_id, "supplier_id": supplier.supplier_id,
            "purchase_order_id": po_id, "status": status, "amount": randomness.money(cents),
            "invoice_date": invoice_date, "due_date": due,
            "paid_date": paid if status == "paid" else None}


PURCHASING_MODELS = ("PURCHASE_ORDER", "AP_INVOICE")


def purchasing(world: WorldBase) -> Iterator[tuple[str, Record]]:
    """(object model code, record) for the purchase orders and every supplier invoice, each
    purchase order simulated once: invoices for received purchase orders, invoices without a PO
    (services, utilities), and the payables already open when the range starts (so days-payable
    is realistic from day one)."""
    for order, invoice in purchase_orders_with_invoices(world):
        yield "PURCHASE_ORDER", order
        if invoice is not None:
            yield "AP_INVOICE", invoice
    for invoice in _invoices_without_order(world):
        yield "AP_INVOICE", invoice


def _invoices_without_order(world: WorldBase) -> Iterator[Record]:
    spec = world.spec
    calendar = world.calendar
    suppliers = world.reference.suppliers
    first, last = calendar.days[0], calendar.days[-1]
    for offset in range(-_OPENING_DAYS, len(calendar.days)):
        day = first + datetime.timedelta(days=offset)
        rng = randomness.stream(spec.seed, spec.client_id, "ap_other", day.isoformat())
        opening = offset < 0
        share = 1.0 if opening else calendar.fraction_in_range(day) * 0.3
        for number in range(_po_count(world, rng, day, share)):
            supplier = suppliers[rng.randrange(len(suppliers))]
            amount = int(_PO_AMOUNT_MEDIAN[supplier.category] * rng.lognormvariate(0, 0.6) * 100)
            invoice = _ap_invoice(f"AP-{supplier.supplier_id[4:]}-X{day:%y%m%d}{number:03d}",
                                  supplier, None, amount, day, rng.gauss(-5, 4),
                                  rng.random() < 0.01, last)
            if opening and (invoice["paid_date"] is None or invoice["paid_date"] < first):
                continue  # settled before the range (or void): not an opening payable
            yield invoice


def work_orders(world: WorldBase) -> Iterator[Record]:
    spec = world.spec
    calendar = world.calendar
    products = world.reference.orderable
    cumulative = world.demand_cumulative
    plants = ("PLANT-MEX1", "PLANT-POL2", "PLANT-OH3")
    for day in calendar.days:
        rng = randomness.stream(spec.seed, spec.client_id, "work_orders", day.isoformat())
        expected = world.volumes.work_orders_per_day * (0.3 if day.weekday() == 6 else 1.15)
        for number in range(randomness.count(rng, expected * calendar.fraction_in_range(day))):
            planned_end = calendar.moment(rng, day)
            index = _weighted_index(cumulative, rng.random())
            planned_start = (planned_end - datetime.timedelta(hours=rng.uniform(8, 60)))
            planned_quantity = max(50, int(round(rng.lognormvariate(math.log(600), 0.5), -1)))
            on_time = rng.random() < 0.87
            lateness = -rng.uniform(0, 6) if on_time else rng.uniform(1, 30)
            completed = (planned_end + datetime.timedelta(hours=lateness)).replace(microsecond=0)
            produced = round(planned_quantity * rng.uniform(0.96, 1.03))
            yield_rate = min(1.0, max(0.85, rng.gauss(0.969, 0.012)))
            progress = rng.uniform(0.1, 0.9)
            record = {"work_order_id": f"WO-{day:%y%m%d}-{number + 1:04d}",
                      "product_id": products[index].product_id,
                      "plant": plants[rng.randrange(len(plants))],
                      "planned_start_at": planned_start.replace(microsecond=0),
                      "planned_end_at": planned_end,
                      "planned_quantity": randomness.units(planned_quantity)}
            if rng.random() < 0.02:
                status, completed_at, produced = "cancelled", None, 0
            elif completed < spec.end:
                status, completed_at = "completed", completed
            elif planned_start < spec.end:
                status, completed_at = "in_progress", None
                produced = round(planned_quantity * progress)
            else:
                status, completed_at, produced = "planned", None, 0
            good = math.floor(produced * yield_rate)
            yield {**record, "status": status, "completed_at": completed_at,
                   "produced_quantity": randomness.units(produced),
                   "good_quantity": randomness.units(good)}


def _weighted_index(cumulative: tuple[float, ...], draw: float) -> int:
    import bisect

    return bisect.bisect_right(cumulative, draw * cumulative[-1])


def inventory_snapshots(world: WorldBase) -> Iterator[Record]:
    """End-of-day stock per product and location: a replenishment saw-tooth above safety stock,
    sized from each product's expected demand (about five weeks of cover on average)."""
    reference = world.reference
    key = randomness.derive_seed(world.spec.seed, world.spec.client_id, "inventory")
    units_per_day = world.expected_units_per_day()
    locations = reference.locations
    plans = []
    for p_index, product in enumerate(reference.products):
        for l_index, location in enumerate(locations):
            slot = p_index * len(locations) + l_index
            demand = units_per_day.get(product.product_id, 0.0) / len(locations)
            cycle = 14 + randomness.mix(key, 4 * slot) % 29
            phase = randomness.mix(key, 4 * slot + 1) % cycle
            safety_days = 10 + randomness.unit(key, 4 * slot + 2) * 15
            residual = 20 + randomness.mix(key, 4 * slot + 3) % 180  # slow or obsolete stock
            plans.append((product, location, demand, cycle, phase, safety_days, residual, slot))
    for day in world.calendar.days:
        ordinal = day.toordinal()
        for product, location, demand, cycle, phase, safety_days, residual, slot in plans:
            safety = demand * safety_days
            position = ((ordinal + phase) % cycle) / cycle
            noise = 0.9 + 0.2 * randomness.unit(key, ordinal * 7919 + slot)
            on_hand = round((safety + demand * 2 * cycle * (1 - position)) * noise + residual)
            yield {"snapshot_date": day, "product_id": product.product_id,
                   "location_id": location, "on_hand_quantity": randomness.units(on_hand),
                   "on_hand_value": randomness.money(on_hand * product.unit_cost_cents),
                   "safety_stock_quantity": randomness.units(round(safety + residual / 2))}
