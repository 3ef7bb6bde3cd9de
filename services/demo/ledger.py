"""The general ledger: revenue and cost of goods posted from the invoices of each day (gathered
while the order book is walked), and the operating expenses, depreciation, interest and tax a
business of this size books around them."""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from typing import Any

from services.demo import crm, randomness
from services.demo.calendar import month_end
from services.demo.orders import Order
from services.demo.world import World

Record = dict[str, Any]
# Shares of revenue, per month, of the accounts booked on a schedule (besides marketing, which
# is the actual marketing spend of the day).
_OPEX_SHARE = 0.235
# (account code, account name, account type, cost center, share of the scheduled opex budget
#  or of revenue, when it is booked)
_SCHEDULED: tuple[tuple[str, str, str, str | None, float, str], ...] = (
    ("6100", "Salaries - sales", "opex", "CC-SALES", 0.22, "semi_monthly"),
    ("6110", "Salaries - operations", "opex", "CC-OPS", 0.25, "semi_monthly"),
    ("6120", "Salaries - general and administrative", "opex", "CC-GA", 0.15, "semi_monthly"),
    ("6200", "Rent and facilities", "opex", "CC-GA", 0.10, "first"),
    ("6400", "Software and IT", "opex", "CC-IT", 0.10, "daily"),
    ("6500", "Travel", "opex", "CC-SALES", 0.08, "weekdays"),
    ("6600", "Utilities", "opex", "CC-OPS", 0.05, "fifth"),
    ("6900", "Other operating expenses", "opex", "CC-GA", 0.05, "daily"),
)
_BELOW_EBITDA: tuple[tuple[str, str, str, str | None, float], ...] = (
    ("7000", "Depreciation", "depreciation", None, 0.025),
    ("7100", "Amortization of intangibles", "amortization", None, 0.008),
    ("8000", "Interest expense", "interest", None, 0.006),
    ("8100", "Other income", "other_income", None, 0.003),
    ("9000", "Income tax expense", "tax", None, 0.03),
)


class Postings:
    """Revenue, cost of goods and freight of the invoiced orders, by issue day (and region),
    gathered as the order book is walked once."""

    def __init__(self, last_day: datetime.date) -> None:
        self._last_day = last_day
        self.revenue: dict[tuple[datetime.date, str], int] = {}
        self.cogs: dict[tuple[datetime.date, str], int] = {}
        self.freight: dict[datetime.date, int] = {}

    def post(self, order: Order) -> None:
        invoice = order.invoice
        if invoice is None or invoice.status == "void" or invoice.issue_date > self._last_day:
            return
        key = (invoice.issue_date, order.region)
        self.revenue[key] = self.revenue.get(key, 0) + invoice.amount_cents
        self.cogs[key] = self.cogs.get(key, 0) + sum(
            line.shipped_quantity * line.unit_cost_cents for line in order.lines)
        self.freight[invoice.issue_date] = self.freight.get(invoice.issue_date, 0) + sum(
            s.freight_cents for s in order.shipments)


def gl_entries(world: World, postings: Postings) -> Iterator[Record]:
    """The ledger: `postings` of every order in the range, then the scheduled expenses."""
    days = world.calendar.days
    for (day, region), cents in sorted(postings.revenue.items()):
        stamp = f"JE-{day:%Y%m%d}"
        yield _entry(f"{stamp}-REV-{region}", "4000", "Product revenue", "revenue", None, cents,
                     day)
        yield _entry(f"{stamp}-COGS-{region}", "5000", "Cost of goods sold", "cogs", None,
                     postings.cogs[(day, region)], day)
    for day, cents in sorted(postings.freight.items()):
        yield _entry(f"JE-{day:%Y%m%d}-FRT", "5100", "Freight out", "cogs", "CC-OPS", cents, day)

    monthly_revenue = _expected_monthly_revenue(world)
    for day in days:
        rng = randomness.stream(world.spec.seed, world.spec.client_id, "ledger", day.isoformat())
        month_revenue = monthly_revenue[day.replace(day=1)]
        marketing = sum(int(row["amount"] * 100) for row in crm.marketing_spend_of_day(world, day))
        if marketing:
            yield _entry(f"JE-{day:%Y%m%d}-MKT", "6300", "Marketing programs", "opex", "CC-MKT",
                         marketing, day)
        month_days = (month_end(day.replace(day=1)) - day.replace(day=1)).days + 1
        for code, name, kind, center, share, when in _SCHEDULED:
            budget = month_revenue * _OPEX_SHARE * share
            cents = _scheduled_amount(budget, when, day, month_days)
            if cents:
                cents = int(cents * rng.uniform(0.97, 1.03))
                yield _entry(f"JE-{day:%Y%m%d}-{code}", code, name, kind, center, cents, day)
        if day == month_end(day.replace(day=1)):
            for code, name, kind, center, share in _BELOW_EBITDA:
                cents = int(month_revenue * share * rng.uniform(0.95, 1.05))
                yield _entry(f"JE-{day:%Y%m%d}-{code}", code, name, kind, center, cents, day)


def _scheduled_amount(budget: float, when: str, day: datetime.date, month_days: int) -> int:
    if when == "daily":
        return int(budget / month_days)
    if when == "weekdays":
        return int(budget / (month_days * 5 / 7)) if day.weekday() < 5 else 0
    if when == "semi_monthly":
        return int(budget / 2) if day.day == 15 or day == month_end(day.replace(day=1)) else 0
    if when == "first":
        return int(budget) if day.day == 1 else 0
    if when == "fifth":
        return int(budget) if day.day == 5 else 0
    raise ValueError(when)


def _expected_monthly_revenue(world: World) -> dict[datetime.date, float]:
    """Expected revenue (cents) per month overlapping the range, from full months of activity,
    so month-level expenses do not shrink when the range covers only part of a month."""
    average = world.expected_order_value_cents() * world.volumes.orders_per_day
    result: dict[datetime.date, float] = {}
    for day in world.calendar.days:
        month = day.replace(day=1)
        if month in result:
            continue
        total = 0.0
        current = month
        while current.month == month.month:
            total += world.calendar.activity(current) * average
            current += datetime.timedelta(days=1)
        result[month] = total
    return result


def _entry(entry_id: str, code: str, name: str, kind: str, center: str | None, cents: int,
           day: datetime.date) -> Record:
    return {"entry_id": entry_id, "account_code": code, "account_name": name,
            "account_type": kind, "cost_center": center, "amount": randomness.money(cents),
            "posting_date": day}
