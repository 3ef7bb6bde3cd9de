"""Client configurations in PostgreSQL (schema `config`, sql/0008_client_configuration.sql).

Optimistic concurrency: a write names the version it was based on and changes the row only if
that is still the stored version; otherwise it raises Conflict and changes nothing. Credentials
arrive here already sealed; this module never sees them in clear.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import asyncpg

from services.catalog.domain import Direction, FieldType, Thresholds
from services.config.clients.model import (
    Client,
    ClientSpec,
    Complexity,
    Compliance,
    CustomKpi,
    CustomKpiSpec,
    DataSource,
    DataSourceSpec,
    Environment,
    FieldMapping,
    HoursRange,
    IntegrationType,
    IssueKind,
    MappingIssue,
    MappingReport,
    MappingStatus,
    SelectedKpi,
    SourceField,
)
from services.errors import AlreadyExists, Conflict, NotFound

Database = asyncpg.Pool


def _client_missing(client_id: str) -> NotFound:
    return NotFound(f"client {client_id!r} not found")


def _stale(what: str) -> Conflict:
    return Conflict(f"{what} was changed by someone else since it was read; read it again, "
                    "reapply the change and send the new etag")


# -- clients ---------------------------------------------------------------------------------

_CLIENT_COLUMNS = """
client_id, name, industry, description, license_term_years, environment,
retention_policy::text AS retention_policy, compliance_requirements, other_compliance, time_zone,
currency_code, value_chain_codes, version, create_time, update_time,
coalesce((SELECT json_agg(json_build_object(
            'kpi_code', s.kpi_code, 'complexity', s.complexity,
            'tm_min', s.tm_min_hours_hundredths, 'tm_max', s.tm_max_hours_hundredths,
            'rbac_attributes', s.rbac_attributes) ORDER BY s.position)::text
          FROM config.client_selected_kpis s WHERE s.client_id = c.client_id), '[]')
    AS selected_kpis
