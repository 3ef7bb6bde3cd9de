"""A viewer of one client never sees another client's values in the browser, even after
pointing the app at the other client by hand (the token still names only their own); and each
role sees only the pages it may use, with a sentence saying why when it opens one by address."""

from __future__ import annotations

import asyncio
import json
import re

import pytest
from playwright.async_api import expect

from tests.e2e.browser.conftest import OpenApp, rest, screenshot
from tests.e2e.browser.test_dashboard import (
    KPI,
    UPDATE_SECONDS,
    ingest_orders,
    new_client,
    open_dashboard,
    value_of,
)
from tests.fixtures.stack import Stack

pytestmark = pytest.mark.stack


async def test_a_viewer_never_sees_another_clients_values(open_app: OpenApp, stack: Stack) -> None:
    mine, theirs = new_client("tenant-a"), new_client("tenant-b")
    await ingest_orders(stack, mine, 1)
    await ingest_orders(stack, theirs, 5)
    page = await open_dashboard(open_app, mine)
    await expect(value_of(page)).to_have_text(re.compile(r"^1\b"), timeout=UPDATE_SECONDS * 1000)

    # Tamper with the stored identity: same token (bound to `mine`), other client in requests.
    session = json.loads(await page.evaluate("localStorage.getItem('ae.session')"))
    session["identity"]["clientId"] = theirs
    await page.evaluate("s => localStorage.setItem('ae.session', s)", json.dumps(session))
    await page.reload()
    status = page.get_by_test_id("live-status")
    await expect(status).to_have_attribute(
        "data-status", re.compile("live|disconnected"), timeout=UPDATE_SECONDS * 1000
    )
    panel = page.locator(f"article.panel[data-kpi={KPI}]")
    if await status.get_attribute("data-status") == "live":
        # Served from the token's tenant, whatever the request said.
        await expect(value_of(page)).to_have_text(re.compile(r"^1\b"))
    else:
        # Refused: another tenant's client is not permitted, or not even said to exist.
        assert re.match(r"Not permitted|Not found", await status.get_attribute("title") or "")
    await page.wait_for_timeout(1000)
    assert not re.search(r"\b5 orders", await panel.inner_text())
    assert "5 orders" not in await page.inner_text("body")
    await screenshot(page, "tenancy-tampered")


async def test_a_viewer_never_sees_another_clients_name(open_app: OpenApp, stack: Stack) -> None:
    mine, theirs = new_client("names-a"), new_client("names-b")
    secret = f"Confidential Corp {theirs}"
    for client, name in ((mine, f"Own Corp {mine}"), (theirs, secret)):
        await asyncio.to_thread(
            rest, stack, "POST", "/v1/clients", {"clientId": client, "name": name}
        )
    page = await open_app(client=mine)
    await page.goto("/clients")
    await expect(page.get_by_role("heading", name="Clients")).to_be_visible()
    # Either their own client only, or a refusal: never the other client.
    await expect(page.locator("[data-testid=clients], [role=alert]").first).to_be_visible()
    assert secret not in await page.inner_text("body")
    await page.goto(f"/clients/{theirs}")
    await expect(page.get_by_role("alert")).to_be_visible()
    body = await page.inner_text("body")
    assert secret not in body
    await screenshot(page, "tenancy-other-client")


# The navigation each role gets (services/security/permissions.py): link name → shown.
NAVIGATION = {
    "analyst": {"Dashboard": True, "Clients": True, "Proposals": False, "New proposal": False},
    "manager": {"Dashboard": True, "Clients": True, "Proposals": True, "New proposal": False},
    "sales": {"Dashboard": True, "Clients": True, "Proposals": True, "New proposal": True},
    "operator": {"Dashboard": False, "Clients": False, "Proposals": False,
                 "New proposal": False},
}


@pytest.mark.parametrize("role", sorted(NAVIGATION))
async def test_each_role_sees_only_the_pages_it_may_use(
    open_app: OpenApp, stack: Stack, role: str
) -> None:
    client = new_client(f"role-{role}")
    await asyncio.to_thread(
        rest, stack, "POST", "/v1/clients", {"clientId": client, "name": f"Role Test {client}"}
    )
    page = await open_app(role=role, client=client)
    nav = page.get_by_test_id("nav")
    await expect(nav.get_by_role("link", name="Catalog")).to_be_visible()
    for link, shown in NAVIGATION[role].items():
        exact = link != "Dashboard"  # the dashboard link carries the cart count
        await expect(nav.get_by_role("link", name=link, exact=exact)).to_have_count(int(shown))
    await screenshot(page, f"navigation-{role}")

    for path, link_name in (("/proposals/new", "New proposal"), ("/clients", "Clients")):
        if NAVIGATION[role][link_name]:
            continue
        await page.goto(path)
        denied = page.get_by_test_id("denied")
        await expect(denied).to_contain_text(f"Your role ({role}) may not use")
        if role == "operator":
            assert f"Role Test {client}" not in await page.inner_text("body")
    if role == "analyst":
        # Reads the configuration, changes nothing: no save, no forms, no wizard link.
        await page.goto(f"/clients/{client}")
        name = page.get_by_test_id("client-details").locator("input[name=name]")
        await expect(name).to_have_value(f"Role Test {client}")
        await expect(name).to_be_disabled()
        await expect(page.get_by_role("button", name="Save client")).to_have_count(0)
        await expect(page.get_by_test_id("custom-kpi-form")).to_have_count(0)
        await expect(page.get_by_role("link", name="Proposal wizard")).to_have_count(0)
        await page.goto("/proposals/new")
        await expect(page.get_by_test_id("denied")).to_have_text(
            "Your role (analyst) may not use the proposal wizard. "
            "It is open to sales and admin users."
        )
        await screenshot(page, "denied-analyst-wizard")
