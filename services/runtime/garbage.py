"""How often a service process runs the cyclic garbage collector.

Measured first on the gateway hub, where it matters most: every message a stream sends
allocates short-lived container objects (futures, coroutine frames, callbacks, gRPC operation
wrappers), so with CPython's default thresholds the young generation is
collected every 700 net allocations, and the older generations, which every such pass feeds, hold
the long-lived objects of every open stream. On a hub fanning out to a thousand streams the
collector took about a tenth of the process's CPU, spent on the critical path of every tick (the
calculation service, whose recomputations build many short-lived series, spent 3-14 % there).
Those objects are freed by reference counting as soon as a message is sent; the collector only
finds reference cycles, which these hot paths do not create. So the young generation is
collected less often (the garbage it may hold meanwhile is bounded by the threshold), and
what exists once the process has started (modules, message descriptors) is moved out of every
collection's way.
"""

from __future__ import annotations

import gc

# Net allocations of container objects between two young-generation collections (CPython: 700).
YOUNG_GENERATION_THRESHOLD = 20_000


def collect_cycles_less_often(young_threshold: int = YOUNG_GENERATION_THRESHOLD) -> None:
    """Freeze what exists now out of future collections and raise the young threshold."""
    gc.collect()
    gc.freeze()
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(young_threshold, middle, oldest)
