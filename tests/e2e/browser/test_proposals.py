"""A client's saved proposals in the browser: the list with versions, issue date and valid-until,
and one opened with its document, downloadable as Markdown, HTML and PDF."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import expect

from tests.e2e.browser.conftest import OpenApp, rest, screenshot
from tests.e2e.browser.test_configuration import KPIS
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack


def save_proposals(stack: Stack, client: str, count: int) -> list[dict[str, Any]]:
    """A client with the test KPIs and `count` saved proposal versions, through REST."""
    rest(stack, "POST", "/v1/clients", {
        "clientId": client,
        "name": f"Proposal List {client}",
        "selectedKpis": [
            {"kpiCode": code, "complexity": "IMPLEMENTATION_COMPLEXITY_OTB"} for code in KPIS
        ],
    })
    questionnaire = rest(stack, "POST", "/v1/proposals/questionnaire", {"clientId": client})
    inputs = {**questionnaire["inputs"], "clientId": client}
    return [rest(stack, "POST", "/v1/proposals", {"inputs": inputs})["proposal"]
            for _ in range(count)]


async def test_a_clients_proposals_are_listed_opened_and_downloaded(
    open_app: OpenApp, stack: Stack
) -> None:
    client = f"ui-proposals-{uuid.uuid4().hex[:8]}"
    saved = await asyncio.to_thread(save_proposals, stack, client, 2)
    page = await open_app(role="sales", client=client)
    await page.get_by_test_id("nav").get_by_role("link", name="Proposals", exact=True).click()
    rows = page.locator("[data-testid=proposals] tbody tr")
    await expect(rows).to_have_count(2)
    # Newest first, each with its version, issue date and 30-day validity.
    assert [await row.get_attribute("data-version") for row in await rows.all()] == ["2", "1"]
    first = page.locator(f"tr[data-proposal-id='{saved[0]['proposalId']}']")
    await expect(first).to_contain_text("v1")
    await expect(first).to_contain_text("days left")
    await screenshot(page, "proposal-list")

    await first.get_by_role("link", name="Open").click()
    document = page.get_by_test_id("proposal")
    await expect(document).to_have_attribute("data-proposal-id", saved[0]["proposalId"])
    await expect(page.get_by_test_id("proposal-meta")).to_contain_text("version 1")
    await expect(page.get_by_test_id("proposal-document")).to_contain_text("Service Proposal")
    await screenshot(page, "proposal-opened")

    for button, suffix, starts in (
        ("Download Markdown", ".md", b"#"),
        ("Download HTML", ".html", b"<"),
        ("Download PDF", ".pdf", b"%PDF"),
    ):
        async with page.expect_download() as waiting:
            await page.get_by_role("button", name=button).click()
        download = await waiting.value
        assert download.suggested_filename.endswith(suffix), download.suggested_filename
        path = await download.path()
        content = await asyncio.to_thread(Path(path).read_bytes)
        assert content.lstrip().startswith(starts), button
