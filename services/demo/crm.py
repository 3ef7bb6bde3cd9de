"""Customers, leads, subscriptions, support tickets and marketing spend."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from services.demo import names, randomness
from services.demo.calendar import ONE_DAY
from services.demo.reference import Customer
from services.demo.world_base import LEAD_CONVERSION, WorldBase

Record = dict[str, Any]
# Marketing spend per customer won (customer acquisition cost), in cents.
CAC_TARGET_CENTS = 134_000
_LEAD_SOURCE = {"paid_search": "web", "organic": "web", "referral": "referral", "event": "event",
                "outbound": "outbound", "partner": "partner"}
_PLAN_MRR_CENTS = {"basic": (2_900, 9_900), "professional": (40_000, 150_000),
                   "enterprise": (300_000, 1_200_000)}
_PRIORITIES = ("low", "normal", "high", "urgent")
_FIRST_RESPONSE_HOURS = {"urgent": 0.3, "high": 0.9, "normal": 1.7, "low": 3.5}
_RESOLUTION_HOURS = {"urgent": 6.0, "high": 13.0, "normal": 20.0, "low": 32.0}
_PRIORITY = randomness.WeightedChoice(_PRIORITIES, (30, 45, 18, 7))
_TICKET_CHANNEL = randomness.WeightedChoice(("email", "phone", "chat", "portal"), (35, 20, 30, 15))
_OPEN_LEAD_SOURCE = randomness.WeightedChoice(("web", "event", "referral", "outbound", "partner"),
                                              (45, 12, 13, 20, 10))
_MARKETING_CHANNELS = ("paid_search", "social", "display", "events", "content", "partner")


def customer_row(customer: Customer) -> Record:
    return customer._asdict()


def customers(world: WorldBase) -> Iterator[Record]:
    reference = world.reference
    for index in range(reference.base_customer_count):
        yield customer_row(reference.base_customer(index))
    for day in world.calendar.days:
        for customer, _ in world.new_customers_of_day(day):
            yield customer_row(customer)


def leads(world: WorldBase) -> Iterator[Record]:
    spec = world.spec
    reps = world.reference.account_owners
    for day in world.calendar.days:
        # Leads that became this day's new customers (created up to 40 days earlier).
        for customer, created in world.new_customers_of_day(day):
            if created < spec.start:
                continue
            yield {"lead_id": f"LEAD-{customer.customer_id[5:]}",
                   "source": _LEAD_SOURCE[customer.acquisition_channel], "status": "converted",
                   "owner_id": customer.account_owner_id, "customer_id": customer.customer_id,
                   "created_at": created.replace(microsecond=0),
                   "converted_at": customer.acquired_at}
        # Leads of this day that have not converted (yet): their status depends on their age.
        rng = randomness.stream(spec.seed, spec.client_id, "leads", day.isoformat())
        expected = world.volumes.leads_per_day * (1 - LEAD_CONVERSION)
        expected *= world.calendar.activity(day) * world.calendar.fraction_in_range(day)
        for number in range(randomness.count(rng, expected)):
            created = world.calendar.moment(rng, day)
            age_days = (spec.end - created).total_seconds() / 86_400
            draw = rng.random()
            if age_days > 30:
                status = "disqualified" if draw < 0.85 else ("working" if draw < 0.95 else
                                                             "qualified")
            elif age_days > 7:
                status = "working" if draw < 0.5 else ("qualified" if draw < 0.7 else
                                                       "disqualified")
            else:
                status = "new" if draw < 0.5 else ("working" if draw < 0.9 else "disqualified")
            owned = status not in ("new", "disqualified") or rng.random() < 0.5
            owner = reps[rng.randrange(len(reps))].sales_rep_id if owned and reps else None
            yield {"lead_id": f"LEAD-{day:%y%m%d}-{number + 1:05d}",
                   "source": _OPEN_LEAD_SOURCE(rng),
                   "status": status, "owner_id": owner, "customer_id": None,
                   "created_at": created, "converted_at": None}


def subscriptions(world: WorldBase) -> Iterator[Record]:
    """Annual terms: those ending in the range (renewed or churned) and those running at its
    end (active), for existing subscribers and for customers won in the range."""
    reference = world.reference
    key = randomness.derive_seed(world.spec.seed, world.spec.client_id, "subscriptions")
    first, last = world.calendar.days[0], world.calendar.days[-1]
    for index in range(reference.base_customer_count):
        segment, _ = reference.base_profile(index)
        if randomness.unit(key, 5 * index) >= (0.1 if segment == "consumer" else 0.35):
            continue
        customer = reference.base_customer(index)
        offset = randomness.mix(key, 5 * index + 1) % 365
        term_start = first - datetime.timedelta(days=offset)
        term_start = max(term_start, customer.acquired_at.date())
        yield from _terms(key, index, customer, term_start, last)
    for day in world.calendar.days:
        for customer, _ in world.new_customers_of_day(day):
            serial = int(customer.customer_id[5:11] + customer.customer_id[12:])
            if randomness.unit(key, 5 * serial + 3) < 0.3:
                yield from _terms(key, serial, customer, customer.acquired_at.date(), last)


def _terms(key: int, index: int, customer: Customer, term_start: datetime.date,
           last: datetime.date) -> Iterator[Record]:
    plans = {"enterprise": ("enterprise", "professional"), "mid_market": ("professional", "basic"),
             "smb": ("basic", "professional"), "consumer": ("basic", "basic")}[customer.segment]
    plan = plans[0] if randomness.unit(key, 5 * index + 2) < 0.75 else plans[1]
    low, high = _PLAN_MRR_CENTS[plan]
    mrr = int(low * (high / low) ** randomness.unit(key, 5 * index + 4))
    term = 0
    while True:
        term_end = term_start + datetime.timedelta(days=364)
        record = {"subscription_id": f"SUB-{customer.customer_id[5:]}-{term_start:%y%m%d}",
                  "customer_id": customer.customer_id, "plan": plan,
                  "monthly_recurring_revenue": randomness.money(mrr),
                  "start_date": term_start, "end_date": term_end}
        if term_end > last:
            yield {**record, "status": "active"}
            return
        churned = randomness.unit(key, 1_000_003 * (term + 1) + index) < 0.116
        yield {**record, "status": "churned" if churned else "renewed"}
        if churned:
            return
        term += 1
        term_start = term_end + ONE_DAY
        mrr = int(mrr * 1.05)


def support_tickets(world: WorldBase) -> Iterator[Record]:
    spec = world.spec
    calendar = world.calendar
    for day in calendar.days:
        rng = randomness.stream(spec.seed, spec.client_id, "tickets", day.isoformat())
        outage = day == calendar.anomalies.support_outage_day
        expected = world.volumes.tickets_per_day * calendar.activity(day) * (3 if outage else 1)
        for number in range(randomness.count(rng, expected * calendar.fraction_in_range(day))):
            opened = calendar.moment(rng, day)
            customer_id, _, _ = world.pick_customer(rng, day)
            priority = _PRIORITY(rng)
            wait = _FIRST_RESPONSE_HOURS[priority] * rng.lognormvariate(0, 0.6)
            if outage:
                wait *= 4
            if (opened.hour < 7 or opened.hour >= 21) and priority != "urgent":
                wait += (8 - opened.hour) % 24  # nobody answers before the morning shift
            responded = (opened + datetime.timedelta(hours=wait)).replace(microsecond=0)
            solved = (responded + datetime.timedelta(
                hours=_RESOLUTION_HOURS[priority] * rng.lognormvariate(0, 0.7))).replace(
                microsecond=0)
            contacts = 1 if rng.random() < 0.71 else 2 + int(rng.expovariate(0.8))
            first_response: datetime.datetime | None = responded
            resolved: datetime.datetime | None = solved
            if solved < spec.end:
                status = "closed" if solved + datetime.timedelta(days=3) < spec.end else \
                    "resolved"
            elif responded < spec.end:
                status, resolved = "pending", None
            else:
                status, resolved, first_response = "open", None, None
            channel = _TICKET_CHANNEL(rng)
            yield {"ticket_id": f"TCK-{day:%y%m%d}-{number + 1:05d}", "customer_id": customer_id,
                   "channel": channel,
                   "priority": priority, "status": status, "contact_count": contacts,
                   "opened_at": opened, "first_response_at": first_response,
                   "resolved_at": resolved}


def campaigns(world: WorldBase) -> tuple[tuple[str, str, str, float], ...]:
    """(code, name, channel, share of the budget) for each campaign."""
    rng = randomness.stream(world.spec.seed, world.spec.client_id, "campaigns")
    result = []
    for index in range(world.volumes.campaigns):
        channel = _MARKETING_CHANNELS[index % len(_MARKETING_CHANNELS)]
        theme = names.CAMPAIGN_THEMES[index % len(names.CAMPAIGN_THEMES)]
        result.append((f"C{index + 1:02d}", f"{theme} {index // len(names.CAMPAIGN_THEMES) + 1}",
                       channel, rng.uniform(0.5, 1.5)))
    return tuple(result)


def marketing_spend_of_day(world: WorldBase, day: datetime.date) -> list[Record]:
    spec = world.spec
    rng = randomness.stream(spec.seed, spec.client_id, "marketing", day.isoformat())
    live = campaigns(world)
    budget = CAC_TARGET_CENTS * world.expected_new_customers(day)
    total_share = sum(share for *_, share in live)
    rows = []
    for code, name, channel, share in live:
        amount = budget * share / total_share * rng.uniform(0.7, 1.3)
        if channel == "events":
            # Events are lumpy: nothing most days, a booth or sponsorship now and then.
            amount = amount * 12 if rng.random() < 1 / 12 else 0.0
        cents = int(amount)
        if cents <= 0:
            continue
        rows.append({"spend_id": f"MKT-{day:%Y-%m-%d}-{code}", "campaign": name,
                     "channel": channel, "amount": randomness.money(cents), "spend_date": day})
    return rows


def marketing_spend(world: WorldBase) -> Iterator[Record]:
    for day in world.calendar.days:
        yield from marketing_spend_of_day(world, day)


def lognormal_mean(median: float, sigma: float) -> float:
    return median * math.exp(sigma * sigma / 2)

