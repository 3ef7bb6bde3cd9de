"""The world every model is generated from.

The order book is not kept here: the order-to-cash models are produced together from one walk
over each day's simulated orders (see `order_rows.order_book`), so no day is simulated twice and
nothing the size of the range is held in memory.
"""

from __future__ import annotations

from services.demo.world_base import WorldBase


class World(WorldBase):
    pass
