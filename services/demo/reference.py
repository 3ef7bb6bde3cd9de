"""Reference data: products, suppliers, locations, the sales organisation and the customers
that existed before the range. Built once per generation from the seed; customer attributes are
derived per index on demand, so even a large customer base costs no memory."""

from __future__ import annotations

import datetime
import random
from typing import NamedTuple

from services.demo import names, randomness
from services.demo.calendar import midnight
from services.demo.spec import DemoSpec, Volumes

SEGMENTS = ("enterprise", "mid_market", "smb", "consumer")
# Customers are indexed so that the biggest accounts come first: index shares by segment.
_SEGMENT_BOUNDS = (0.04, 0.18, 0.60, 1.0)
ACQUISITION_CHANNELS = ("paid_search", "organic", "referral", "event", "outbound", "partner")


class Product(NamedTuple):
    product_id: str
    name: str
    category: str
    unit_cost_cents: int
    list_price_cents: int
    active: bool
    created_at: datetime.datetime
    demand_weight: float  # share of order lines; 0 for inactive products


class Supplier(NamedTuple):
    supplier_id: str
    name: str
    country: str
    category: str
    created_at: datetime.datetime
    lead_time_days: int
    on_time_probability: float


class SalesRep(NamedTuple):
    sales_rep_id: str
    name: str
    team: str
    region: str
    manager_id: str | None
    active: bool
    hired_at: datetime.date
    carries_quota: bool


class Customer(NamedTuple):
    customer_id: str
    name: str
    segment: str
    industry: str | None
    country: str
    region: str
    acquisition_channel: str
    account_owner_id: str | None
    acquired_at: datetime.datetime


def person_name(key: int, index: int) -> str:
    return (f"{randomness.pick(key, 2 * index, names.FIRST_NAMES)} "
            f"{randomness.pick(key, 2 * index + 1, names.LAST_NAMES)}")


def company_name(key: int, index: int) -> str:
    return " ".join((randomness.pick(key, 3 * index, names.COMPANY_PREFIXES),
                     randomness.pick(key, 3 * index + 1, names.COMPANY_NOUNS),
                     randomness.pick(key, 3 * index + 2, names.COMPANY_SUFFIXES)))


class Reference:
    def __init__(self, spec: DemoSpec, volumes: Volumes) -> None:
        self.spec = spec
        self.volumes = volumes
        self.products = _products(spec, volumes.products)
        self.orderable = tuple(p for p in self.products if p.active)
        self.suppliers = _suppliers(spec, volumes.suppliers)
        self.locations = names.LOCATIONS[: volumes.locations]
        self.sales_reps = _sales_reps(spec, volumes.sales_reps)
        self.account_owners = tuple(r for r in self.sales_reps if r.carries_quota and r.active)
        self._customer_key = randomness.derive_seed(spec.seed, spec.client_id, "customers")
        self._country_cumulative = _cumulative([w for _, _, w in names.COUNTRIES])

    # -- customers that existed before the range -------------------------------------------

    @property
    def base_customer_count(self) -> int:
        return self.volumes.base_customers

    def base_customer_id(self, index: int) -> str:
        return f"CUST-{index + 1:06d}"

    def segment_of(self, index: int, count: int) -> str:
        share = index / count
        if share < _SEGMENT_BOUNDS[0]:
            return SEGMENTS[0]
        if share < _SEGMENT_BOUNDS[1]:
            return SEGMENTS[1]
        return SEGMENTS[2] if share < _SEGMENT_BOUNDS[2] else SEGMENTS[3]

    def base_profile(self, index: int) -> tuple[str, str]:
        """(segment, delivery region) of an existing customer, without building the row."""
        return self.segment_of(index, self.base_customer_count), self._region(index)

    def new_customer_profile(self, serial: int) -> tuple[str, str]:
        index = 10_000_000 + serial
        return self._new_segment(index), self._region(index)

    def _new_segment(self, index: int) -> str:
        return SEGMENTS[1 + randomness.mix(self._customer_key, 7 * index + 6) % 3]

    def _country(self, index: int) -> tuple[str, str, int]:
        position = randomness.unit(self._customer_key, 7 * index + 2) * self._country_cumulative[-1]
        return names.COUNTRIES[_bisect(self._country_cumulative, position)]

    def _region(self, index: int) -> str:
        return self._country(index)[1]

    def base_customer(self, index: int) -> Customer:
        key = self._customer_key
        segment = self.segment_of(index, self.base_customer_count)
        days_before = 30 + int(randomness.unit(key, 7 * index) * 6 * 365)
        acquired = midnight(self.spec.first_day) - datetime.timedelta(
            days=days_before, minutes=int(randomness.unit(key, 7 * index + 1) * 600))
        return self._customer(self.base_customer_id(index), index, segment, acquired)

    def new_customer(self, customer_id: str, serial: int, acquired_at: datetime.datetime,
                     channel: str) -> Customer:
        """A customer won in the range (from a converted lead); `serial` keys its attributes."""
        index = 10_000_000 + serial
        segment = self._new_segment(index)
        return self._customer(customer_id, index, segment, acquired_at)._replace(
            acquisition_channel=channel)

    def _customer(self, customer_id: str, index: int, segment: str,
                  acquired_at: datetime.datetime) -> Customer:
        key = self._customer_key
        country, region, _ = self._country(index)
        consumer = segment == "consumer"
        owner = None
        if not consumer and self.account_owners:
            owner = randomness.pick(key, 7 * index + 3, self.account_owners).sales_rep_id
        return Customer(
            customer_id=customer_id,
            name=person_name(key, index) if consumer else company_name(key, index),
            segment=segment,
            industry=None if consumer else randomness.pick(key, 7 * index + 4, names.INDUSTRIES),
            country=country,
            region=region,
            acquisition_channel=randomness.pick(key, 7 * index + 5, ACQUISITION_CHANNELS),
            account_owner_id=owner,
            acquired_at=acquired_at,
        )


