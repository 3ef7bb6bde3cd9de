"""What to generate: the client, the range, the volume and the seed, and how volume scales."""

from __future__ import annotations

import dataclasses
import datetime
import math

MAX_ROWS_PER_DAY = 200_000
MAX_DAYS = 3 * 366


@dataclasses.dataclass(frozen=True)
class DemoSpec:
    """One generation request. `start` is inclusive, `end` exclusive, both timezone-aware.

    `rows_per_day` is the order-of-magnitude volume of the main transactional model: the number of
    customer orders entered on an average day. Every other model scales from it (see `Volumes`).
    """

    client_id: str
    start: datetime.datetime
    end: datetime.datetime
    rows_per_day: int
    seed: int

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id is required")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise ValueError("start and end must be timezone-aware")
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if not 1 <= self.rows_per_day <= MAX_ROWS_PER_DAY:
            raise ValueError(f"rows_per_day must be from 1 to {MAX_ROWS_PER_DAY}")
        if self.end - self.start > datetime.timedelta(days=MAX_DAYS):
            raise ValueError(f"the range must not exceed {MAX_DAYS} days")

    @property
    def first_day(self) -> datetime.date:
        return self.start.astimezone(datetime.UTC).date()

    @property
    def days(self) -> tuple[datetime.date, ...]:
        """Every UTC day that overlaps the range."""
        last = (self.end - datetime.timedelta(microseconds=1)).astimezone(datetime.UTC).date()
        count = (last - self.first_day).days + 1
        return tuple(self.first_day + datetime.timedelta(days=i) for i in range(count))

    @property
    def day_count(self) -> float:
        return (self.end - self.start).total_seconds() / 86_400


@dataclasses.dataclass(frozen=True)
class Volumes:
    """How each model scales with `rows_per_day` (N, orders per average day).

    Transactional models grow linearly with N; reference data grows sub-linearly (a business with
    ten times the orders has more products and customers, but not ten times the sales reps).

    | model              | volume                                                              |
    |--------------------|---------------------------------------------------------------------|
    | ORDER              | N per day (seasonality, weekday pattern, a promotion spike)         |
    | ORDER_LINE         | ~2.6 per order                                                      |
    | SHIPMENT           | ~1.1 per shipped order                                              |
    | RETURN             | ~8% of delivered orders                                             |
    | INVOICE / PAYMENT  | one per shipped order, plus the receivables open at the range start |
    | SURVEY_RESPONSE    | ~6% of delivered orders                                             |
    | SUPPORT_TICKET     | N/12 per day                                                        |
    | LEAD               | N/4 per day; ~11% convert into new CUSTOMER rows                    |
    | MARKETING_SPEND    | one row per live campaign per day (8–40 campaigns)                  |
    | OPPORTUNITY        | N/20 created per day, closing after ~7 weeks                        |
    | QUOTA              | one per quota-carrying rep per month                                |
    | PURCHASE_ORDER     | N/40 per day; AP_INVOICE one per received PO plus open payables     |
    | WORK_ORDER         | N/50 per day                                                        |
    | INVENTORY_SNAPSHOT | products × locations per day                                        |
    | DEMAND_FORECAST    | products per week                                                   |
    | GL_ENTRY           | revenue and COGS per region per day plus ~10 expense lines per day  |
    | PRODUCT            | 40 + N/10, at most 3,000                                            |
    | SUPPLIER           | 15 + products/8                                                     |
    | SALES_REP          | 12 + N/80, at most 400, in a 4-level hierarchy                      |
    | CUSTOMER           | existing base of 300 + 8·N (at most 400,000) plus converted leads   |
    """

    orders_per_day: float
    products: int
    locations: int
    suppliers: int
    sales_reps: int
    base_customers: int
    leads_per_day: float
    tickets_per_day: float
    opportunities_per_day: float
    purchase_orders_per_day: float
    work_orders_per_day: float
    campaigns: int

    @classmethod
    def for_rows_per_day(cls, n: int) -> Volumes:
        products = min(3_000, 40 + n // 10)
        return cls(
            orders_per_day=float(n),
            products=products,
            locations=min(8, 3 + int(math.log10(max(n, 1)))),
            suppliers=15 + products // 8,
            sales_reps=min(400, 12 + n // 80),
            base_customers=min(400_000, 300 + 8 * n),
            leads_per_day=n / 4,
            tickets_per_day=n / 12,
            opportunities_per_day=max(0.5, n / 20),
            purchase_orders_per_day=max(0.5, n / 40),
            work_orders_per_day=max(0.5, n / 50),
            campaigns=min(40, 8 + n // 500),
        )
