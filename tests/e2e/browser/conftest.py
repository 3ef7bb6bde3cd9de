"""The browser app in headless chromium (Debian's, driven by playwright; no browser download),
against the stack the test session started, signed in through the app's own sign-in screen.

Every page a test visits is saved as a screenshot under test-artifacts/browser/.
"""

from __future__ import annotations

import json
import shutil
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright

from services.security.keys import KeyFiles, ensure_key_pair
from services.security.tokens import mint_token
from tests.fixtures.stack import ROOT, Stack

ARTIFACTS = ROOT / "test-artifacts" / "browser"
# What runs as root in a container without a display (see FACTS: chromium as root).
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT: ViewportSize = {"width": 1400, "height": 900}

OpenApp = Callable[..., Awaitable[Page]]


def chromium_path() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get install chromium)")
    return found


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium_path(), args=CHROMIUM_FLAGS, headless=True
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def open_app(browser: Browser, stack: Stack) -> AsyncIterator[OpenApp]:
    """`await open_app(role=..., client=...)`: a fresh browser profile signed in as that
    development identity. JavaScript errors on any of its pages fail the test."""
    contexts = []
    errors: list[str] = []

    async def open_signed_in(*, client: str, role: str = "analyst") -> Page:
        context = await browser.new_context(viewport=VIEWPORT, base_url=stack.url)
        contexts.append(context)
        page = await context.new_page()
        page.on("pageerror", lambda error: errors.append(str(error)))
        await page.goto("/")
        await page.select_option("select[name=role]", role)
        await page.fill("input[name=client]", client)
        await page.click("button[type=submit]")
        await page.wait_for_selector("[data-testid=who]")
        return page

    yield open_signed_in
    for context in contexts:
        await context.close()
    assert not errors, f"JavaScript errors in the app: {errors}"


async def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


def admin_token(stack: Stack) -> str:
    key = ensure_key_pair(KeyFiles.of_data_dir(stack.data_dir))
    return mint_token(key, role="admin")


def rest(stack: Stack, method: str, path: str, body: dict[str, Any] | None) -> dict[str, Any]:
    """A REST call through Envoy as an admin."""
    request = urllib.request.Request(
        f"{stack.url}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {admin_token(stack)}",
        },
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        reply: dict[str, Any] = json.loads(response.read() or b"{}")
        return reply
