"""The use cases of client configuration: each resolves the client it acts for from the caller,
checks the request against the catalog and the formula language, and reads or writes the store.
Credentials are sealed here, before storage, and never leave in clear."""

from __future__ import annotations

import dataclasses
import logging
import re
import secrets
from collections.abc import Collection, Sequence
from typing import Protocol

import asyncpg

from services.calculation.catalog_view import CatalogSnapshot
from services.calculation.formula.errors import FormulaError
from services.calculation.formula.validation import check_formula
from services.catalog.domain import KpiDefinition
from services.config.clients import access, store
from services.config.clients.analysis import RequiredObjects, analyze
from services.config.clients.custom_kpis import (
    CheckedCustomKpi,
    check_custom_kpi,
    stored_definition,
)
from services.config.clients.data_sources import check_data_source
from services.config.clients.mappings import check_mappings
from services.config.clients.model import (
    LARGEST_VERSION,
    Client,
    ClientSpec,
    CustomKpi,
    CustomKpiSpec,
    DataSource,
    DataSourceSpec,
    FieldMapping,
    MappingReport,
    SourceField,
)
from services.config.clients.rules import (
    check_client,
    suggestion,
    value_chains,
)
from services.errors import FailedPrecondition, InvalidArgument, NotFound
from services.security.secrets import SecretBox

log = logging.getLogger(__name__)


class CatalogSource(Protocol):
    async def snapshot(self) -> CatalogSnapshot: ...


@dataclasses.dataclass(frozen=True)
class KpiDefinitions:
    revision: int
    unchanged: bool
    kpis: tuple[KpiDefinition, ...]


