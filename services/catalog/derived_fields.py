"""Reading an object model's derived fields and derived durations from the catalog files.

A derived field is written `{name, description, expression: "left_field <op> right_field"}`. Its
value is stored next to each row and computed by the database, so the comparison must give the
same answer whenever and wherever it is evaluated: both fields of one type (or both numeric),
and only numbers or instants/dates. Text ordering depends on the collation and comparing a date
with a timestamp on the session's time zone, so neither can be derived.

An operand may also be a related row's field that the row carries a copy of
(`invoice.due_date`, see carried_fields): the copy is a column of the row like any other. Its
type is only known once every model is read, so such operands are checked by
`check_carried_operands` then.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterable
from typing import TypeVar

from services.catalog.domain import (
    Comparator,
    DerivedDuration,
    DerivedField,
    Field,
    FieldType,
    ObjectModel,
    Relationship,
)
from services.catalog.file_items import IDENTIFIER, Item, Problems

# A field, or a relationship and the field of it the row carries ("invoice.due_date").
_OPERAND = r"[a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)?"
# Operators longest first, so "<=" is not read as "<" followed by "=".
_EXPRESSION = re.compile(
    rf"^\s*(?P<left>{_OPERAND})\s*(?P<op><=|>=|<>|=|<|>)\s*(?P<right>{_OPERAND})\s*$"
)
# Stands for a carried operand while its type is not known yet (see check_carried_operands).
_CARRIED = Field("", FieldType.STRING, "")
_Derived = TypeVar("_Derived", DerivedField, DerivedDuration)
# Columns the platform adds to the tables and rollups; the generator refuses these too.
_RESERVED = frozenset({"client_id", "bucket", "row_count"})


def read_derived_fields(
    raws: Iterable[object],
    where: str,
    problems: Problems,
    fields: tuple[Field, ...],
    relationships: tuple[Relationship, ...] = (),
) -> tuple[DerivedField, ...]:
    """The derived fields of one object model; every problem is added to `problems`."""
    derived: list[DerivedField] = []
    taken = {field.name for field in fields}
    operand = _operand_specs(fields, relationships)
    for index, raw in enumerate(raws):
        item = Item(raw, f"{where}: derived field {index}", problems,
                    ("name", "description", "expression"))
        found = _derived_field(item, operand)
        if found is None:
            continue
        if found.name in taken:
            problems.add(item.where, f"name {found.name!r} is already a field or derived field")
            continue
        taken.add(found.name)
        derived.append(found)
    return tuple(derived)


def _operand_specs(
    fields: tuple[Field, ...], relationships: tuple[Relationship, ...]
) -> Callable[[str], Field | None]:
    """Finds an operand's field; a carried operand's type is not known yet (`_CARRIED`)."""
    by_name = {field.name: field for field in fields}
    carried = {f"{rel.name}.{field.name}" for rel in relationships for field in rel.carried_fields}

    def spec(name: str) -> Field | None:
        if "." in name:
            return _CARRIED if name in carried else None
        return by_name.get(name)

    return spec


def _not_an_operand(name: str) -> str:
    if "." in name:
        return (f"{name!r} is not a field of a relationship that the row carries a copy of "
                "(its carried_fields)")
    return f"{name!r} is not a field"


def _derived_field(item: Item, operand: Callable[[str], Field | None]) -> DerivedField | None:
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
    left, right = operand(match["left"]), operand(match["right"])
    for side, spec in ((match["left"], left), (match["right"], right)):
        if spec is None:
            item.problems.add(item.where, f"expression: {_not_an_operand(side)}")
    if left is None or right is None:
        return None
    if match["left"] == match["right"]:
        item.problems.add(item.where, "expression compares a field with itself")
        return None
    found = DerivedField(name, description, match["left"], Comparator(match["op"]), match["right"])
    problem = _comparison_problem(found, left, right)
    if problem is not None:
        item.problems.add(item.where, problem)
        return None
    return found


def _comparison_problem(derived: DerivedField, left: Field, right: Field) -> str | None:
    if _CARRIED in (left, right):
        return None  # see check_carried_operands
    comparable = left.type is right.type or (left.type.is_numeric and right.type.is_numeric)
    if comparable and (left.type.is_numeric or left.type.is_temporal):
        return None
    return (f"expression: {derived.left_field} ({left.type}) and {derived.right_field} "
            f"({right.type}) must both be numbers, both timestamps or both dates")


def read_derived_durations(
    raws: Iterable[object],
    where: str,
    problems: Problems,
    fields: tuple[Field, ...],
    derived: tuple[DerivedField, ...],
    relationships: tuple[Relationship, ...] = (),
) -> tuple[DerivedDuration, ...]:
    """The derived durations of one object model, written `{name, description, start, end}`
    (and `weight`, a numeric field the seconds are multiplied by): the seconds from field `start`
    to field `end` of a row, both timestamps or both dates (a date and a timestamp would meet on
    the session's time zone, which a stored value cannot)."""
    durations: list[DerivedDuration] = []
    taken = {field.name for field in fields} | {d.name for d in derived}
    by_name = {field.name: field for field in fields}
    operand = _operand_specs(fields, relationships)
    for index, raw in enumerate(raws):
        item = Item(raw, f"{where}: derived duration {index}", problems,
                    ("name", "description", "start", "end", "weight"))
        name, start, end = item.text("name"), item.text("start"), item.text("end")
        weight = item.text("weight", required=False)
        if not name or not start or not end:
            continue
        if not IDENTIFIER.match(name) or name in _RESERVED or "__" in name:
            problems.add(item.where, f"name {name!r} must be lower_snake_case, without '__', "
                                     "and not a column the platform adds")
            continue
        if name in taken:
            problems.add(item.where, f"name {name!r} is already a field or derived field")
            continue
        specs = (operand(start), operand(end))
        for side, spec in zip((start, end), specs, strict=True):
            if spec is None:
                problems.add(item.where, _not_an_operand(side))
        first, last = specs
        if first is None or last is None:
            continue
        weighting = by_name.get(weight) if weight else None
        if weight and (weighting is None or not weighting.type.is_numeric):
            problems.add(item.where, f"weight {weight!r} must be a numeric field of the row")
            continue
        duration = DerivedDuration(name, item.text("description"), start, end, weight)
        problem = _duration_problem(duration, first, last)
        if problem is not None:
            problems.add(item.where, problem)
            continue
        taken.add(name)
        durations.append(duration)
    return tuple(durations)


def _duration_problem(duration: DerivedDuration, first: Field, last: Field) -> str | None:
    if _CARRIED in (first, last):
        return None  # see check_carried_operands
    if (duration.start_field != duration.end_field and first.type is last.type
            and first.type.is_temporal):
        return None
    return (f"start {duration.start_field} ({first.type}) and end {duration.end_field} "
            f"({last.type}) must be two timestamps or two dates")


def check_carried_operands(model: ObjectModel, problems: Problems, where: str) -> ObjectModel:
    """`model` without the derived fields and durations whose carried operands (resolved by
    now) do not fit, each reported as it would have been with fields of the row."""

    def fitting(
        kind: str,
        items: tuple[_Derived, ...],
        operands: Callable[[_Derived], tuple[str, str]],
        problem_of: Callable[[_Derived, Field, Field], str | None],
    ) -> tuple[_Derived, ...]:
        kept = []
        for index, item in enumerate(items):
            first, second = (model.operand(name) for name in operands(item))
            problem = (
                "a carried field it reads was not carried" if first is None or second is None
                else problem_of(item, first, second)
            )
            if problem is None:
                kept.append(item)
            else:
                problems.add(f"{where}: {kind} {index}", problem)
        return tuple(kept)

    return dataclasses.replace(
        model,
        derived_fields=fitting("derived field", model.derived_fields,
                               lambda d: (d.left_field, d.right_field), _comparison_problem),
        derived_durations=fitting("derived duration", model.derived_durations,
                                  lambda d: (d.start_field, d.end_field), _duration_problem),
    )
