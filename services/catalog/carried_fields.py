"""Carried fields: a many-to-one relationship may name fields of the related row that each row
keeps a copy of (`carried_fields: [status]` on ORDER_LINE's `order`), stored as the column
`{relationship}__{field}` (`order__status`).

A filter or breakdown on `order.status` over order lines then reads the line's own column instead
of joining a year of orders, and when the field is of a kind the rollups group by (a boolean or a
string with allowed values), the rollups answer it. The copy is only worth its upkeep (a lookup
per row written, and moving the copies when the related row changes) for fields that rarely
change and are read over long ranges, so the catalog names them one by one.

Rules that keep the copies exact: the relationship is many-to-one; the field exists on the target
model; and a model whose fields are carried does not carry fields itself, so one writers' lock
(the carried model's) orders every write that changes a copy.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from services.catalog.domain import Cardinality, ObjectModel, carried_column
from services.catalog.file_items import Problems


def resolve_carried_fields(
    model: ObjectModel, models: Mapping[str, ObjectModel], problems: Problems, where: str
) -> ObjectModel:
    """`model` with each relationship's carried field names replaced by copies of the target
    model's field specifications; every problem is added to `problems`."""
    relationships = []
    taken = (
        {field.name for field in model.fields}
        | {d.name for d in model.derived_fields}
        | {d.name for d in model.derived_durations}
    )
    for rel in model.relationships:
        if not rel.carried_fields:
            relationships.append(rel)
            continue
        at = f"{where}: relationship {rel.name}"
        target = models.get(rel.target_object_model_code)
        if target is None or rel.cardinality is not Cardinality.MANY_TO_ONE:
            relationships.append(dataclasses.replace(rel, carried_fields=()))
            continue  # reported with the relationship itself
        if any(r.carried_fields for r in target.relationships):
            problems.add(at, f"{target.code} carries fields itself; fields are carried one "
                             "relationship deep")
        resolved = []
        for named in rel.carried_fields:
            spec = target.field(named.name)
            if spec is None:
                problems.add(at, f"carried field {named.name!r} is not a field of {target.code}")
                continue
            column = carried_column(rel, spec)
            if column in taken:
                problems.add(at, f"carried field {named.name!r} would be stored as {column!r}, "
                                 "which is already taken")
                continue
            taken.add(column)
            resolved.append(dataclasses.replace(spec, key=False, required=False))
        relationships.append(dataclasses.replace(rel, carried_fields=tuple(resolved)))
    return dataclasses.replace(model, relationships=tuple(relationships))


def carried_by(model: ObjectModel, models: Mapping[str, ObjectModel]) -> tuple[
    tuple[ObjectModel, str], ...
]:
    """The models that carry fields of `model`, each with the name of its relationship to it."""
    return tuple(
        (other, rel.name)
        for other in models.values()
        for rel in other.relationships
        if rel.carried_fields and rel.target_object_model_code == model.code
    )
