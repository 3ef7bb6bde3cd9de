"""The live dashboard in the browser: values from the one dashboard stream, a new row moving a
panel without a reload, the period remembered, and the stream coming back after the gateway
restarts."""

from __future__ import annotations

import asyncio
import datetime
import os
import re
import signal
import uuid
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from tests.e2e.browser.conftest import OpenApp, rest, screenshot
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack

KPI = "SCOR_ORDERS_PER_DAY"  # count(ORDER where status != 'cancelled') / period_days()
UPDATE_SECONDS = 20.0
RECONNECT_SECONDS = 120.0


def new_client(purpose: str) -> str:
    return f"ui-{purpose}-{uuid.uuid4().hex[:8]}"


async def ingest_orders(stack: Stack, client: str, count: int) -> None:
    now = datetime.datetime.now(datetime.UTC)
    rows = [
        {
            "order_id": f"UI-{uuid.uuid4().hex[:12]}",
            "customer_id": "CUST-1",
            "channel": "web",
            "region": "EU",
            "status": "open",
            "order_value": 99.5,
            "created_at": now.isoformat(),
            "promised_at": (now + datetime.timedelta(days=3)).isoformat(),
        }
        for _ in range(count)
    ]
    await asyncio.to_thread(
        rest, stack, "POST", "/v1/data/ORDER:ingest", {"clientId": client, "rows": rows}
    )


def value_of(page: Page, kpi: str = KPI):  # type: ignore[no-untyped-def]
    return page.locator(f"article.panel[data-kpi={kpi}] [data-testid=panel-value]")


async def open_dashboard(open_app: OpenApp, client: str) -> Page:
    page = await open_app(client=client)
    await page.goto(f"/dashboard?kpis={KPI}")
    await page.get_by_role("button", name="Day").click()
    await expect(page.get_by_test_id("live-status")).to_have_attribute("data-status", "live")
    return page


async def test_a_panel_moves_when_a_row_is_ingested_without_a_reload(
    open_app: OpenApp, stack: Stack
) -> None:
    client = new_client("live")
    await ingest_orders(stack, client, 1)
    page = await open_dashboard(open_app, client)
    value = value_of(page)
    await expect(value).to_have_text(re.compile(r"^1\b"), timeout=UPDATE_SECONDS * 1000)
    await page.evaluate("window.__sameDocument = true")

    await ingest_orders(stack, client, 2)
    await expect(value).to_have_text(re.compile(r"^3\b"), timeout=UPDATE_SECONDS * 1000)
    assert await page.evaluate("window.__sameDocument === true"), "the page was reloaded"
    footer = await page.locator(f"article.panel[data-kpi={KPI}] footer").inner_text()
    assert re.search(r"updated \d\d:\d\d:\d\d", footer) and re.search(r"next \d\d:\d\d", footer)
    await screenshot(page, "dashboard")

    # The period is remembered across visits.
    await page.reload()
    await expect(page.get_by_role("button", name="Day")).to_have_attribute("aria-pressed", "true")
    await expect(value).to_have_text(re.compile(r"^3\b"))


async def test_the_dashboard_reconnects_after_the_hubs_restart(
    open_app: OpenApp, stack: Stack
) -> None:
    client = new_client("reconnect")
    await ingest_orders(stack, client, 1)
    page = await open_dashboard(open_app, client)
    status = page.get_by_test_id("live-status")
    await expect(value_of(page)).to_have_text(re.compile(r"^1\b"), timeout=UPDATE_SECONDS * 1000)

    # Every hub: the page's stream is on one of them.
    hubs = stack.state().instances("gateway")
    assert hubs
    for hub in hubs:
        os.kill(hub.pid, signal.SIGKILL)
    await expect(status).to_have_attribute(
        "data-status", re.compile("reconnecting|disconnected"), timeout=UPDATE_SECONDS * 1000
    )
    await screenshot(page, "dashboard-reconnecting")
    # The supervisor restarts the hubs; the app reconnects on its own and gets a new snapshot.
    await expect(status).to_have_attribute("data-status", "live", timeout=RECONNECT_SECONDS * 1000)
    await ingest_orders(stack, client, 1)
    await expect(value_of(page)).to_have_text(re.compile(r"^2\b"), timeout=UPDATE_SECONDS * 1000)
    await screenshot(page, "dashboard-live-again")


async def test_drill_down_history_and_export(open_app: OpenApp, stack: Stack) -> None:
    client = new_client("drill")
    await ingest_orders(stack, client, 2)
    page = await open_dashboard(open_app, client)
    await expect(value_of(page)).to_have_text(re.compile(r"^2\b"), timeout=UPDATE_SECONDS * 1000)
    await (
        page.locator(f"article.panel[data-kpi={KPI}]")
        .get_by_role("button", name="Drill down")
        .click()
    )
    detail = page.get_by_test_id("kpi-detail")
    await expect(detail.get_by_text("History compared with the previous period")).to_be_visible()
    # The range's total and the previous period's, from Calculate with a comparison.
    summary = detail.get_by_text(re.compile(r"^Total .*; previous period"))
    await expect(summary).to_be_visible(timeout=UPDATE_SECONDS * 1000)

    await detail.get_by_label("Breakdown dimension").select_option("region")
    breakdown = detail.locator(".breakdown table")
    await expect(breakdown.locator("tbody tr")).to_have_count(1, timeout=UPDATE_SECONDS * 1000)
    assert (await breakdown.locator("tbody tr td").first.inner_text()) == "EU"
    await screenshot(page, "dashboard-drill-down")

    async with page.expect_download() as download_info:
        await detail.get_by_role("button", name="Export CSV").click()
    download = await download_info.value
    path = await download.path()
    assert path is not None
    content = await asyncio.to_thread(Path(path).read_text)
    assert KPI in content and download.suggested_filename.endswith(".csv")
