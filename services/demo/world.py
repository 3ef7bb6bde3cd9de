"""The world every model is generated from: the shared base plus the day-by-day order book.

Models that derive from orders (lines, shipments, invoices, payments, returns, surveys, the
ledger, forecasts) each walk the order book; the most recent days are kept in a bounded cache so
small ranges simulate each day once, while large ones recompute instead of holding every order.
"""

from __future__ import annotations

import datetime
import functools

from services.demo.orders import Order, orders_of_day
from services.demo.spec import DemoSpec
from services.demo.world_base import WorldBase

# Orders kept in memory at most (about 2 KB each with their lines, shipments and invoice).
ORDER_CACHE_LIMIT = 150_000


class World(WorldBase):
    def __init__(self, spec: DemoSpec, order_cache_limit: int = ORDER_CACHE_LIMIT) -> None:
        super().__init__(spec)
        per_day = max(1.0, self.volumes.orders_per_day * 1.5)
        days = max(1, int(order_cache_limit / per_day))
        self._orders = functools.lru_cache(maxsize=days)(self._simulate)

    def _simulate(self, day: datetime.date) -> tuple[Order, ...]:
        return tuple(orders_of_day(self, day))

    def orders(self, day: datetime.date) -> tuple[Order, ...]:
        return self._orders(day)
