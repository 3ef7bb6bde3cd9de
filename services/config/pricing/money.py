"""Exact money and hours: integer cents and integer hundredths of an hour, never floats."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENTS_PER_DOLLAR = 100
HUNDREDTHS_PER_HOUR = 100


@dataclass(frozen=True, order=True)
class Money:
    """An amount in cents of the proposal's currency."""

    cents: int

    @classmethod
    def dollars(cls, amount: int | str | Decimal) -> Money:
        """`Money.dollars(32_500)` or `Money.dollars("0.5")`; must be a whole number of cents."""
        cents = Decimal(amount) * CENTS_PER_DOLLAR
        if cents != cents.to_integral_value():
            raise ValueError(f"{amount} is not a whole number of cents")
        return cls(int(cents))

    @classmethod
    def zero(cls) -> Money:
        return cls(0)

    def __add__(self, other: Money) -> Money:
        return Money(self.cents + other.cents)

    def __sub__(self, other: Money) -> Money:
        return Money(self.cents - other.cents)

    def times(self, count: int) -> Money:
        return Money(self.cents * count)

    def for_hours(self, hours_hundredths: int) -> Money:
        """This hourly rate for a number of hours, rounded half-up to the cent."""
        return Money(_round_half_up(Decimal(self.cents * hours_hundredths) / HUNDREDTHS_PER_HOUR))

    def format(self) -> str:
        """"$65,000" for whole dollars, "$0.50" otherwise (negative as "-$5")."""
        sign = "-" if self.cents < 0 else ""
        dollars, cents = divmod(abs(self.cents), CENTS_PER_DOLLAR)
        return f"{sign}${dollars:,}" if cents == 0 else f"{sign}${dollars:,}.{cents:02d}"


@dataclass(frozen=True)
class MoneyRange:
    """An estimate between two amounts (time and materials)."""

    min: Money
    max: Money

    @classmethod
    def exactly(cls, amount: Money) -> MoneyRange:
        return cls(amount, amount)

    @classmethod
    def zero(cls) -> MoneyRange:
        return cls(Money.zero(), Money.zero())

    def __add__(self, other: MoneyRange | Money) -> MoneyRange:
        if isinstance(other, Money):
            return MoneyRange(self.min + other, self.max + other)
        return MoneyRange(self.min + other.min, self.max + other.max)

    def format(self) -> str:
        if self.min == self.max:
            return self.min.format()
        return f"{self.min.format()} - {self.max.format()}"


@dataclass(frozen=True)
class HoursRange:
    """An inclusive range of hours in hundredths (40–60 h = HoursRange(4000, 6000))."""

    min_hundredths: int
    max_hundredths: int

    def __add__(self, other: HoursRange) -> HoursRange:
        return HoursRange(
            self.min_hundredths + other.min_hundredths, self.max_hundredths + other.max_hundredths
        )

    def cost(self, rate: Money) -> MoneyRange:
        return MoneyRange(rate.for_hours(self.min_hundredths), rate.for_hours(self.max_hundredths))

    def format(self) -> str:
        low, high = format_hours(self.min_hundredths), format_hours(self.max_hundredths)
        return low if low == high else f"{low}-{high}"


def hours(whole: int | str) -> int:
    """Hundredths of an hour from hours: `hours(60)` = 6000, `hours("0.5")` = 50."""
    hundredths = Decimal(whole) * HUNDREDTHS_PER_HOUR
    if hundredths != hundredths.to_integral_value():
        raise ValueError(f"{whole} h is not a whole number of hundredths")
    return int(hundredths)


def format_hours(hundredths: int) -> str:
    """"60", "0.5", "66.67"."""
    value = Decimal(hundredths) / HUNDREDTHS_PER_HOUR
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def cost_of(volume: Decimal, unit_price: Decimal) -> Money:
    """volume × price per unit in dollars, rounded half-up to whole cents (one cost line)."""
    return Money(_round_half_up(volume * unit_price * CENTS_PER_DOLLAR))


def _round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))
