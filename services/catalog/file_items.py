"""Reading YAML items of the catalog files: typed field access that records problems instead
of raising, so one pass reports everything wrong with a file; and sample-value checking."""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable, Mapping
from typing import Any, TypeVar

from services.catalog.domain import Cardinality, Direction, Field, FieldType, Period, SampleValue

CODE = re.compile(r"^[A-Z][A-Z0-9_]*$")
IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


def label(raw: object, key: str, fallback: str) -> str:
    """How messages name an item: by its code or name when it has one, else by position."""
    value = raw.get(key) if isinstance(raw, Mapping) else None
    return value if isinstance(value, str) and value else fallback


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, message: str) -> None:
        self.items.append(f"{where}: {message}")


class Item:
    """Typed access to one YAML mapping; wrong or missing values become problems, not
    exceptions, and the accessor returns a harmless default so reading can go on."""

    def __init__(self, data: object, where: str, problems: Problems, keys: Iterable[str]) -> None:
        self.where = where
        self.problems = problems
        self.data: Mapping[str, Any] = data if isinstance(data, Mapping) else {}
        if not isinstance(data, Mapping):
            problems.add(where, "expected a mapping")
        unknown = sorted(set(self.data) - set(keys))
        if unknown:
            problems.add(where, f"unknown key(s) {', '.join(map(str, unknown))}")

    def text(self, key: str, *, required: bool = True) -> str:
        value = self.data.get(key)
        if value is None:
            if required:
                self.problems.add(self.where, f"{key} is required")
            return ""
        if not isinstance(value, str) or (required and not value.strip()):
            self.problems.add(self.where, f"{key} must be non-empty text")
            return ""
        return value.strip()

    def flag(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            self.problems.add(self.where, f"{key} must be true or false")
            return False
        return value

    def number(self, key: str) -> float | None:
        value = self.data.get(key)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problems.add(self.where, f"{key} must be a number")
            return None
        return float(value)

    def texts(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.problems.add(self.where, f"{key} must be a list of text")
            return ()
        return tuple(value)

    def items(self, key: str) -> list[object]:
        value = self.data.get(key, [])
        if not isinstance(value, list):
            self.problems.add(self.where, f"{key} must be a list")
            return []
        return value

    def code(self, key: str = "code") -> str:
        value = self.text(key)
        if value and not CODE.match(value):
            self.problems.add(self.where, f"{key} {value!r} must be UPPER_SNAKE_CASE")
        return value


EnumT = TypeVar("EnumT", FieldType, Cardinality, Direction, Period)


def parse_enum(kind: type[EnumT], value: str, item: Item) -> EnumT | None:
    if not value:
        return None
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        item.problems.add(item.where, f"{value!r} is not one of {allowed}")
        return None


class Invalid:
    def __init__(self, reason: str) -> None:
        self.reason = reason


def sample_value(field: Field, value: object) -> SampleValue | Invalid:
    """Checks a sample value against its field and turns it into a JSON value."""
    if value is None:
        return Invalid("is required") if field.required else None
    match field.type:
        case FieldType.STRING:
            if not isinstance(value, str):
                return Invalid(f"{value!r} is not text")
            if field.allowed_values and value not in field.allowed_values:
                return Invalid(f"{value!r} is not one of {', '.join(field.allowed_values)}")
            return value
        case FieldType.INTEGER:
            if isinstance(value, bool) or not isinstance(value, int):
                return Invalid(f"{value!r} is not a whole number")
            return value
        case FieldType.DECIMAL:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return Invalid(f"{value!r} is not a number")
            return value
        case FieldType.BOOLEAN:
            return value if isinstance(value, bool) else Invalid(f"{value!r} is not true/false")
        case FieldType.TIMESTAMP:
            moment = as_timestamp(value)
            if moment is None:
                return Invalid(f"{value!r} is not a timestamp with a time zone")
            return moment.astimezone(datetime.UTC).isoformat().replace("+00:00", "Z")
        case FieldType.DATE:
            if isinstance(value, datetime.date) and not isinstance(value, datetime.datetime):
                return value.isoformat()
            if isinstance(value, str):
                try:
                    return datetime.date.fromisoformat(value).isoformat()
                except ValueError:
                    pass
            return Invalid(f"{value!r} is not a date (YYYY-MM-DD)")


def as_timestamp(value: object) -> datetime.datetime | None:
    if isinstance(value, str):
        try:
            value = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    if isinstance(value, datetime.datetime) and value.tzinfo is not None:
        return value
    return None
