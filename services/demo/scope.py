"""Which object models a request generates: the named ones plus every model they reference
(many-to-one), so that every loaded reference points at a loaded row."""

from __future__ import annotations

from collections.abc import Collection, Mapping

from services.catalog.domain import Cardinality, ObjectModel


def with_referenced_models(models_by_code: Mapping[str, ObjectModel],
                           codes: Collection[str]) -> frozenset[str]:
    """`codes` and, transitively, the targets of their many-to-one relationships. Empty `codes`
    means every model. Raises KeyError naming the first unknown code."""
    if not codes:
        return frozenset(models_by_code)
    unknown = sorted(code for code in codes if code not in models_by_code)
    if unknown:
        raise KeyError(unknown[0])
    selected: set[str] = set()
    pending = list(codes)
    while pending:
        code = pending.pop()
        if code in selected:
            continue
        selected.add(code)
        for relationship in models_by_code[code].relationships:
            if relationship.cardinality is Cardinality.MANY_TO_ONE and \
                    relationship.target_object_model_code in models_by_code:
                pending.append(relationship.target_object_model_code)
    return frozenset(selected)
