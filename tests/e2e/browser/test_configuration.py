"""Client configuration and the proposal wizard in the browser: a new client with KPIs from the
cart, a custom KPI's formula error shown where it is, a proposal whose totals are the ones the
config service stored, and editing and deleting clients, custom KPIs and data sources (a stale
edit is refused in words and offers to reload)."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import OpenApp, admin_token, rest, screenshot
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


async def create_empty_client(page: Page, client: str, name: str) -> None:
    """Creates a client through the clients page and waits for its editor."""
    await page.goto("/clients")
    await page.fill("form input[name=clientId]", client)
    await page.fill("form input[name=name]", name)
    await page.get_by_role("button", name="Create client").click()
    await page.wait_for_url(f"**/clients/{client}")
    await expect(page.get_by_test_id("client-version")).to_be_visible()


def change_elsewhere(stack: Stack, path: str, key: str, change: dict[str, Any]) -> dict[str, Any]:
    """Someone else's edit: reads the record at `path` and writes it back changed, etag and all."""
    stored: dict[str, Any] = rest(stack, "GET", path, None)[key]
    changed: dict[str, Any] = rest(stack, "PUT", path, {**stored, **change})[key]
    return changed


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
    await create_empty_client(page, client, "Formula Test")
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
    await create_empty_client(page, client, "Mapping Test")
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


async def test_a_client_is_edited_a_stale_edit_is_refused_and_the_client_deleted(
    open_app: OpenApp, stack: Stack
) -> None:
    client = f"ui-edit-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await create_empty_client(page, client, "Edit Test")
    await page.get_by_test_id("client-details").locator("input[name=industry]").fill("Retail")
    await page.get_by_role("button", name="Save client").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    version = await page.get_by_test_id("client-version").inner_text()

    # Someone else saves in between: this page's etag is stale now.
    elsewhere = await asyncio.to_thread(
        change_elsewhere, stack, f"/v1/clients/{client}", "client", {"name": "Renamed Elsewhere"}
    )
    await page.get_by_test_id("client-details").locator("input[name=name]").fill("My Rename")
    await page.get_by_role("button", name="Save client").click()
    conflict = page.get_by_test_id("conflict")
    await expect(conflict).to_contain_text(f"Someone else changed client {client}")
    await screenshot(page, "client-conflict")
    await conflict.get_by_role("button", name="Reload").click()
    details = page.get_by_test_id("client-details")
    await expect(details.locator("input[name=name]")).to_have_value("Renamed Elsewhere")
    await expect(page.get_by_test_id("client-version")).to_have_text(
        f"version {elsewhere['version']}"
    )
    assert await page.get_by_test_id("client-version").inner_text() != version
    await page.get_by_test_id("client-details").locator("input[name=name]").fill("My Rename")
    await page.get_by_role("button", name="Save client").click()
    await expect(page.get_by_role("status").filter(has_text="Saved")).to_be_visible()
    stored = await asyncio.to_thread(rest, stack, "GET", f"/v1/clients/{client}", None)
    assert stored["client"]["name"] == "My Rename"
    assert stored["client"]["industry"] == "Retail"

    # A field the service refuses is marked at the field.
    await details.locator("input[name=timeZone]").fill("Mars/Olympus")
    await page.get_by_role("button", name="Save client").click()
    await expect(page.get_by_test_id("field-error-time_zone")).to_contain_text("time zone")
    await screenshot(page, "client-field-error")

    await page.get_by_role("button", name="Delete client").click()
    await page.get_by_role("button", name="Yes, delete client").click()
    await page.wait_for_url("**/clients")
    await expect(page.get_by_test_id("client-deleted")).to_contain_text(client)
    await expect(page.locator(f"[data-client={client}]")).to_have_count(0)
    with pytest.raises(urllib.error.HTTPError) as gone:
        await asyncio.to_thread(rest, stack, "GET", f"/v1/clients/{client}", None)
    assert gone.value.code == 404


