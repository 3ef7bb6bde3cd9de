"""The live demo feed: realistic rows for "now", so a new user sees KPIs move.

New records of the models that start a business process (orders, support tickets, leads,
opportunities, purchase orders, work orders) arrive at `rate` per second each; everything that
follows from them (order lines, allocation, shipments and deliveries updating the order,
invoices, ledger postings, payments, returns, survey answers, lead conversions into customers,
pipeline stages, receipts, payables, production progress) follows on the lifecycle's compressed
clock (see `feed_lifecycles`). Rows reference the client's historical demo data of the same seed
and volume (customers, products, reps, suppliers), read from the generator's deterministic world.

The feed is a pure function of (spec, start, clock): arrivals are drawn per whole second of
absolute time from streams seeded by (seed, client, model, second), each new record's whole
timeline is drawn when it arrives, and `advance(now)` returns every transition before `now` in
time order. How the clock is sampled does not change the rows: advancing to t1 then t2 gives the
same events as advancing to t2 at once. Ids carry the second they were created in, so a feed
restarted later never reuses an id, and a feed replayed over the same seconds sends the same rows
(which the store's natural keys make harmless).
"""

from __future__ import annotations

import dataclasses
import datetime
import heapq
import math
import random
from collections.abc import Mapping
from typing import Any, NamedTuple

from services.catalog.domain import ObjectModel
from services.demo import randomness
from services.demo.feed_lifecycles import ORIGINS, FeedWorld, Origin, Transition
from services.demo.spec import MAX_ROWS_PER_DAY

DEFAULT_RATE = 2.0
MAX_RATE = 200.0
# One demo hour per second: an order ships in about 18 s, is delivered in about a minute and
# paid within minutes; a support ticket is answered within seconds.
DEFAULT_SPEEDUP = 3600.0
# A clock that jumps further than this (a laptop waking up) skips the arrivals in between rather
# than sending a burst of them; transitions already drawn still happen.
MAX_GAP = datetime.timedelta(seconds=60)
# Every model the feed can write.
FEED_MODELS: frozenset[str] = frozenset().union(*(origin.writes for origin in ORIGINS))

_SECOND = datetime.timedelta(seconds=1)
_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclasses.dataclass(frozen=True)
class FeedSpec:
    """What to feed. `rows_per_day` is the volume the client's historical demo data was loaded
    with (it decides which customers, products and reps exist); `object_model_codes` limits the
    rows to those models (None: every model the feed knows)."""

    client_id: str
    seed: int = 7
    rate: float = DEFAULT_RATE
    rows_per_day: int = 1_000
    speedup: float = DEFAULT_SPEEDUP
    object_model_codes: frozenset[str] | None = None

    def __post_init__(self) -> None:
        if not self.client_id.strip():
            raise ValueError("client_id is required")
        if not 0 < self.rate <= MAX_RATE:
            raise ValueError(f"rate must be above 0 and at most {MAX_RATE:g} rows/s per model")
        if not 1 <= self.rows_per_day <= MAX_ROWS_PER_DAY:
            raise ValueError(f"rows_per_day must be from 1 to {MAX_ROWS_PER_DAY}")
        if not self.speedup >= 1:
            raise ValueError("speedup must be at least 1")
        unknown = sorted((self.object_model_codes or frozenset()) - FEED_MODELS)
        if unknown:
            raise ValueError(f"the live feed does not write {', '.join(unknown)}; it writes "
                             f"{', '.join(sorted(FEED_MODELS))}")


class FeedEvent(NamedTuple):
    """One row to ingest: a new record, or the new state of a record sent before."""

    at: datetime.datetime
    object_model_code: str
    row: dict[str, Any]


class LiveFeed:
    """Produces the rows of one client's business as time passes. Not thread-safe."""

    def __init__(self, spec: FeedSpec, models: Mapping[str, ObjectModel],
                 start: datetime.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.spec = spec
        wanted = FEED_MODELS if spec.object_model_codes is None else spec.object_model_codes
        self._fields = {code: frozenset(field.name for field in models[code].fields)
                        for code in sorted(wanted) if code in models}
        self.object_model_codes: tuple[str, ...] = tuple(self._fields)
        self._origins = tuple(origin for origin in ORIGINS if origin.writes & self._fields.keys())
        self._world = FeedWorld(spec.client_id, spec.seed, spec.rows_per_day, start, spec.speedup)
        self.start = start
        self._cursor = start
        self._next_second = _second_of(start)
        # (at, record id, step, model, row): ties in time break by record and step, never by
        # the order things were drawn in, so the output does not depend on the clock's ticks.
        self._pending: list[tuple[datetime.datetime, str, int, str, dict[str, Any]]] = []

    @property
    def cursor(self) -> datetime.datetime:
        """Every event before this moment has been returned."""
        return self._cursor

    @property
    def pending_transitions(self) -> int:
        return len(self._pending)

    def advance(self, now: datetime.datetime) -> list[FeedEvent]:
        """Every event in [cursor, now), in time order; the cursor moves to `now`."""
        if now <= self._cursor:
            return []
        if now - self._cursor > MAX_GAP:
            self._cursor = now - MAX_GAP
            self._next_second = max(self._next_second, _second_of(self._cursor))
        while _start_of(self._next_second) < now:
            self._draw_second(self._next_second)
            self._next_second += 1
        events = []
        while self._pending and self._pending[0][0] < now:
            at, _, _, code, row = heapq.heappop(self._pending)
            events.append(FeedEvent(at, code, row))
        self._cursor = now
        return events

    def _draw_second(self, second: int) -> None:
        begins = _start_of(second)
        for origin in self._origins:
            rng = randomness.stream(self.spec.seed, self.spec.client_id, "live",
                                    origin.object_model_code, second)
            offsets = sorted(rng.random() for _ in range(poisson(rng, self.spec.rate)))
            for number, offset in enumerate(offsets):
                at = _milliseconds(begins + offset * _SECOND)
                if at < self._cursor:
                    continue  # before the feed started (or skipped over)
                self._arrive(origin, second, number, at)

    def _arrive(self, origin: Origin, second: int, number: int,
                at: datetime.datetime) -> None:
        begins = _start_of(second)
        stamp = f"{begins:%y%m%d}-L{begins:%H%M%S}{number:03d}"
        rng = randomness.stream(self.spec.seed, self.spec.client_id, "live-record",
                                origin.object_model_code, second, number)
        transitions = origin.lifecycle(self._world, rng, at, stamp)
        record = f"{origin.object_model_code}/{stamp}"
        for step, transition in enumerate(transitions):
            fields = self._fields.get(transition.object_model_code)
            if fields is None:
                continue
            heapq.heappush(self._pending, (transition.at, record, step,
                                           transition.object_model_code,
                                           _project(transition, fields)))


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw: arrivals bunch and thin out as real ones do."""
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit = math.exp(-mean)
    count = 0
    product = rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _project(transition: Transition, fields: frozenset[str]) -> dict[str, Any]:
    # Only the model's fields: a field dropped from the catalog must not fail the whole batch.
    return {name: value for name, value in transition.row.items() if name in fields}


def _second_of(moment: datetime.datetime) -> int:
    return math.floor((moment - _EPOCH).total_seconds())


def _start_of(second: int) -> datetime.datetime:
    return _EPOCH + datetime.timedelta(seconds=second)


def _milliseconds(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)
