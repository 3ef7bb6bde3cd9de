"""The catalog in PostgreSQL: loaded once per content, read back exactly, filtered and searched."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator

import asyncpg
import pytest

from analytics_engine.migrations import apply_migrations
from services.catalog import repository
from services.catalog.catalog_files import load_catalog_files
from services.catalog.domain import Catalog, Direction, Period


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog_files()


@pytest.fixture(scope="module")
async def pool(migrated_db: str, catalog: Catalog) -> AsyncIterator[asyncpg.Pool]:
    async with asyncpg.create_pool(migrated_db, min_size=1, max_size=4) as pool:
        await repository.load_catalog(pool, catalog)
        yield pool


async def test_reloading_the_same_content_is_a_no_op(pool: asyncpg.Pool, catalog: Catalog) -> None:
    before = await repository.current_version(pool)
    assert await repository.load_catalog(pool, catalog) is False
    after = await repository.current_version(pool)
    assert before == after
    assert after is not None
    assert (after.version, after.content_hash) == (catalog.version, catalog.content_hash)
    assert after.loaded_at is not None


async def test_everything_reads_back_as_loaded(pool: asyncpg.Pool, catalog: Catalog) -> None:
    assert await repository.list_kpis(pool) == sorted(catalog.kpis, key=lambda k: k.code)
    assert await repository.list_object_models(pool) == sorted(catalog.object_models,
                                                               key=lambda m: m.code)
    assert await repository.list_value_chains(pool) == sorted(catalog.value_chains,
                                                              key=lambda v: v.code)
    assert await repository.list_modules(pool) == sorted(
        catalog.modules, key=lambda m: (m.value_chain_code, m.code))
    for sample in catalog.kpi_samples:
        assert await repository.get_kpi_sample(pool, sample.kpi_code) == sample
    for rows in catalog.object_model_samples:
        assert await repository.get_object_model_sample(pool, rows.object_model_code) == rows


async def test_get_by_code(pool: asyncpg.Pool) -> None:
    pof = await repository.get_kpi(pool, "scor_pof")
    assert pof is not None and pof.code == "SCOR_POF"
    assert pof.component_kpi_codes == ("SCOR_OTD", "SCOR_IN_FULL", "SCOR_DAMAGE_FREE",
                                       "SCOR_DOC_ACCURACY")
    assert pof.direction is Direction.HIGHER_IS_BETTER
    deliver = await repository.get_module(pool, "SCOR_DELIVER")
    assert deliver is not None and deliver.value_chain_code == "SCOR"
    assert deliver.kpi_count == 16
    order = await repository.get_object_model(pool, "ORDER")
    assert order is not None and order.relationship("lines") is not None
    scor = await repository.get_value_chain(pool, "SCOR")
    assert scor is not None and scor.module_codes[0] == "SCOR_PLAN"


async def test_unknown_codes_give_none(pool: asyncpg.Pool) -> None:
    assert await repository.get_kpi(pool, "NOPE") is None
    assert await repository.get_kpi(pool, "") is None
    assert await repository.get_module(pool, "NOPE") is None
    assert await repository.get_object_model(pool, "NOPE") is None
    assert await repository.get_value_chain(pool, "NOPE") is None
    assert await repository.get_kpi_sample(pool, "NOPE") is None
    assert await repository.get_object_model_sample(pool, "NOPE") is None


async def test_kpi_filters(pool: asyncpg.Pool, catalog: Catalog) -> None:
    crm = await repository.list_kpis(pool, value_chain_code="CRM")
    assert [k.code for k in crm] == sorted(k.code for k in catalog.kpis
                                           if k.value_chain_code == "CRM")
    deliver = await repository.list_kpis(pool, module_code="scor_deliver")
    assert {k.module_code for k in deliver} == {"SCOR_DELIVER"} and len(deliver) == 16
    assert await repository.list_kpis(pool, value_chain_code="CRM",
                                      module_code="SCOR_DELIVER") == []
    assert await repository.list_kpis(pool, value_chain_code="NOPE") == []


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        ("perfect order", {"SCOR_POF"}),            # name, case-insensitive
        ("nps", {"CRM_NPS"}),                       # code
        ("promoters", {"CRM_NPS"}),                 # description
        ("perfect_order_component", {"SCOR_OTD", "SCOR_IN_FULL", "SCOR_DAMAGE_FREE",
                                     "SCOR_DOC_ACCURACY"}),  # tag
        ("100%", set()),                            # LIKE wildcards are taken literally
        ("   ", None),                              # blank search = no filter
    ],
)
async def test_kpi_search(pool: asyncpg.Pool, catalog: Catalog, search: str,
                          expected: set[str] | None) -> None:
    found = {k.code for k in await repository.list_kpis(pool, search=search)}
    assert found == (expected if expected is not None else {k.code for k in catalog.kpis})


async def test_search_combines_with_filters(pool: asyncpg.Pool) -> None:
    found = await repository.list_kpis(pool, value_chain_code="FINANCIAL", search="working_capital")
    assert [k.code for k in found] == ["FIN_DIO", "FIN_DPO", "FIN_DSO"]


async def test_module_and_object_model_filters(pool: asyncpg.Pool) -> None:
    scor_modules = await repository.list_modules(pool, value_chain_code="SCOR")
    assert len(scor_modules) == 6 and {m.value_chain_code for m in scor_modules} == {"SCOR"}
    financial = {m.code for m in await repository.list_object_models(pool, "FINANCIAL")}
    # Its own models plus those its KPIs read from other domains.
    assert {"INVOICE", "PAYMENT", "AP_INVOICE", "GL_ENTRY", "INVENTORY_SNAPSHOT"} == financial


async def test_kpi_sample_is_a_daily_series(pool: asyncpg.Pool) -> None:
    sample = await repository.get_kpi_sample(pool, "SCOR_OTD")
    assert sample is not None and sample.period is Period.DAY
    starts = [point.bucket_start for point in sample.points]
    assert len(starts) == 30 and starts == sorted(starts)


async def test_changed_catalog_replaces_the_old_one(fresh_database: str, catalog: Catalog) -> None:
    await apply_migrations(fresh_database)
    smaller = dataclasses.replace(
        catalog, version="test", content_hash="changed",
        kpis=tuple(k for k in catalog.kpis if k.code != "CRM_NPS"),
        kpi_samples=tuple(s for s in catalog.kpi_samples if s.kpi_code != "CRM_NPS"),
    )
    connection = await asyncpg.connect(fresh_database)
    try:
        # Two loaders at once (replicas starting together): exactly one does the work.
        first = await asyncio.gather(*(_load(fresh_database, catalog) for _ in range(2)))
        assert sorted(first) == [False, True]
        assert await repository.load_catalog(connection, smaller) is True
        assert await repository.get_kpi(connection, "CRM_NPS") is None
        retention = await repository.get_module(connection, "CRM_RETENTION")
        # Counted from the stored KPIs: one fewer than the shipped catalog has.
        shipped_retention = sum(1 for k in catalog.kpis if k.module_code == "CRM_RETENTION")
        assert retention is not None and retention.kpi_count == shipped_retention - 1
        pof = await repository.get_kpi(connection, "SCOR_POF")
        assert pof is not None and pof.catalog_version == "test"
        history = await connection.fetchval("SELECT count(*) FROM catalog.catalog_versions")
        assert history == 2
    finally:
        await connection.close()


async def _load(dsn: str, catalog: Catalog) -> bool:
    connection = await asyncpg.connect(dsn)
    try:
        return await repository.load_catalog(connection, catalog)
    finally:
        await connection.close()
