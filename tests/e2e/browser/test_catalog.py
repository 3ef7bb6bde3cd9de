"""The KPI catalog and the object model diagram in the browser."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from tests.e2e.browser.conftest import OpenApp, rest, screenshot
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack


async def test_catalog_loads_and_a_kpi_page_shows_its_formula(
    open_app: OpenApp, stack: Stack
) -> None:
    catalog = await asyncio.to_thread(rest, stack, "GET", "/v1/kpis", None)
    everything = f"{len(catalog['kpis'])} KPIs"
    page = await open_app(client="ui-catalog")
    await expect(page.get_by_test_id("kpi-count")).to_have_text(everything)
    assert await page.locator("tbody tr").count() == len(catalog["kpis"])
    await screenshot(page, "catalog")

    await page.fill("input[type=search]", "perfect order")
    await page.click("form.search button[type=submit]")
    await expect(page.get_by_test_id("kpi-count")).not_to_have_text(everything)
    rows = page.locator("tbody tr")
    assert 1 <= await rows.count() < len(catalog["kpis"])
    await page.click("tr[data-kpi=SCOR_POF] a")

    formula = page.get_by_test_id("formula")
    await formula.wait_for()
    assert "count(ORDER where status = 'delivered'" in await formula.inner_text()
    # The driver tree names the KPIs Perfect Order Fulfillment is built from.
    await page.wait_for_selector("text=On-Time Delivery")
    await page.wait_for_selector("[data-testid=sample-chart] svg path.recharts-curve")
    await screenshot(page, "kpi-page")

    await page.click("text=Add to cart")
    await page.wait_for_selector("text=Remove from cart")
    assert await page.inner_text("[data-testid=cart-count]") == "1"


async def test_object_models_are_drawn_with_their_relationships(open_app: OpenApp) -> None:
    page = await open_app(client="ui-models")
    await page.goto("/models?focus=ORDER")
    await page.wait_for_selector("[data-testid=uml] [data-model=ORDER]")
    assert await page.locator("[data-testid=uml] [data-model]").count() >= 20
    # PAYMENT.invoice is a declared many-to-one relationship.
    assert await page.locator("text=invoice (*→1)").count() >= 1
    await screenshot(page, "object-models")


async def test_an_unknown_kpi_shows_a_readable_error(open_app: OpenApp) -> None:
    page = await open_app(client="ui-catalog")
    await page.goto("/catalog/kpis/NO_SUCH_KPI")
    alert = page.get_by_role("alert")
    await alert.wait_for()
    assert "Not found" in await alert.inner_text()
