"""From selected KPIs to what must be integrated: the object models their values depend on (as
each definition declares them: aggregated, reached through relationships, or read by referenced
KPIs), the value chains they imply, and, for a client, which of those models still lack a valid
mapping."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Mapping, Sequence

from services.catalog.domain import KpiDefinition, ObjectModel
from services.config.clients.model import DataSource, MappingStatus
from services.config.clients.rules import raise_if_any, suggestion
from services.errors import FieldViolation


@dataclasses.dataclass(frozen=True)
class RequiredModel:
    code: str
    name: str
    required_by_kpi_codes: tuple[str, ...]
    value_chain_codes: tuple[str, ...]
    data_source: DataSource | None
    unmapped_required_fields: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class RequiredObjects:
    models: tuple[RequiredModel, ...]
    value_chain_codes: tuple[str, ...]
    # Without a VALID mapping; empty when no client was analysed.
    unmapped_model_codes: tuple[str, ...]
    kpi_codes: tuple[str, ...]


def analyze(
    kpi_codes: Sequence[str],
    object_models: Mapping[str, ObjectModel],
    kpis: Mapping[str, KpiDefinition],
    catalog_kpis: Mapping[str, KpiDefinition],
    base_codes: Mapping[str, str],
    data_sources: Sequence[DataSource] | None,
) -> RequiredObjects:
    """`kpis` resolves every code (catalog and the client's custom KPIs); `base_codes` gives a
    custom variant's catalog KPI, whose value chain it belongs to. `data_sources` is None when
    no client is analysed."""
    violations = [
        FieldViolation(f"kpi_codes[{i}]", f"unknown KPI {code!r}{suggestion(code, kpis)}")
        for i, code in enumerate(kpi_codes) if code not in kpis
    ]
    raise_if_any(violations, "cannot analyse these KPIs")
    readers: dict[str, list[str]] = defaultdict(list)
    chains_of_model: dict[str, set[str]] = defaultdict(set)
    chains: set[str] = set()
    for code in dict.fromkeys(kpi_codes):
        definition = catalog_kpis.get(code) or catalog_kpis.get(base_codes.get(code, ""))
        chain = definition.value_chain_code if definition else ""
        if chain:
            chains.add(chain)
        for read in kpis[code].required_object_model_codes:
            readers[read].append(code)
            if chain:
                chains_of_model[read].add(chain)
    sources = {s.object_model_code: s for s in data_sources or ()}
    models = []
    for model_code in sorted(readers):
        model = object_models[model_code]
        source = sources.get(model_code)
        unmapped = (source.mapping.unmapped_required_fields if source is not None
                    else tuple(f.name for f in model.fields if f.required))
        models.append(RequiredModel(model_code, model.name, tuple(readers[model_code]),
                                    tuple(sorted(chains_of_model[model_code])), source, unmapped))
    unmapped_models = () if data_sources is None else tuple(
        m.code for m in models
        if m.data_source is None or m.data_source.mapping.status is not MappingStatus.VALID
    )
    return RequiredObjects(tuple(models), tuple(sorted(chains)), unmapped_models,
                           tuple(dict.fromkeys(kpi_codes)))
