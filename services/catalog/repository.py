"""The catalog in PostgreSQL (schema `catalog`, see sql/0003_catalog.sql).

Every function takes a pool or a single connection. Queries return domain objects; an unknown
code gives None. Codes are matched case-insensitively (they are stored upper case), and an empty
filter means "no filter", as in the gRPC contract.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg

from services.catalog.domain import (
    Cardinality,
    Catalog,
    CatalogVersion,
    Comparator,
    DerivedDuration,
    DerivedField,
    Direction,
    Field,
    FieldType,
    KpiDefinition,
    KpiSample,
    KpiSamplePoint,
    Module,
    ObjectModel,
    ObjectModelSample,
    Period,
    Relationship,
    RowAccessRule,
    Thresholds,
    TimeWindow,
    ValueChain,
)

logger = logging.getLogger(__name__)

Database = asyncpg.Pool | asyncpg.Connection
_Connection = asyncpg.Connection | asyncpg.pool.PoolConnectionProxy

# Serialises catalog loads from several catalog replicas starting at once.
_LOAD_LOCK_KEY = 0x0A3A_11CE_CA7A_0001


@contextlib.asynccontextmanager
async def _connection(db: Database) -> AsyncIterator[_Connection]:
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as connection:
            yield connection
    else:
        yield db


# -- loading ------------------------------------------------------------------------------


async def load_catalog(db: Database, catalog: Catalog) -> bool:
    """Replaces the stored catalog with `catalog` in one transaction, unless the stored one
    already has the same content hash. Returns whether it replaced anything."""
    async with _connection(db) as connection, connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", _LOAD_LOCK_KEY)
        current = await _current_version(connection)
        if current is not None and current.content_hash == catalog.content_hash:
            logger.info("catalog %s already loaded", catalog.version)
            return False
        if current is not None and current.version == catalog.version:
            logger.warning("catalog content changed but its version %s did not; bump the "
                           "version in catalog.yaml", catalog.version)
        await _delete_all(connection)
        await _insert(connection, catalog)
        await connection.execute(
            "INSERT INTO catalog.catalog_versions (version, content_hash) VALUES ($1, $2)",
            catalog.version, catalog.content_hash,
        )
    logger.info("catalog %s loaded: %d KPIs, %d object models", catalog.version,
                len(catalog.kpis), len(catalog.object_models))
    return True


async def _delete_all(connection: _Connection) -> None:
    # DELETE rather than TRUNCATE: readers keep seeing the previous catalog until commit
    # instead of queueing behind an exclusive lock.
    for table in ("kpi_samples", "kpi_components", "kpis", "object_model_samples",
                  "object_models", "modules", "value_chains"):
        await connection.execute(f"DELETE FROM catalog.{table}")


async def _insert(connection: _Connection, catalog: Catalog) -> None:
    await connection.executemany(
        "INSERT INTO catalog.value_chains (code, name, description, position) "
        "VALUES ($1, $2, $3, $4)",
        [(c.code, c.name, c.description, i) for i, c in enumerate(catalog.value_chains)],
    )
    await connection.executemany(
        "INSERT INTO catalog.modules (code, value_chain_code, name, description, position) "
        "VALUES ($1, $2, $3, $4, $5)",
        [(m.code, m.value_chain_code, m.name, m.description, i)
         for i, m in enumerate(catalog.modules)],
    )
    await connection.executemany(
        "INSERT INTO catalog.object_models (code, name, description, schema_name, table_name, "
        "time_field, fields, relationships, value_chain_codes, derived_fields, "
        "derived_durations) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb, $9, $10::jsonb, $11::jsonb)",
        [(m.code, m.name, m.description, m.schema_name, m.table_name, m.time_field,
          json.dumps([_field_json(f) for f in m.fields]),
          json.dumps([_relationship_json(r) for r in m.relationships]),
          list(m.value_chain_codes),
          json.dumps([_derived_field_json(d) for d in m.derived_fields]),
          json.dumps([dataclasses.asdict(d) for d in m.derived_durations]))
         for m in catalog.object_models],
    )
    await connection.executemany(
        "INSERT INTO catalog.kpis (code, name, description, value_chain_code, module_code, unit, "
        "direction, target, warning_threshold, critical_threshold, required_object_model_codes, "
        "formula, tags, position, row_access) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15::jsonb)",
        [(k.code, k.name, k.description, k.value_chain_code, k.module_code, k.unit,
          k.direction.value, k.target, k.thresholds.warning, k.thresholds.critical,
          list(k.required_object_model_codes), k.formula, list(k.tags), i,
          json.dumps([dataclasses.asdict(rule) for rule in k.row_access]))
         for i, k in enumerate(catalog.kpis)],
    )
    await connection.executemany(
        "INSERT INTO catalog.kpi_components (kpi_code, component_kpi_code, position) "
        "VALUES ($1, $2, $3)",
        [(k.code, component, i) for k in catalog.kpis
         for i, component in enumerate(k.component_kpi_codes)],
    )
    await connection.copy_records_to_table(
        "kpi_samples", schema_name="catalog",
        columns=("kpi_code", "period", "bucket_start", "value"),
        records=[(s.kpi_code, s.period.value, p.bucket_start, p.value)
                 for s in catalog.kpi_samples for p in s.points],
    )
    await connection.executemany(
        "INSERT INTO catalog.object_model_samples (object_model_code, position, row_data) "
        "VALUES ($1, $2, $3::jsonb)",
        [(s.object_model_code, i, json.dumps(dict(row)))
         for s in catalog.object_model_samples for i, row in enumerate(s.rows)],
    )


def _field_json(field: Field) -> dict[str, Any]:
    return {"name": field.name, "type": field.type.value, "description": field.description,
            "required": field.required, "key": field.key,
            "allowed_values": list(field.allowed_values), "unit": field.unit}


def _derived_field_json(derived: DerivedField) -> dict[str, Any]:
    return {"name": derived.name, "description": derived.description,
            "left_field": derived.left_field, "comparator": derived.comparator.value,
            "right_field": derived.right_field}


def _relationship_json(rel: Relationship) -> dict[str, Any]:
    window = rel.target_time_window
    return {"name": rel.name, "target": rel.target_object_model_code,
            "cardinality": rel.cardinality.value, "source_field": rel.source_field,
            "target_field": rel.target_field, "description": rel.description,
            "target_time_window": None if window is None else [window.days_before,
                                                               window.days_after],
            "carried_fields": [_field_json(f) for f in rel.carried_fields]}


# -- versions -----------------------------------------------------------------------------


async def current_version(db: Database) -> CatalogVersion | None:
    """The loaded catalog's version, content hash and load time; None before the first load."""
    async with _connection(db) as connection:
        return await _current_version(connection)


