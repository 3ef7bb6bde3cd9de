"""Resolves a path (`status`, `invoice.due_date`, `PAYMENT.invoice.issue_date`) against the
object models: which relationships it follows and which field it ends in."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from services.catalog.domain import Cardinality, Field, ObjectModel, Relationship


@dataclass(frozen=True)
class ResolvedPath:
    """`field` is None when the path names the aggregated object model itself (`count(ORDER)`)."""

    model: ObjectModel
    relationships: tuple[Relationship, ...]
    field: Field | None

    @property
    def relationship_names(self) -> tuple[str, ...]:
        return tuple(relationship.name for relationship in self.relationships)

    @property
    def reached_model_codes(self) -> tuple[str, ...]:
        return tuple(relationship.target_object_model_code for relationship in self.relationships)


@dataclass(frozen=True)
class PathProblem:
    """Why a path does not resolve; `segment` indexes the segment at fault."""

    segment: int
    message: str


def resolve_path(
    segments: tuple[str, ...], start: ObjectModel, models: Mapping[str, ObjectModel],
    first_segment: int = 0,
) -> ResolvedPath | PathProblem:
    """Follows `segments[first_segment:]` from `start`: relationships, then one field. Paths
    through one-to-many relationships are refused: a row would match many related rows, and the
    aggregate query model has no "some related row matches" filter."""
    model = start
    relationships: list[Relationship] = []
    relative = segments[first_segment:]
    if not relative:
        return ResolvedPath(start, (), None)
    for offset, name in enumerate(relative[:-1]):
        index = first_segment + offset
        relationship = model.relationship(name)
        if relationship is None:
            if model.field(name) is not None:
                return PathProblem(index, f"'{name}' is a field of {model.code}, not a "
                                          "relationship; it has no fields of its own")
            return PathProblem(index, f"unknown relationship '{name}' of {model.code}"
                                      f"{_suggest(name, (r.name for r in model.relationships))}")
        target = models.get(relationship.target_object_model_code)
        if relationship.cardinality is Cardinality.ONE_TO_MANY:
            return PathProblem(index, f"{model.code}.{name} leads to many "
                                      f"{relationship.target_object_model_code} rows; paths "
                                      "through one-to-many relationships are not supported — "
                                      "aggregate over "
                                      f"{relationship.target_object_model_code} instead")
        if target is None:
            return PathProblem(index, f"relationship '{name}' of {model.code} leads to unknown "
                                      f"object model {relationship.target_object_model_code}")
        relationships.append(relationship)
        model = target
    name = relative[-1]
    field = model.field(name)
    if field is None:
        if model.relationship(name) is not None:
            return PathProblem(len(segments) - 1,
                               f"'{name}' is a relationship of {model.code}; name one of the "
                               f"fields it leads to, e.g. {name}.<field>")
        return PathProblem(len(segments) - 1, f"unknown field '{name}' of {model.code}"
                                              f"{_suggest(name, (f.name for f in model.fields))}")
    return ResolvedPath(start, tuple(relationships), field)


def _suggest(name: str, candidates: Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""
