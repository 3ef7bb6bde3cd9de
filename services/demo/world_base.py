"""The shared state of one generation: spec, volumes, calendar, reference data and the customer
book (existing customers plus those won in the range), built once and read by every model."""

from __future__ import annotations

import datetime
import itertools
import random

from services.demo import names, randomness
from services.demo.calendar import Calendar
from services.demo.reference import Customer, Reference
from services.demo.spec import DemoSpec, Volumes

# Leads convert at about 12 %; new customers per day follow from the lead volume.
LEAD_CONVERSION = 0.12
NEW_CUSTOMER_SHARE = 0.05
_ACQUISITION_CHANNEL = randomness.WeightedChoice(
    ("paid_search", "organic", "referral", "event", "outbound", "partner"),
    (30, 20, 15, 10, 15, 10))


class WorldBase:
    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.volumes = Volumes.for_rows_per_day(spec.rows_per_day)
        self.calendar = Calendar(spec)
        self.reference = Reference(spec, self.volumes)
        self.carriers = names.CARRIERS
        self.demand_cumulative = tuple(
            itertools.accumulate(p.demand_weight for p in self.reference.orderable))
        self.day_index = {day: i for i, day in enumerate(self.calendar.days)}
        self.new_customer_counts = tuple(
            randomness.count(self._new_customer_stream(day), self.expected_new_customers(day))
            for day in self.calendar.days)
        self._pilot_cache: tuple[dict[str, float], float] | None = None

    # -- customers won in the range ----------------------------------------------------------

    def expected_new_customers(self, day: datetime.date) -> float:
        per_day = self.volumes.leads_per_day * LEAD_CONVERSION
        return per_day * self.calendar.activity(day) * self.calendar.fraction_in_range(day)

    def _new_customer_stream(self, day: datetime.date) -> random.Random:
        return randomness.stream(self.spec.seed, self.spec.client_id, "new_customers",
                                 day.isoformat())

    def new_customer_id(self, day: datetime.date, number: int) -> str:
        return f"CUST-{day:%y%m%d}-{number + 1:04d}"

    def new_customers_of_day(self, day: datetime.date) -> list[tuple[Customer, datetime.datetime]]:
        """The customers acquired on `day`, each with the time its lead was created."""
        rng = self._new_customer_stream(day)
        # The same first draws as in __init__, so the stream continues where the count left it.
        count = randomness.count(rng, self.expected_new_customers(day))
        result = []
        serial_base = self.day_index[day] * 100_000
        for number in range(count):
            acquired = self.calendar.moment(rng, day)
            lead_age = datetime.timedelta(days=rng.uniform(2, 40), hours=rng.uniform(0, 8))
            channel = _ACQUISITION_CHANNEL(rng)
            customer = self.reference.new_customer(
                self.new_customer_id(day, number), serial_base + number, acquired, channel)
            result.append((customer, acquired - lead_age))
        return result

    def pick_customer(self, rng: random.Random, day: datetime.date) -> tuple[str, str, str]:
        """(customer_id, segment, region) of a customer who exists before `day` begins; large
        accounts order more often."""
        first = rng.random()
        position = rng.random()
        days_before = self.day_index.get(day, 0)
        if first < NEW_CUSTOMER_SHARE and days_before > 0:
            index = int(position * days_before)
            count = self.new_customer_counts[index]
            if count:
                number = int(first / NEW_CUSTOMER_SHARE * count)
                won_on = self.calendar.days[index]
                segment, region = self.reference.new_customer_profile(index * 100_000 + number)
                return self.new_customer_id(won_on, number), segment, region
        reference = self.reference
        index = int(reference.base_customer_count * position ** 2.2)
        segment, region = reference.base_profile(index)
        return reference.base_customer_id(index), segment, region

    # -- expectations the planning models size themselves by ---------------------------------

    def expected_units_per_day(self) -> dict[str, float]:
        """Expected units ordered per average day, by product id (from a pilot sample of the
        order model itself, so inventory and forecasts match the orders)."""
        return self._pilot()[0]

    def expected_order_value_cents(self) -> float:
        return self._pilot()[1]

    def _pilot(self) -> tuple[dict[str, float], float]:
        if self._pilot_cache is None:
            from services.demo.orders import sample_lines

            rng = randomness.stream(self.spec.seed, self.spec.client_id, "pilot")
            samples = 2_000
            units: dict[str, float] = {}
            value = 0
            for _ in range(samples):
                _, segment, _ = self.pick_customer(rng, self.calendar.days[0])
                for line in sample_lines(self, rng, segment):
                    product_id = self.reference.orderable[line.product_index].product_id
                    units[product_id] = units.get(product_id, 0.0) + line.quantity
                    value += line.quantity * line.unit_price_cents
            scale = self.volumes.orders_per_day / samples
            self._pilot_cache = ({p: u * scale for p, u in units.items()}, value / samples)
        return self._pilot_cache
