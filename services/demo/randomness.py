"""Seeded randomness: every stream of random numbers is derived from (seed, client, name, parts).

Each model draws from its own streams, one per day (or per entity), so a model can be generated
on its own, in any order, lazily, and still agree with every other model about shared facts.
Python's `hash()` is salted per process, so seeds are derived with BLAKE2 instead.
"""

from __future__ import annotations

import bisect
import decimal
import hashlib
import itertools
import random
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")

_MASK = (1 << 64) - 1


def derive_seed(seed: int, client_id: str, name: str, *parts: object) -> int:
    text = "\x1f".join([str(seed), client_id, name, *map(str, parts)])
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def stream(seed: int, client_id: str, name: str, *parts: object) -> random.Random:
    return random.Random(derive_seed(seed, client_id, name, *parts))


def mix(key: int, index: int) -> int:
    """A well-spread 64-bit number for (key, index) (splitmix64): cheap per-entity attributes
    without building a Random for each entity."""
    z = (key + (index + 1) * 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def unit(key: int, index: int) -> float:
    """A number in [0, 1) determined by (key, index)."""
    return (mix(key, index) >> 11) / float(1 << 53)


def pick(key: int, index: int, options: Sequence[T]) -> T:
    return options[mix(key, index) % len(options)]


class WeightedChoice(Generic[T]):
    """`rng.choices(options, weights)[0]` with the cumulative weights worked out once: the same
    single draw and the same answer, at a fraction of the cost in a loop run millions of times."""

    def __init__(self, options: Sequence[T], weights: Sequence[float]) -> None:
        if not options or len(options) != len(weights):
            raise ValueError("options and weights must be non-empty and of equal length")
        self._options = tuple(options)
        self._cumulative = tuple(itertools.accumulate(weights))
        self._total = self._cumulative[-1] + 0.0
        self._last = len(self._options) - 1

    def __call__(self, rng: random.Random) -> T:
        draw = rng.random() * self._total
        return self._options[bisect.bisect_right(self._cumulative, draw, 0, self._last)]


def count(rng: random.Random, expected: float) -> int:
    """A whole count near `expected` (±~5 %, never negative); fractional expectations round
    randomly so that tiny volumes still produce rows on some days."""
    value = expected * max(0.0, rng.gauss(1.0, 0.05))
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


_CENT = decimal.Decimal("0.01")


def money(cents: int) -> decimal.Decimal:
    """Integer cents as an exact two-place Decimal."""
    return decimal.Decimal(cents).scaleb(-2)


def units(value: int) -> decimal.Decimal:
    return decimal.Decimal(value)