async def _current_version(connection: _Connection) -> CatalogVersion | None:
    row = await connection.fetchrow(
        "SELECT version, content_hash, loaded_at FROM catalog.catalog_versions "
        "ORDER BY id DESC LIMIT 1"
    )
    if row is None:
        return None
    return CatalogVersion(row["version"], row["content_hash"], row["loaded_at"])


# -- value chains and modules -------------------------------------------------------------

_VALUE_CHAINS = """
SELECT v.code, v.name, v.description,
       coalesce(array(SELECT m.code FROM catalog.modules m
                      WHERE m.value_chain_code = v.code ORDER BY m.position), '{}') AS module_codes,
       (SELECT count(*) FROM catalog.kpis k WHERE k.value_chain_code = v.code) AS kpi_count
FROM catalog.value_chains v
WHERE ($1 = '' OR v.code = upper($1))
ORDER BY v.code
"""

_MODULES = """
SELECT m.code, m.name, m.description, m.value_chain_code,
       (SELECT count(*) FROM catalog.kpis k WHERE k.module_code = m.code) AS kpi_count
FROM catalog.modules m
WHERE ($1 = '' OR m.code = upper($1)) AND ($2 = '' OR m.value_chain_code = upper($2))
ORDER BY m.value_chain_code, m.code
"""


