"""Client configuration and the proposal wizard in the browser: a new client with KPIs from the
cart, a custom KPI's formula error shown where it is, and a proposal whose totals are the ones
the config service stored."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import OpenApp, admin_token, screenshot
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

KPIS = ("SCOR_POF", "FIN_DSO")
PRICED = re.compile(r"^\$[0-9,]+\.[0-9]{2}")


def usd(money: dict[str, Any]) -> str:
    """How the app shows a USD amount (en-US currency format)."""
    return f"${int(money.get('cents', 0)) / 100:,.2f}"


def usd_range(money_range: dict[str, Any]) -> str:
    low, high = usd(money_range["min"]), usd(money_range["max"])
    return low if low == high else f"{low} – {high}"


def stored_proposal(stack: Stack, proposal_id: str) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{stack.url}/v1/proposals/{proposal_id}",
        headers={"authorization": f"Bearer {admin_token(stack)}"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        proposal: dict[str, Any] = json.loads(response.read())["proposal"]
        return proposal


async def fill_cart(page: Page) -> None:
    for code in KPIS:
        await page.goto(f"/catalog/kpis/{code}")
        await page.get_by_role("button", name="Add to cart").click()
    await expect(page.get_by_test_id("cart-count")).to_have_text(str(len(KPIS)))


async def create_client(page: Page, client: str) -> None:
    await page.goto("/clients")
    await page.fill("form input[name=clientId]", client)
    await page.fill("form input[name=name]", f"Browser Test {client}")
    await page.get_by_role("button", name="Create client").click()
    await page.wait_for_url(f"**/clients/{client}")
    await page.get_by_role("button", name=f"Add the {len(KPIS)} KPIs in the cart").click()
    complexity = page.locator(f"select[aria-label='Complexity of {KPIS[0]}']")
    await complexity.select_option(label="Custom (basic)")
    await page.get_by_role("button", name="Save client").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()


async def test_a_client_with_kpis_gets_a_proposal_priced_as_the_service_stores_it(
    open_app: OpenApp, stack: Stack
) -> None:
    client = f"ui-client-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await fill_cart(page)
    await create_client(page, client)
    rows = page.locator("[data-testid=selected-kpis] tbody tr")
    await expect(rows).to_have_count(len(KPIS))
    await screenshot(page, "client-editor")

    await page.get_by_role("link", name="Proposal wizard").click()
    running = page.get_by_test_id("running-total")
    await expect(running.get_by_test_id("total-year1")).to_have_text(PRICED, timeout=30_000)
    for step in range(2, 9):
        await page.get_by_role("button", name="Next").click()
        await expect(page.get_by_test_id("wizard-step")).to_have_attribute("data-step", str(step))
    await expect(running.get_by_test_id("total-year1")).to_have_text(PRICED, timeout=30_000)
    estimated = await running.get_by_test_id("total-year1").inner_text()
    await screenshot(page, "proposal-wizard")

    await page.get_by_role("button", name="Generate proposal").click()
    document = page.get_by_test_id("proposal")
    await document.wait_for(timeout=30_000)
    proposal_id = await document.get_attribute("data-proposal-id")
    assert proposal_id
    assert "Service Proposal" in await page.get_by_test_id("proposal-document").inner_text()
    await screenshot(page, "proposal-document")

    stored = await asyncio.to_thread(stored_proposal, stack, proposal_id)
    totals = stored["totals"]
    assert stored["clientId"] == client
    assert {k["kpiCode"] for k in stored["inputs"]["kpis"]} == set(KPIS)
    assert await page.get_by_test_id("total-year1").inner_text() == usd_range(totals["year1"])
    assert await page.get_by_test_id("total-recurring").inner_text() == usd(
        totals["yearlyRecurring"]
    )
    assert await page.get_by_test_id("total-term").inner_text() == usd_range(totals["termTotal"])
    assert estimated == usd_range(totals["year1"]), "the running total was not the final price"


async def test_a_custom_kpi_formula_error_is_shown_where_it_is(open_app: OpenApp) -> None:
    client = f"ui-formula-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await page.goto("/clients")
    await page.fill("form input[name=clientId]", client)
    await page.fill("form input[name=name]", "Formula Test")
    await page.get_by_role("button", name="Create client").click()
    await page.wait_for_url(f"**/clients/{client}")
    await page.fill("textarea[name=formula]", "count(ORDER where statu = 'open')")
    span = page.get_by_test_id("formula-error-span")
    await expect(span).to_have_text("statu", timeout=15_000)
    assert "status" in await page.get_by_test_id("formula-diagnostics").inner_text()
    await page.fill("textarea[name=formula]", "count(ORDER where status = 'open')")
    await expect(page.get_by_test_id("formula-valid")).to_be_visible(timeout=15_000)
    await screenshot(page, "custom-kpi-editor")


async def test_a_data_source_mapping_is_validated_by_the_config_service(
    open_app: OpenApp,
) -> None:
    client = f"ui-source-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await page.goto("/clients")
    await page.fill("form input[name=clientId]", client)
    await page.fill("form input[name=name]", "Mapping Test")
    await page.get_by_role("button", name="Create client").click()
    await page.wait_for_url(f"**/clients/{client}")
    sources = page.get_by_test_id("data-sources")
    await sources.locator("select[name=objectModel]").select_option("ORDER")
    await sources.locator("input[name=sourceSystem]").fill("Shop ERP")
    await sources.locator("textarea[name=sourceFields]").fill("id: string\ncreated: timestamp")
    await sources.get_by_label("Source of order_id").select_option("id")
    await sources.get_by_role("button", name="Validate mappings").click()
    validation = sources.get_by_test_id("mapping-validation")
    # Only the id is mapped: the service names the required fields still missing.
    await expect(validation).to_contain_text("incomplete", timeout=15_000)
    await expect(validation.locator("li").first).to_be_visible()
    await screenshot(page, "data-source-mapping")
