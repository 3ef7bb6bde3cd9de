"""Reading an object model's derived fields and derived durations from the catalog files.

A derived field is written `{name, description, expression: "left_field <op> right_field"}`. Its
value is stored next to each row and computed by the database, so the comparison must give the
same answer whenever and wherever it is evaluated: both fields of one type (or both numeric),
and only numbers or instants/dates. Text ordering depends on the collation and comparing a date
with a timestamp on the session's time zone, so neither can be derived.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from services.catalog.domain import Comparator, DerivedDuration, DerivedField, Field
from services.catalog.file_items import IDENTIFIER, Item, Problems

# Operators longest first, so "<=" is not read as "<" followed by "=".
_EXPRESSION = re.compile(
    r"^\s*(?P<left>[a-z][a-z0-9_]*)\s*(?P<op><=|>=|<>|=|<|>)\s*(?P<right>[a-z][a-z0-9_]*)\s*$"
)
# Columns the platform adds to the tables and rollups; the generator refuses these too.
_RESERVED = frozenset({"client_id", "bucket", "row_count"})


def read_derived_fields(
    raws: Iterable[object], where: str, problems: Problems, fields: tuple[Field, ...]
) -> tuple[DerivedField, ...]:
    """The derived fields of one object model; every problem is added to `problems`."""
    derived: list[DerivedField] = []
    taken = {field.name for field in fields}
    for index, raw in enumerate(raws):
        item = Item(raw, f"{where}: derived field {index}", problems,
                    ("name", "description", "expression"))
        found = _derived_field(item, {field.name: field for field in fields})
        if found is None:
            continue
        if found.name in taken:
            problems.add(item.where, f"name {found.name!r} is already a field or derived field")
            continue
        taken.add(found.name)
        derived.append(found)
    return tuple(derived)


def _derived_field(item: Item, fields: dict[str, Field]) -> DerivedField | None:
    name = item.text("name")
    description = item.text("description")
    expression = item.text("expression")
    if name and not IDENTIFIER.match(name):
        item.problems.add(item.where, f"name {name!r} must be lower_snake_case")
        return None
    if name in _RESERVED or name.startswith("sum__"):
        item.problems.add(item.where, f"name {name!r} is a column the platform adds")
        return None
    match = _EXPRESSION.match(expression)
    if not name or not expression:
        return None
    if match is None:
        item.problems.add(item.where, f"expression {expression!r} must compare two fields of "
                                      "the object model, e.g. 'delivered_at <= promised_at'")
        return None
    left, right = fields.get(match["left"]), fields.get(match["right"])
    for side, spec in ((match["left"], left), (match["right"], right)):
        if spec is None:
            item.problems.add(item.where, f"expression: {side!r} is not a field")
    if left is None or right is None:
        return None
    if left.name == right.name:
        item.problems.add(item.where, "expression compares a field with itself")
        return None
    comparable = left.type is right.type or (left.type.is_numeric and right.type.is_numeric)
    if not comparable or not (left.type.is_numeric or left.type.is_temporal):
        item.problems.add(item.where, f"expression: {left.name} ({left.type}) and {right.name} "
                                      f"({right.type}) must both be numbers, both timestamps or "
                                      "both dates")
        return None
    return DerivedField(name, description, left.name, Comparator(match["op"]), right.name)


def read_derived_durations(
    raws: Iterable[object],
    where: str,
    problems: Problems,
    fields: tuple[Field, ...],
    derived: tuple[DerivedField, ...],
) -> tuple[DerivedDuration, ...]:
    """The derived durations of one object model, written `{name, description, start, end}`:
    the seconds from field `start` to field `end` of a row, both timestamps or both dates (a
    date and a timestamp would meet on the session's time zone, which a stored value cannot)."""
    durations: list[DerivedDuration] = []
    taken = {field.name for field in fields} | {d.name for d in derived}
    by_name = {field.name: field for field in fields}
    for index, raw in enumerate(raws):
        item = Item(raw, f"{where}: derived duration {index}", problems,
                    ("name", "description", "start", "end"))
        name, start, end = item.text("name"), item.text("start"), item.text("end")
        if not name or not start or not end:
            continue
        if not IDENTIFIER.match(name) or name in _RESERVED or "__" in name:
            problems.add(item.where, f"name {name!r} must be lower_snake_case, without '__', "
                                     "and not a column the platform adds")
            continue
        if name in taken:
            problems.add(item.where, f"name {name!r} is already a field or derived field")
            continue
        specs = (by_name.get(start), by_name.get(end))
        for side, spec in zip((start, end), specs, strict=True):
            if spec is None:
                problems.add(item.where, f"{side!r} is not a field")
        first, last = specs
        if first is None or last is None:
            continue
        if first.name == last.name or first.type is not last.type or not first.type.is_temporal:
            problems.add(item.where, f"start {first.name} ({first.type}) and end {last.name} "
                                     f"({last.type}) must be two timestamps or two dates")
            continue
        taken.add(name)
        durations.append(DerivedDuration(name, item.text("description"), start, end))
    return tuple(durations)