async def list_value_chains(db: Database) -> list[ValueChain]:
    """Every value chain, ordered by code."""
    return [_value_chain(row) for row in await db.fetch(_VALUE_CHAINS, "")]


async def get_value_chain(db: Database, code: str) -> ValueChain | None:
    if not code:
        return None
    row = await db.fetchrow(_VALUE_CHAINS, code)
    return None if row is None else _value_chain(row)


async def list_modules(db: Database, value_chain_code: str | None = None) -> list[Module]:
    """Modules, optionally of one value chain, ordered by value chain and code."""
    return [_module(row) for row in await db.fetch(_MODULES, "", value_chain_code or "")]


async def get_module(db: Database, code: str) -> Module | None:
    if not code:
        return None
    row = await db.fetchrow(_MODULES, code, "")
    return None if row is None else _module(row)


def _value_chain(row: asyncpg.Record) -> ValueChain:
    return ValueChain(row["code"], row["name"], row["description"], tuple(row["module_codes"]),
                      int(row["kpi_count"]))


def _module(row: asyncpg.Record) -> Module:
    return Module(row["code"], row["name"], row["description"], row["value_chain_code"],
                  int(row["kpi_count"]))


# -- object models ------------------------------------------------------------------------

_OBJECT_MODELS = """
SELECT code, name, description, schema_name, table_name, time_field, fields::text,
       relationships::text, value_chain_codes, derived_fields::text, derived_durations::text
FROM catalog.object_models
WHERE ($1 = '' OR code = upper($1)) AND ($2 = '' OR upper($2) = ANY (value_chain_codes))
ORDER BY code
"""


async def list_object_models(
    db: Database, value_chain_code: str | None = None
) -> list[ObjectModel]:
    """Object models, optionally only those read by KPIs of (or owned by) one value chain,
    ordered by code."""
    return [_object_model(row) for row in await db.fetch(_OBJECT_MODELS, "",
                                                         value_chain_code or "")]


async def get_object_model(db: Database, code: str) -> ObjectModel | None:
    if not code:
        return None
    row = await db.fetchrow(_OBJECT_MODELS, code, "")
    return None if row is None else _object_model(row)


def _field(f: dict[str, Any]) -> Field:
    return Field(f["name"], FieldType(f["type"]), f["description"], f["required"], f["key"],
                 tuple(f["allowed_values"]), f["unit"])


def _object_model(row: asyncpg.Record) -> ObjectModel:
    fields = tuple(_field(f) for f in json.loads(row["fields"]))
    relationships = tuple(
        Relationship(r["name"], r["target"], Cardinality(r["cardinality"]), r["source_field"],
                     r["target_field"], r["description"],
                     # Absent from relationships stored before windows existed.
                     None if r.get("target_time_window") is None
                     else TimeWindow(*r["target_time_window"]),
                     # Absent from relationships stored before carried fields existed.
                     tuple(_field(f) for f in r.get("carried_fields", ())))
        for r in json.loads(row["relationships"])
    )
    derived = tuple(
        DerivedField(d["name"], d["description"], d["left_field"], Comparator(d["comparator"]),
                     d["right_field"])
        for d in json.loads(row["derived_fields"])
    )
    durations = tuple(DerivedDuration(**d) for d in json.loads(row["derived_durations"]))
    return ObjectModel(row["code"], row["name"], row["description"], row["schema_name"],
                       row["table_name"], row["time_field"], fields, relationships,
                       tuple(row["value_chain_codes"]), derived, durations)


# -- KPIs ---------------------------------------------------------------------------------