async def test_a_custom_kpi_is_edited_into_a_new_version_and_deleted(
    open_app: OpenApp, stack: Stack
) -> None:
    client = f"ui-ckpi-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await create_empty_client(page, client, "Custom KPI Test")
    form = page.get_by_test_id("custom-kpi-form")
    await form.locator("input[name=code]").fill("OPEN_ORDERS")
    await form.locator("input[name=name]").fill("Open orders")
    await form.locator("textarea[name=formula]").fill("count(ORDER where status = 'open')")
    await expect(form.get_by_test_id("formula-valid")).to_be_visible(timeout=15_000)
    await form.get_by_role("button", name="Add custom KPI").click()
    row = page.locator("[data-custom-kpi=OPEN_ORDERS]")
    await expect(row.get_by_test_id("custom-kpi-version")).to_have_text("v1")

    await row.get_by_role("button", name="Edit").click()
    await expect(form.locator("input[name=code]")).to_have_value("OPEN_ORDERS")
    await form.locator("textarea[name=formula]").fill("count(ORDER where statu = 'shipped')")
    await expect(form.get_by_test_id("formula-error-span")).to_have_text("statu", timeout=15_000)
    await form.get_by_role("button", name="Save new version").click()
    await expect(form.get_by_role("alert")).to_contain_text("formula")
    await form.locator("textarea[name=formula]").fill("count(ORDER where status = 'shipped')")
    await expect(form.get_by_test_id("formula-valid")).to_be_visible(timeout=15_000)
    await form.get_by_role("button", name="Save new version").click()
    await expect(page.get_by_role("status").filter(has_text="version 2")).to_be_visible()
    await expect(row.get_by_test_id("custom-kpi-version")).to_have_text("v2")
    await expect(row).to_contain_text("shipped")
    path = f"/v1/clients/{client}/custom-kpis/OPEN_ORDERS"
    first = await asyncio.to_thread(rest, stack, "GET", f"{path}?version=1", None)
    assert "open" in first["customKpi"]["formula"], "the first version was not kept"

    # Edited elsewhere while this form was open: refused, and reloading shows their version.
    await row.get_by_role("button", name="Edit").click()
    await asyncio.to_thread(change_elsewhere, stack, path, "customKpi", {"name": "Their name"})
    await form.locator("input[name=name]").fill("My name")
    await form.get_by_role("button", name="Save new version").click()
    await expect(form.get_by_test_id("conflict")).to_contain_text("custom KPI OPEN_ORDERS")
    await form.get_by_test_id("conflict").get_by_role("button", name="Reload").click()
    await expect(form.locator("input[name=name]")).to_have_value("Their name")
    await screenshot(page, "custom-kpi-edit")

    await row.get_by_role("button", name="Delete").click()
    await row.get_by_role("button", name="Yes, delete").click()
    await expect(row).to_have_count(0)
    await expect(page.get_by_role("status").filter(has_text="Deleted OPEN_ORDERS")).to_be_visible()


async def test_a_data_source_is_edited_and_deleted_with_messages_at_each_field(
    open_app: OpenApp, stack: Stack
) -> None:
    client = f"ui-dsedit-{uuid.uuid4().hex[:8]}"
    page = await open_app(role="admin", client=client)
    await create_empty_client(page, client, "Data Source Edit Test")
    sources = page.get_by_test_id("data-sources")
    form = sources.get_by_test_id("data-source-form")
    # No object model chosen: the service's message sits under that field.
    await form.get_by_role("button", name="Add data source").click()
    await expect(form.get_by_test_id("field-error-object_model_code")).to_be_visible()

    await form.locator("select[name=objectModel]").select_option("ORDER")
    await form.locator("input[name=sourceSystem]").fill("Shop ERP")
    await form.locator("textarea[name=sourceFields]").fill("id: string\ncreated: timestamp")
    await form.get_by_label("Source of order_id").select_option("id")
    await form.get_by_role("button", name="Add data source").click()
    row = sources.locator("tr[data-model=ORDER]")
    await expect(row).to_contain_text("Shop ERP")

    await row.get_by_role("button", name="Edit").click()
    await expect(form.locator("input[name=sourceSystem]")).to_have_value("Shop ERP")
    await expect(form.get_by_label("Source of order_id")).to_have_value("id")
    await form.locator("input[name=sourceSystem]").fill("Shop ERP 2")
    await form.get_by_role("button", name="Validate mappings").click()
    # Each unmapped required field carries its own message in the mapping table.
    issues = form.locator("[data-testid=field-issues] div")
    await expect(issues.first).to_be_visible(timeout=15_000)
    await screenshot(page, "data-source-edit")
    await form.get_by_role("button", name="Save data source").click()
    await expect(row).to_contain_text("Shop ERP 2")
    stored = await asyncio.to_thread(rest, stack, "GET", f"/v1/clients/{client}/data-sources", None)
    assert [ds["sourceSystem"] for ds in stored["dataSources"]] == ["Shop ERP 2"]

    await row.get_by_role("button", name="Delete").click()
    await row.get_by_role("button", name="Yes, delete").click()
    await expect(row).to_have_count(0)
    stored = await asyncio.to_thread(rest, stack, "GET", f"/v1/clients/{client}/data-sources", None)
    assert stored.get("dataSources", []) == []
