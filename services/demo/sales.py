"""The sales organisation, its opportunities and its quotas."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterator
from typing import Any

from services.demo import names, randomness
from services.demo.calendar import midnight, month_end, month_starts
from services.demo.world_base import WorldBase

Record = dict[str, Any]
WIN_RATE = 0.275
# Opportunities are created up to this many days before the range so that deals closing early in
# the range exist (the median sales cycle is about seven weeks).
_LOOKBACK_DAYS = 180
_AMOUNT_MEDIAN = {"enterprise": 60_000.0, "mid_market": 20_000.0, "smb": 6_000.0,
                  "consumer": 3_000.0}
_AMOUNT_SIGMA = 0.5
_CYCLE_MEDIAN_DAYS = 44.0
_CYCLE_SIGMA = 0.5
_SOURCE = randomness.WeightedChoice(("inbound", "outbound", "partner", "expansion"),
                                   (35, 30, 15, 20))
_OPEN_STAGES = ("prospecting", "qualification", "proposal", "negotiation")


def sales_reps(world: WorldBase) -> Iterator[Record]:
    for rep in world.reference.sales_reps:
        record = rep._asdict()
        del record["carries_quota"]
        yield record


def opportunities(world: WorldBase) -> Iterator[Record]:
    spec = world.spec
    calendar = world.calendar
    owners = world.reference.account_owners
    first, last = calendar.days[0], calendar.days[-1]
    for offset in range(-_LOOKBACK_DAYS, len(calendar.days)):
        day = first + datetime.timedelta(days=offset)
        rng = randomness.stream(spec.seed, spec.client_id, "opportunities", day.isoformat())
        share = 1.0 if offset < 0 else calendar.fraction_in_range(day)
        expected = world.volumes.opportunities_per_day * calendar.activity(day) * share
        for number in range(randomness.count(rng, expected)):
            created = midnight(day) + datetime.timedelta(hours=rng.uniform(7, 20))
            if offset >= 0:
                created = calendar.moment(rng, day)
            created = created.replace(microsecond=0)
            customer_id, segment, _ = world.pick_customer(rng, day)
            dollars = round(_AMOUNT_MEDIAN[segment] * rng.lognormvariate(0, _AMOUNT_SIGMA), -2)
            cycle = rng.lognormvariate(math.log(_CYCLE_MEDIAN_DAYS), _CYCLE_SIGMA)
            won = rng.random() < WIN_RATE
            closes = (created + datetime.timedelta(days=cycle)).date()
            # Quarter-end push: deals due shortly after a quarter end close in its last days.
            if closes.month in (1, 4, 7, 10) and closes.day <= 5 and rng.random() < 0.5:
                closes = closes.replace(day=1) - datetime.timedelta(days=rng.randint(0, 3))
                closes = max(closes, created.date())
            owner = owners[rng.randrange(len(owners))].sales_rep_id
            source = _SOURCE(rng)
            product_line = names.PRODUCT_LINES[rng.randrange(len(names.PRODUCT_LINES))]
            slipped_push = rng.randint(3, 45)
            keeps_stale_date = rng.random() < 0.4
            record = {"opportunity_id": f"OPP-{day:%y%m%d}-{number + 1:04d}",
                      "customer_id": customer_id, "owner_id": owner,
                      "amount": randomness.money(int(dollars) * 100), "source": source,
                      "product_line": product_line, "created_at": created}
            if midnight(closes) + datetime.timedelta(hours=17) < spec.end:
                if closes < first:
                    continue  # closed before the range: history the demo does not carry
                yield {**record, "stage": "closed_won" if won else "closed_lost",
                       "close_date": closes}
                continue
            progress = (spec.end - created).total_seconds() / 86_400 / cycle
            stage = _OPEN_STAGES[min(3, int(progress * 4))]
            expected_close = closes
            if expected_close <= last and not keeps_stale_date:
                expected_close = last + datetime.timedelta(days=slipped_push)
            yield {**record, "stage": stage, "close_date": expected_close}


def expected_won_per_month(world: WorldBase) -> float:
    """Expected closed-won amount per month, in dollars, from the opportunity model."""
    mix = {"enterprise": 0.23, "mid_market": 0.23, "smb": 0.33, "consumer": 0.21}
    mean = sum(share * _AMOUNT_MEDIAN[s] for s, share in mix.items())
    mean *= math.exp(_AMOUNT_SIGMA ** 2 / 2)
    return world.volumes.opportunities_per_day * 30.4 * WIN_RATE * mean


def quotas(world: WorldBase) -> Iterator[Record]:
    """One quota per quota-carrying rep per month overlapping the range, set so the team lands
    a little under 100 % on average."""
    spec = world.spec
    carriers = world.reference.account_owners
    if not carriers:
        return
    per_rep = expected_won_per_month(world) / len(carriers) / 0.93
    for month in month_starts(world.calendar.days[0], world.calendar.days[-1]):
        rng = randomness.stream(spec.seed, spec.client_id, "quotas", month.isoformat())
        season = sum(world.calendar.activity(month + datetime.timedelta(days=d))
                     for d in range(28)) / 28
        for rep in carriers:
            amount = round(per_rep * season * rng.uniform(0.8, 1.2), -3)
            yield {"quota_id": f"Q-{month:%Y-%m}-{rep.sales_rep_id}",
                   "sales_rep_id": rep.sales_rep_id, "period_start": month,
                   "period_end": month_end(month), "amount": randomness.money(int(amount) * 100)}