def _cumulative(weights: list[int] | list[float]) -> list[float]:
    total = 0.0
    result = []
    for weight in weights:
        total += weight
        result.append(total)
    return result


def _bisect(cumulative: list[float], value: float) -> int:
    low, high = 0, len(cumulative) - 1
    while low < high:
        middle = (low + high) // 2
        if cumulative[middle] <= value:
            low = middle + 1
        else:
            high = middle
    return low


def _products(spec: DemoSpec, count: int) -> tuple[Product, ...]:
    rng = randomness.stream(spec.seed, spec.client_id, "products")
    start = midnight(spec.first_day)
    products = []
    for index in range(count):
        category, low, high, nouns = names.PRODUCT_CATEGORIES[index % len(names.PRODUCT_CATEGORIES)]
        cost = int(low * (high / low) ** rng.random())
        active = rng.random() < 0.93
        products.append(Product(
            product_id=f"SKU-{10_000 + index * 7:05d}",
            name=f"{rng.choice(nouns)} {rng.choice(names.PRODUCT_VARIANTS)} {index % 97 + 1}",
            category=category,
            unit_cost_cents=cost,
            list_price_cents=int(cost * rng.uniform(1.7, 2.1)),
            active=active,
            created_at=start - datetime.timedelta(days=rng.randint(20, 6 * 365), hours=8),
            # A long tail: a few products make most of the volume.
            demand_weight=(1.0 / (index + 4) ** 0.9) if active else 0.0,
        ))
    return tuple(products)


def _suppliers(spec: DemoSpec, count: int) -> tuple[Supplier, ...]:
    rng = randomness.stream(spec.seed, spec.client_id, "suppliers")
    weights = [w for _, w, _ in names.SUPPLIER_COUNTRIES]
    start = midnight(spec.first_day)
    suppliers = []
    for index in range(count):
        country, _, lead_time = rng.choices(names.SUPPLIER_COUNTRIES, weights)[0]
        suppliers.append(Supplier(
            supplier_id=f"SUP-{index + 1:04d}",
            name=f"{rng.choice(names.COMPANY_PREFIXES)} {rng.choice(names.SUPPLIER_NOUNS)}",
            country=country,
            category=rng.choices(names.SUPPLIER_CATEGORIES, (3, 4, 4, 2, 1))[0],
            created_at=start - datetime.timedelta(days=rng.randint(60, 8 * 365)),
            lead_time_days=max(3, int(lead_time * rng.uniform(0.7, 1.3))),
            on_time_probability=rng.uniform(0.78, 0.97),
        ))
    return tuple(suppliers)


def _sales_reps(spec: DemoSpec, count: int) -> tuple[SalesRep, ...]:
    """A four-level organisation: head of sales, regional directors, team managers, reps."""
    rng = randomness.stream(spec.seed, spec.client_id, "sales_reps")
    directors = max(2, count // 40)
    managers = max(3, count // 8)
    reps: list[SalesRep] = []

    def hired(years: float) -> datetime.date:
        return spec.first_day - datetime.timedelta(days=int(rng.uniform(0.2, years) * 365) + 30)

    def add(team: str, region: str, manager: str | None, carries: bool, years: float) -> str:
        rep_id = f"REP-{len(reps) + 1:03d}"
        active = not carries or rng.random() < 0.93
        reps.append(SalesRep(rep_id, _rep_name(rng), team, region, manager, active,
                             hired(years), carries))
        return rep_id

    head = add("leadership", "global", None, False, 9)
    director_ids = [add("leadership", names.SALES_REGIONS[i % len(names.SALES_REGIONS)], head,
                        False, 8) for i in range(directors)]
    manager_teams = []
    for index in range(managers):
        director = director_ids[index % directors]
        region = reps[int(director[4:]) - 1].region
        team = f"{names.SALES_SEGMENTS[index % 3]}_{region}"
        manager_teams.append((add(team, region, director, False, 7), team, region))
    for index in range(max(1, count - len(reps))):
        manager, team, region = manager_teams[index % managers]
        add(team, region, manager, True, 6)
    return tuple(reps)


def _rep_name(rng: random.Random) -> str:
    return f"{rng.choice(names.FIRST_NAMES)} {rng.choice(names.LAST_NAMES)}"