class ClientConfig:
    def __init__(self, db: asyncpg.Pool, catalog: CatalogSource, box: SecretBox) -> None:
        self._db = db
        self._catalog = catalog
        self._box = box

    # -- clients --------------------------------------------------------------------------------

    async def list_clients(self, search: str) -> list[Client]:
        return await store.list_clients(self._db, search, access.listing())

    async def get_client(self, client_id: str) -> Client:
        acting = access.reading(client_id)
        client = await store.get_client(self._db, acting)
        if client is None:
            raise NotFound(f"client {acting!r} not found")
        return client

    async def create_client(self, spec: ClientSpec) -> Client:
        acting = access.creating(spec.client_id)
        spec = dataclasses.replace(spec, client_id=acting or _new_client_id(spec.name))
        snapshot = await self._catalog.snapshot()
        check_client(spec, snapshot.kpis, ())
        chains = value_chains([s.kpi_code for s in spec.selected_kpis], snapshot.kpis, {})
        return await store.insert_client(self._db, spec, chains)

    async def update_client(self, client_id: str, spec: ClientSpec, etag_version: int) -> Client:
        acting = access.changing(client_id)
        if spec.client_id and spec.client_id != acting:
            raise InvalidArgument.for_field(
                "client.client_id", "is immutable; leave it empty or equal to the path's")
        spec = dataclasses.replace(spec, client_id=acting)
        snapshot = await self._catalog.snapshot()
        custom = await store.list_custom_kpis(self._db, acting)
        check_client(spec, snapshot.kpis, [k.spec.code for k in custom])
        bases = {k.spec.code: k.spec.base_kpi_code for k in custom}
        chains = value_chains([s.kpi_code for s in spec.selected_kpis], snapshot.kpis, bases)
        return await store.update_client(self._db, spec, chains, etag_version)

    async def delete_client(self, client_id: str, etag_version: int | None) -> None:
        await store.delete_client(self._db, access.changing(client_id), etag_version)

    # -- custom KPIs ----------------------------------------------------------------------------

    async def list_custom_kpis(self, client_id: str) -> list[CustomKpi]:
        acting = access.reading(client_id)
        await self._require_client(acting)
        return await store.list_custom_kpis(self._db, acting)

    async def get_custom_kpi(self, client_id: str, code: str, version: int) -> CustomKpi:
        acting = access.reading(client_id)
        found = (
            None
            if version > LARGEST_VERSION
            else await store.get_custom_kpi(self._db, acting, code, version)
        )
        if found is None:
            which = f"version {version} of " if version else ""
            raise NotFound(f"{which}custom KPI {code!r} not found for client {acting!r}")
        return found

    async def create_custom_kpi(self, client_id: str, spec: CustomKpiSpec) -> CustomKpi:
        acting = access.changing(client_id)
        await self._require_client(acting)
        checked, spec = await self._checked_custom_kpi(acting, spec)
        return await store.insert_custom_kpi(self._db, acting, spec, checked.direction,
                                             checked.required_object_model_codes)

    async def update_custom_kpi(self, client_id: str, code: str, spec: CustomKpiSpec,
                                etag_version: int) -> CustomKpi:
        acting = access.changing(client_id)
        if spec.code and spec.code != code:
            raise InvalidArgument.for_field(
                "custom_kpi.code", "is immutable; leave it empty or equal to the path's")
        spec = dataclasses.replace(spec, code=code)
        checked, spec = await self._checked_custom_kpi(acting, spec)
        return await store.update_custom_kpi(self._db, acting, spec, checked.direction,
                                             checked.required_object_model_codes, etag_version)

    async def delete_custom_kpi(self, client_id: str, code: str) -> None:
        acting = access.changing(client_id)
        client = await store.get_client(self._db, acting)
        if client is not None and code in {s.kpi_code for s in client.spec.selected_kpis}:
            raise FailedPrecondition(
                f"client {acting!r} has {code} among its selected KPIs; remove it there first")
        snapshot = await self._catalog.snapshot()
        others = await store.list_custom_kpis(self._db, acting)
        known = {*snapshot.kpis, *(k.spec.code for k in others)}
        for other in others:
            if other.spec.code != code and code in _referenced_kpis(other, snapshot, known):
                raise FailedPrecondition(
                    f"custom KPI {other.spec.code} refers to {code} with kpi(); change it first")
        await store.delete_custom_kpi(self._db, acting, code)

    async def _checked_custom_kpi(
        self, client_id: str, spec: CustomKpiSpec
    ) -> tuple[CheckedCustomKpi, CustomKpiSpec]:
        snapshot = await self._catalog.snapshot()
        own = {k.spec.code: stored_definition(k, snapshot.kpis)
               for k in await store.list_custom_kpis(self._db, client_id)}
        checked = check_custom_kpi(spec, snapshot.object_models, snapshot.kpis, own)
        return checked, dataclasses.replace(spec, unit=checked.unit, direction=checked.direction)

    async def kpi_definitions(self, client_id: str, known_revision: int) -> KpiDefinitions:
        """For calculation (internal: the client is named by the calling service)."""
        revision = await store.custom_kpi_revision(self._db, client_id)
        if known_revision and revision == known_revision:
            return KpiDefinitions(revision, True, ())
        snapshot = await self._catalog.snapshot()
        kpis = await store.list_custom_kpis(self._db, client_id)
        return KpiDefinitions(revision, False,
                              tuple(stored_definition(k, snapshot.kpis) for k in kpis))

    # -- data sources ---------------------------------------------------------------------------

    async def list_data_sources(self, client_id: str, object_model_code: str) -> list[DataSource]:
        acting = access.reading(client_id)
        await self._require_client(acting)
        return await store.list_data_sources(self._db, acting, object_model_code)

    async def get_data_source(self, client_id: str, data_source_id: str) -> DataSource:
        acting = access.reading(client_id)
        found = await store.get_data_source(self._db, acting, data_source_id)
        if found is None:
            raise NotFound(f"data source {data_source_id!r} not found")
        return found

    async def create_data_source(self, client_id: str, spec: DataSourceSpec) -> DataSource:
        acting = access.changing(client_id)
        report = await self._checked_data_source(spec)
        sealed = self._box.seal(spec.credentials) if spec.credentials else None
        stored = await store.insert_data_source(self._db, acting, spec, report, sealed)
        # Credentials print as their names only.
        log.info("data source %s of %s for %s stored (%s, mapping %s)", stored.data_source_id,
                 acting, stored.object_model_code, spec.credentials, report.status.value)
        return stored

    async def update_data_source(self, client_id: str, data_source_id: str,
                                 spec: DataSourceSpec, etag_version: int) -> DataSource:
        acting = access.changing(client_id)
        report = await self._checked_data_source(spec)
        sealed = self._box.seal(spec.credentials) if spec.credentials else None
        stored = await store.update_data_source(self._db, acting, data_source_id, spec, report,
                                                sealed, etag_version)
        log.info("data source %s of %s updated (%s, mapping %s)", data_source_id, acting,
                 spec.credentials if spec.credentials else "credentials kept or cleared",
                 report.status.value)
        return stored

    async def delete_data_source(self, client_id: str, data_source_id: str) -> None:
        await store.delete_data_source(self._db, access.changing(client_id), data_source_id)

    async def validate_mappings(
        self,
        client_id: str,
        object_model_code: str,
        mappings: Sequence[FieldMapping],
        source_fields: Sequence[SourceField],
    ) -> MappingReport:
        access.reading(client_id)
        snapshot = await self._catalog.snapshot()
        model = snapshot.object_models.get(object_model_code)
        if model is None:
            raise InvalidArgument.for_field(
                "object_model_code", f"unknown object model {object_model_code!r}"
                f"{suggestion(object_model_code, snapshot.object_models)}")
        return check_mappings(model, mappings, source_fields)

    async def _checked_data_source(self, spec: DataSourceSpec) -> MappingReport:
        snapshot = await self._catalog.snapshot()
        return check_data_source(spec, snapshot.object_models)

    # -- analysis -------------------------------------------------------------------------------

    async def analyze_required_objects(self, client_id: str,
                                       kpi_codes: Sequence[str]) -> RequiredObjects:
        snapshot = await self._catalog.snapshot()
        if not client_id.strip():
            access.reading_any()
            if not kpi_codes:
                raise InvalidArgument.for_field(
                    "kpi_codes", "name the KPIs to analyse, or a client whose selection to use")
            return analyze(kpi_codes, snapshot.object_models, snapshot.kpis, snapshot.kpis, {},
                           None)
        acting = access.reading(client_id)
        client = await store.get_client(self._db, acting)
        if client is None:
            raise NotFound(f"client {acting!r} not found")
        custom = await store.list_custom_kpis(self._db, acting)
        kpis = {**snapshot.kpis,
                **{k.spec.code: stored_definition(k, snapshot.kpis) for k in custom}}
        codes = list(kpi_codes) or [s.kpi_code for s in client.spec.selected_kpis]
        sources = await store.list_data_sources(self._db, acting)
        return analyze(codes, snapshot.object_models, kpis, snapshot.kpis,
                       {k.spec.code: k.spec.base_kpi_code for k in custom}, sources)

    async def _require_client(self, client_id: str) -> None:
        if not await store.client_exists(self._db, client_id):
            raise NotFound(f"client {client_id!r} not found")


def _referenced_kpis(
    kpi: CustomKpi, snapshot: CatalogSnapshot, known: Collection[str]
) -> frozenset[str]:
    try:
        checked = check_formula(kpi.spec.formula, snapshot.object_models, known, kpi.spec.code)
    except FormulaError:
        return frozenset()
    return checked.kpi_codes


def _new_client_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:50] or "client"
    return f"{slug}-{secrets.token_hex(3)}"