_KPIS = r"""
SELECT k.code, k.name, k.description, k.value_chain_code, k.module_code, k.unit, k.direction,
       k.target, k.warning_threshold, k.critical_threshold, k.required_object_model_codes,
       k.formula, k.tags, k.row_access,
       coalesce(array(SELECT c.component_kpi_code FROM catalog.kpi_components c
                      WHERE c.kpi_code = k.code ORDER BY c.position), '{}') AS component_kpi_codes,
       coalesce((SELECT v.version FROM catalog.catalog_versions v ORDER BY v.id DESC LIMIT 1),
                '') AS catalog_version
FROM catalog.kpis k
WHERE ($1 = '' OR k.code = upper($1))
  AND ($2 = '' OR k.value_chain_code = upper($2))
  AND ($3 = '' OR k.module_code = upper($3))
  AND ($4 = '' OR k.code ILIKE $4 OR k.name ILIKE $4 OR k.description ILIKE $4
       OR EXISTS (SELECT 1 FROM unnest(k.tags) AS tag WHERE tag ILIKE $4))
ORDER BY k.code
"""


async def list_kpis(
    db: Database, value_chain_code: str | None = None, module_code: str | None = None,
    search: str | None = None,
) -> list[KpiDefinition]:
    """KPI definitions ordered by code, filtered by value chain, module and a text that must
    occur (case-insensitively) in the code, name, description or a tag."""
    pattern = f"%{_escape_like(search.strip())}%" if search and search.strip() else ""
    rows = await db.fetch(_KPIS, "", value_chain_code or "", module_code or "", pattern)
    return [_kpi(row) for row in rows]


async def get_kpi(db: Database, code: str) -> KpiDefinition | None:
    if not code:
        return None
    row = await db.fetchrow(_KPIS, code, "", "", "")
    return None if row is None else _kpi(row)


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _kpi(row: asyncpg.Record) -> KpiDefinition:
    return KpiDefinition(
        code=row["code"], name=row["name"], description=row["description"],
        value_chain_code=row["value_chain_code"], module_code=row["module_code"],
        unit=row["unit"], direction=Direction(row["direction"]), target=row["target"],
        thresholds=Thresholds(row["warning_threshold"], row["critical_threshold"]),
        required_object_model_codes=tuple(row["required_object_model_codes"]),
        formula=row["formula"], component_kpi_codes=tuple(row["component_kpi_codes"]),
        tags=tuple(row["tags"]), catalog_version=row["catalog_version"],
        row_access=tuple(RowAccessRule(**rule) for rule in json.loads(row["row_access"])),
    )


# -- samples ------------------------------------------------------------------------------


async def get_kpi_sample(db: Database, kpi_code: str) -> KpiSample | None:
    """The KPI's preview series in time order; None for an unknown KPI."""
    rows: Sequence[asyncpg.Record] = await db.fetch(
        "SELECT k.code, s.period, s.bucket_start, s.value FROM catalog.kpis k "
        "LEFT JOIN catalog.kpi_samples s ON s.kpi_code = k.code "
        "WHERE k.code = upper($1) ORDER BY s.bucket_start",
        kpi_code,
    )
    if not rows:
        return None
    points = tuple(KpiSamplePoint(row["bucket_start"], row["value"])
                   for row in rows if row["bucket_start"] is not None)
    period = Period(rows[0]["period"]) if points else Period.DAY
    return KpiSample(rows[0]["code"], period, points)


async def get_object_model_sample(db: Database, object_model_code: str) -> ObjectModelSample | None:
    """The object model's preview rows in declaration order; None for an unknown model."""
    rows: Sequence[asyncpg.Record] = await db.fetch(
        "SELECT o.code, s.row_data::text AS row_data FROM catalog.object_models o "
        "LEFT JOIN catalog.object_model_samples s ON s.object_model_code = o.code "
        "WHERE o.code = upper($1) ORDER BY s.position",
        object_model_code,
    )
    if not rows:
        return None
    return ObjectModelSample(
        rows[0]["code"],
        tuple(json.loads(row["row_data"]) for row in rows if row["row_data"] is not None),
    )