"""


async def insert_client(db: Database, spec: ClientSpec, chains: Sequence[str]) -> Client:
    async with db.acquire() as connection, connection.transaction():
        try:
            await connection.execute(
                "INSERT INTO config.clients (client_id, name, industry, description, "
                "license_term_years, environment, retention_policy, compliance_requirements, "
                "other_compliance, time_zone, currency_code, value_chain_codes) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9, $10, $11, $12)",
                *_client_values(spec), list(chains),
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(f"client {spec.client_id!r} already exists") from None
        await _write_selected(connection, spec)
        return await _read_client(connection, spec.client_id)


async def update_client(
    db: Database, spec: ClientSpec, chains: Sequence[str], expected_version: int
) -> Client:
    async with db.acquire() as connection, connection.transaction():
        updated = await connection.fetchval(
            "UPDATE config.clients SET name = $2, industry = $3, description = $4, "
            "license_term_years = $5, environment = $6, retention_policy = $7::jsonb, "
            "compliance_requirements = $8, other_compliance = $9, time_zone = $10, "
            "currency_code = $11, value_chain_codes = $12, version = version + 1, "
            "update_time = now() WHERE client_id = $1 AND version = $13 RETURNING version",
            *_client_values(spec), list(chains), expected_version,
        )
        if updated is None:
            await _raise_missing_or_stale(connection, spec.client_id)
        await connection.execute(
            "DELETE FROM config.client_selected_kpis WHERE client_id = $1", spec.client_id)
        await _write_selected(connection, spec)
        return await _read_client(connection, spec.client_id)


async def delete_client(db: Database, client_id: str, expected_version: int | None) -> None:
    async with db.acquire() as connection, connection.transaction():
        deleted = await connection.fetchval(
            "DELETE FROM config.clients WHERE client_id = $1 "
            "AND ($2::bigint IS NULL OR version = $2) RETURNING client_id",
            client_id, expected_version,
        )
        if deleted is None:
            await _raise_missing_or_stale(connection, client_id)


async def get_client(db: Database, client_id: str) -> Client | None:
    row = await db.fetchrow(
        f"SELECT {_CLIENT_COLUMNS} FROM config.clients c WHERE client_id = $1", client_id)
    return None if row is None else _client(row)


async def list_clients(db: Database, search: str, only: str | None) -> list[Client]:
    """Clients ordered by name (then id), whose id or name contains `search`; only the client
    `only` when it is set."""
    pattern = f"%{_escape_like(search.strip())}%" if search.strip() else ""
    rows = await db.fetch(
        f"SELECT {_CLIENT_COLUMNS} FROM config.clients c "
        "WHERE ($1 = '' OR client_id ILIKE $1 OR name ILIKE $1) "
        "AND ($2::text IS NULL OR client_id = $2) ORDER BY name, client_id",
        pattern, only,
    )
    return [_client(row) for row in rows]


async def client_exists(db: Any, client_id: str) -> bool:
    found = await db.fetchval("SELECT 1 FROM config.clients WHERE client_id = $1", client_id)
    return found is not None


async def _raise_missing_or_stale(connection: Any, client_id: str) -> None:
    if not await client_exists(connection, client_id):
        raise _client_missing(client_id)
    raise _stale(f"client {client_id!r}")


def _client_values(spec: ClientSpec) -> tuple[Any, ...]:
    return (
        spec.client_id, spec.name, spec.industry, spec.description, spec.license_term_years,
        spec.environment.value if spec.environment else "",
        None if spec.retention_policy is None else json.dumps(spec.retention_policy),
        [c.value for c in spec.compliance], spec.other_compliance, spec.time_zone,
        spec.currency_code,
    )


async def _write_selected(connection: Any, spec: ClientSpec) -> None:
    await connection.executemany(
        "INSERT INTO config.client_selected_kpis (client_id, position, kpi_code, complexity, "
        "tm_min_hours_hundredths, tm_max_hours_hundredths, rbac_attributes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(spec.client_id, i, s.kpi_code, s.complexity.value,
          s.tm_hours.min_hundredths if s.tm_hours else None,
          s.tm_hours.max_hundredths if s.tm_hours else None, list(s.rbac_attributes))
         for i, s in enumerate(spec.selected_kpis)],
    )


async def _read_client(connection: Any, client_id: str) -> Client:
    row = await connection.fetchrow(
        f"SELECT {_CLIENT_COLUMNS} FROM config.clients c WHERE client_id = $1", client_id)
    return _client(row)


def _hours(low: int | None, high: int | None) -> HoursRange | None:
    return None if low is None or high is None else HoursRange(low, high)


def _client(row: asyncpg.Record) -> Client:
    selected = tuple(
        SelectedKpi(s["kpi_code"], Complexity(s["complexity"]), _hours(s["tm_min"], s["tm_max"]),
                    tuple(s["rbac_attributes"] or ()))
        for s in json.loads(row["selected_kpis"])
    )
    spec = ClientSpec(
        client_id=row["client_id"], name=row["name"], industry=row["industry"],
        description=row["description"], selected_kpis=selected,
        license_term_years=row["license_term_years"],
        environment=Environment(row["environment"]) if row["environment"] else None,
        retention_policy=(None if row["retention_policy"] is None
                          else json.loads(row["retention_policy"])),
        compliance=tuple(Compliance(c) for c in row["compliance_requirements"]),
        other_compliance=row["other_compliance"], time_zone=row["time_zone"],
        currency_code=row["currency_code"],
    )
    return Client(spec=spec, value_chain_codes=tuple(row["value_chain_codes"]),
                  version=row["version"], create_time=row["create_time"],
                  update_time=row["update_time"])


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


# -- custom KPIs ------------------------------------------------------------------------------

_CUSTOM_KPI_COLUMNS = """
k.client_id, k.code, v.version, v.base_kpi_code, v.name, v.description, v.unit, v.direction,
v.target, v.warning_threshold, v.critical_threshold, v.formula, v.required_object_model_codes,
k.create_time, v.create_time AS update_time
"""


async def list_custom_kpis(db: Any, client_id: str) -> list[CustomKpi]:
    rows = await db.fetch(
        f"SELECT {_CUSTOM_KPI_COLUMNS} FROM config.custom_kpis k "
        "JOIN config.custom_kpi_versions v ON v.client_id = k.client_id AND v.code = k.code "
        "AND v.version = k.current_version WHERE k.client_id = $1 ORDER BY k.code",
        client_id,
    )
    return [_custom_kpi(row) for row in rows]


async def get_custom_kpi(db: Database, client_id: str, code: str,
                         version: int = 0) -> CustomKpi | None:
    """The current version, or version `version` when it is not 0."""
    row = await db.fetchrow(
        f"SELECT {_CUSTOM_KPI_COLUMNS} FROM config.custom_kpis k "
        "JOIN config.custom_kpi_versions v ON v.client_id = k.client_id AND v.code = k.code "
        "AND v.version = CASE WHEN $3 = 0 THEN k.current_version ELSE $3 END "
        "WHERE k.client_id = $1 AND k.code = $2",
        client_id, code, version,
    )
    return None if row is None else _custom_kpi(row)


async def custom_kpi_revision(db: Database, client_id: str) -> int:
    revision = await db.fetchval(
        "SELECT custom_kpi_revision FROM config.clients WHERE client_id = $1", client_id)
    return int(revision or 0)


async def insert_custom_kpi(db: Database, client_id: str, spec: CustomKpiSpec,
                            direction: Direction, required: Sequence[str]) -> CustomKpi:
    async with db.acquire() as connection, connection.transaction():
        if not await _bump_revision(connection, client_id):
            raise _client_missing(client_id)
        try:
            await connection.execute(
                "INSERT INTO config.custom_kpis (client_id, code, current_version) "
                "VALUES ($1, $2, 1)", client_id, spec.code)
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"custom KPI {spec.code} already exists for client {client_id!r}") from None
        await _insert_version(connection, client_id, spec, direction, required, 1)
        return await _read_custom_kpi(connection, client_id, spec.code)


async def update_custom_kpi(db: Database, client_id: str, spec: CustomKpiSpec,
                            direction: Direction, required: Sequence[str],
                            expected_version: int) -> CustomKpi:
    async with db.acquire() as connection, connection.transaction():
        version = await connection.fetchval(
            "UPDATE config.custom_kpis SET current_version = current_version + 1 "
            "WHERE client_id = $1 AND code = $2 AND current_version = $3 "
            "RETURNING current_version",
            client_id, spec.code, expected_version,
        )
        if version is None:
            await _raise_custom_kpi_missing_or_stale(connection, client_id, spec.code)
        await _bump_revision(connection, client_id)
        await _insert_version(connection, client_id, spec, direction, required, version)
        return await _read_custom_kpi(connection, client_id, spec.code)


async def delete_custom_kpi(db: Database, client_id: str, code: str) -> None:
    async with db.acquire() as connection, connection.transaction():
        deleted = await connection.fetchval(
            "DELETE FROM config.custom_kpis WHERE client_id = $1 AND code = $2 RETURNING code",
            client_id, code)
        if deleted is None:
            raise NotFound(f"custom KPI {code!r} not found for client {client_id!r}")
        await _bump_revision(connection, client_id)


async def _bump_revision(connection: Any, client_id: str) -> bool:
    bumped = await connection.fetchval(
        "UPDATE config.clients SET custom_kpi_revision = nextval('config.custom_kpi_revisions') "
        "WHERE client_id = $1 RETURNING custom_kpi_revision", client_id)
    return bumped is not None


async def _raise_custom_kpi_missing_or_stale(connection: Any, client_id: str, code: str) -> None:
    exists = await connection.fetchval(
        "SELECT 1 FROM config.custom_kpis WHERE client_id = $1 AND code = $2", client_id, code)
    if exists is None:
        raise NotFound(f"custom KPI {code!r} not found for client {client_id!r}")
    raise _stale(f"custom KPI {code}")


async def _insert_version(connection: Any, client_id: str, spec: CustomKpiSpec,
                          direction: Direction, required: Sequence[str], version: int) -> None:
    await connection.execute(
        "INSERT INTO config.custom_kpi_versions (client_id, code, version, base_kpi_code, name, "
        "description, unit, direction, target, warning_threshold, critical_threshold, formula, "
        "required_object_model_codes) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        client_id, spec.code, version, spec.base_kpi_code, spec.name, spec.description,
        spec.unit, direction.value, spec.target, spec.thresholds.warning,
        spec.thresholds.critical, spec.formula, list(required),
    )


async def _read_custom_kpi(connection: Any, client_id: str, code: str) -> CustomKpi:
    row = await connection.fetchrow(
        f"SELECT {_CUSTOM_KPI_COLUMNS} FROM config.custom_kpis k "
        "JOIN config.custom_kpi_versions v ON v.client_id = k.client_id AND v.code = k.code "
        "AND v.version = k.current_version WHERE k.client_id = $1 AND k.code = $2",
        client_id, code,
    )
    return _custom_kpi(row)


def _custom_kpi(row: asyncpg.Record) -> CustomKpi:
    direction = Direction(row["direction"])
    spec = CustomKpiSpec(
        code=row["code"], name=row["name"], formula=row["formula"],
        base_kpi_code=row["base_kpi_code"], description=row["description"], unit=row["unit"],
        direction=direction, target=row["target"],
        thresholds=Thresholds(row["warning_threshold"], row["critical_threshold"]),
    )
    return CustomKpi(client_id=row["client_id"], spec=spec, direction=direction,
                     required_object_model_codes=tuple(row["required_object_model_codes"]),
                     version=row["version"], create_time=row["create_time"],
                     update_time=row["update_time"])


# -- data sources -----------------------------------------------------------------------------

_DATA_SOURCE_COLUMNS = """
data_source_id, client_id, object_model_code, source_system, integration_type,
connection_settings::text AS connection_settings, credential_names, source_fields::text AS
source_fields, field_mappings::text AS field_mappings, mapping_status,
mapping_issues::text AS mapping_issues, tm_min_hours_hundredths, tm_max_hours_hundredths,
version, create_time, update_time
"""


async def insert_data_source(
    db: Database, client_id: str, spec: DataSourceSpec, report: MappingReport,
    sealed_credentials: bytes | None,
) -> DataSource:
    data_source_id = f"ds-{uuid.uuid4().hex[:16]}"
    async with db.acquire() as connection, connection.transaction():
        if not await client_exists(connection, client_id):
            raise _client_missing(client_id)
        try:
            await connection.execute(
                "INSERT INTO config.data_sources (data_source_id, client_id, object_model_code, "
                "source_system, integration_type, connection_settings, source_fields, "
                "field_mappings, mapping_status, mapping_issues, tm_min_hours_hundredths, "
                "tm_max_hours_hundredths, credential_names, credentials_encrypted) "
                "VALUES ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8::jsonb, $9, $10::jsonb, "
                "$11, $12, $13, $14)",
                data_source_id, client_id, *_data_source_values(spec, report),
                list(spec.credentials.names), sealed_credentials,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"client {client_id!r} already has a data source for {spec.object_model_code}; "
                "update that one") from None
        return await _read_data_source(connection, client_id, data_source_id)


async def update_data_source(
    db: Database, client_id: str, data_source_id: str, spec: DataSourceSpec,
    report: MappingReport, sealed_credentials: bytes | None, expected_version: int,
) -> DataSource:
    """Credentials: replaced when `sealed_credentials` is given, removed when the spec clears
    them, kept otherwise."""
    replace = sealed_credentials is not None or spec.clear_credentials
    async with db.acquire() as connection, connection.transaction():
        try:
            version = await connection.fetchval(
                "UPDATE config.data_sources SET object_model_code = $3, source_system = $4, "
                "integration_type = $5, connection_settings = $6::jsonb, "
                "source_fields = $7::jsonb, field_mappings = $8::jsonb, mapping_status = $9, "
                "mapping_issues = $10::jsonb, "
                "tm_min_hours_hundredths = $11, tm_max_hours_hundredths = $12, "
                "credential_names = CASE WHEN $13 THEN $14 ELSE credential_names END, "
                "credentials_encrypted = CASE WHEN $13 THEN $15 ELSE credentials_encrypted END, "
                "version = version + 1, update_time = now() "
                "WHERE client_id = $1 AND data_source_id = $2 AND version = $16 "
                "RETURNING version",
                client_id, data_source_id, *_data_source_values(spec, report), replace,
                list(spec.credentials.names), sealed_credentials, expected_version,
            )
        except asyncpg.UniqueViolationError:
            raise AlreadyExists(
                f"client {client_id!r} already has a data source for {spec.object_model_code}"
            ) from None
        if version is None:
            exists = await connection.fetchval(
                "SELECT 1 FROM config.data_sources WHERE client_id = $1 AND data_source_id = $2",
                client_id, data_source_id)
            if exists is None:
                raise _data_source_missing(data_source_id)
            raise _stale(f"data source {data_source_id!r}")
        return await _read_data_source(connection, client_id, data_source_id)


async def get_data_source(db: Database, client_id: str, data_source_id: str) -> DataSource | None:
    row = await db.fetchrow(
        f"SELECT {_DATA_SOURCE_COLUMNS} FROM config.data_sources "
        "WHERE client_id = $1 AND data_source_id = $2", client_id, data_source_id)
    return None if row is None else _data_source(row)


async def list_data_sources(db: Database, client_id: str,
                            object_model_code: str = "") -> list[DataSource]:
    rows = await db.fetch(
        f"SELECT {_DATA_SOURCE_COLUMNS} FROM config.data_sources "
        "WHERE client_id = $1 AND ($2 = '' OR object_model_code = $2) "
        "ORDER BY object_model_code, data_source_id", client_id, object_model_code)
    return [_data_source(row) for row in rows]


async def sealed_credentials(db: Database, client_id: str, data_source_id: str) -> bytes | None:
    """The encrypted credentials, for the code that connects to the source; never for a reply."""
    value: bytes | None = await db.fetchval(
        "SELECT credentials_encrypted FROM config.data_sources "
        "WHERE client_id = $1 AND data_source_id = $2", client_id, data_source_id)
    return value


async def delete_data_source(db: Database, client_id: str, data_source_id: str) -> None:
    deleted = await db.fetchval(
        "DELETE FROM config.data_sources WHERE client_id = $1 AND data_source_id = $2 "
        "RETURNING data_source_id", client_id, data_source_id)
    if deleted is None:
        raise _data_source_missing(data_source_id)


def _data_source_missing(data_source_id: str) -> NotFound:
    return NotFound(f"data source {data_source_id!r} not found")


def _data_source_values(spec: DataSourceSpec, report: MappingReport) -> tuple[Any, ...]:
    return (
        spec.object_model_code, spec.source_system, spec.integration_type.value,
        json.dumps(dict(spec.connection_settings)),
        json.dumps([{"name": f.name, "type": f.type.value if f.type else None}
                    for f in spec.source_fields]),
        json.dumps([{"target_field": m.target_field, "source_field": m.source_field,
                     "source_type": m.source_type.value if m.source_type else None,
                     "transform": m.transform, "default_value": m.default_value}
                    for m in spec.field_mappings]),
        report.status.value,
        json.dumps([{"kind": i.kind.value, "blocking": i.blocking, "target_field": i.target_field,
                     "source_field": i.source_field, "message": i.message}
                    for i in report.issues]),
        spec.tm_hours.min_hundredths if spec.tm_hours else None,
        spec.tm_hours.max_hundredths if spec.tm_hours else None,
    )


async def _read_data_source(connection: Any, client_id: str, data_source_id: str) -> DataSource:
    row = await connection.fetchrow(
        f"SELECT {_DATA_SOURCE_COLUMNS} FROM config.data_sources "
        "WHERE client_id = $1 AND data_source_id = $2", client_id, data_source_id)
    return _data_source(row)


def _field_type(value: str | None) -> FieldType | None:
    return None if value is None else FieldType(value)


def _data_source(row: asyncpg.Record) -> DataSource:
    issues = tuple(
        MappingIssue(IssueKind(i["kind"]), i["blocking"], i["target_field"], i["source_field"],
                     i["message"])
        for i in json.loads(row["mapping_issues"])
    )
    unmapped = tuple(i.target_field for i in issues
                     if i.kind is IssueKind.UNMAPPED_REQUIRED_FIELD)
    return DataSource(
        data_source_id=row["data_source_id"], client_id=row["client_id"],
        object_model_code=row["object_model_code"],
        integration_type=IntegrationType(row["integration_type"]),
        source_system=row["source_system"],
        connection_settings=json.loads(row["connection_settings"]),
        credential_names=tuple(row["credential_names"]),
        source_fields=tuple(SourceField(f["name"], _field_type(f["type"]))
                            for f in json.loads(row["source_fields"])),
        field_mappings=tuple(
            FieldMapping(m["target_field"], m["source_field"], _field_type(m["source_type"]),
                         m["transform"], m["default_value"])
            for m in json.loads(row["field_mappings"])),
        mapping=MappingReport(MappingStatus(row["mapping_status"]), issues, unmapped),
        tm_hours=_hours(row["tm_min_hours_hundredths"], row["tm_max_hours_hundredths"]),
        version=row["version"], create_time=row["create_time"], update_time=row["update_time"],
    )
