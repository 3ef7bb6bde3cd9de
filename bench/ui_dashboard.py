"""The dashboard in a real browser: time from navigating to a 100-KPI dashboard until every panel
shows its value, and the browser-side time from ingesting a row until a panel shows the change.

Headless Debian chromium driven by playwright. Both figures are taken on the page's own clock
(navigation start, a MutationObserver on the panel) against the wall clock of this process,
which shares the machine.

    python bench/ui_dashboard.py [--kpis 100] [--runs 5] [--updates 10] [--data-dir DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import shutil
import statistics
import sys
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import harness
from playwright.async_api import Page, async_playwright

from analytics_engine.credentials import mint_for_data_dir

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Every panel of a 100-KPI dashboard on screen at once (panels subscribe only while visible).
VIEWPORT = {"width": 1920, "height": 2400}
LIVE_KPI = "SCOR_ORDERS_PER_DAY"
DAY = "3"  # Period.DAY in the app's stored preference


def rest(base: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        f"{base}{path}",
        data=None if body is None else json.dumps(body).encode(),
        method=method,
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    with urllib.request.urlopen(request, timeout=600) as response:
        return json.loads(response.read() or b"{}")


def order_row() -> dict[str, Any]:
    now = datetime.datetime.now(datetime.UTC)
    return {
        "order_id": f"BENCH-UI-{uuid.uuid4().hex[:12]}",
        "customer_id": "CUST-1",
        "channel": "web",
        "region": "EU",
        "status": "open",
        "order_value": 10.0,
        "created_at": now.isoformat(),
        "promised_at": (now + datetime.timedelta(days=2)).isoformat(),
    }


async def sign_in(page: Page, client: str) -> None:
    await page.goto("/")
    await page.select_option("select[name=role]", "analyst")
    await page.fill("input[name=client]", client)
    await page.click("button[type=submit]")
    await page.wait_for_selector("[data-testid=who]")


ALL_PANELS_SHOW_VALUES = """(expected) => {
  const shown = document.querySelectorAll('article.panel [data-testid=panel-value]').length;
  return shown === expected ? performance.now() : false;
}"""


async def navigation_to_values(page: Page, codes: list[str], runs: int) -> list[float]:
    """Milliseconds from navigation start to every panel showing a value, per run."""
    timings = []
    url = f"/dashboard?kpis={','.join(codes)}"
    for _ in range(runs):
        await page.goto("about:blank")
        await page.goto(url, wait_until="commit")
        handle = await page.wait_for_function(
            ALL_PANELS_SHOW_VALUES, arg=len(codes), polling="raf", timeout=60_000
        )
        timings.append(float(await handle.json_value()))
    return timings


WATCH_PANEL = """(code) => {
  window.__changes = [];
  const panel = document.querySelector(`article.panel[data-kpi=${code}]`);
  const value = panel.querySelector('[data-testid=panel-value]');
  new MutationObserver(() => window.__changes.push(performance.timeOrigin + performance.now()))
    .observe(value, {characterData: true, childList: true, subtree: true});
}"""


async def ingest_to_panel(
    page: Page, base: str, token: str, client: str, updates: int
) -> list[float]:
    """Milliseconds from sending an ingest to the panel's text changing, per ingest."""
    await page.evaluate(f"localStorage.setItem('ae.dashboard.period', '{DAY}')")
    await page.goto(f"/dashboard?kpis={LIVE_KPI}")
    await page.wait_for_selector(f"article.panel[data-kpi={LIVE_KPI}] [data-testid=panel-value]")
    await page.wait_for_selector("[data-status=live]")
    await page.evaluate(WATCH_PANEL, LIVE_KPI)
    latencies = []
    for i in range(updates):
        sent = time.time() * 1000
        await asyncio.to_thread(
            rest,
            base,
            token,
            "POST",
            "/v1/data/ORDER:ingest",
            {"clientId": client, "rows": [order_row()]},
        )
        seen = await page.wait_for_function(
            "(n) => window.__changes.length > n && window.__changes[n]", arg=i, timeout=30_000
        )
        latencies.append(float(await seen.json_value()) - sent)
        await asyncio.sleep(0.3)
    return latencies


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):.0f} ms, p90 {p90:.0f} ms, max {ordered[-1]:.0f} ms"


async def run(args: argparse.Namespace, record: Any) -> None:
    chromium = shutil.which("chromium")
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    base = record.public_url.rstrip("/")
    admin = mint_for_data_dir(Path(record.data_dir), role="admin", ttl_seconds=3600)
    client = f"bench-ui-{uuid.uuid4().hex[:6]}"
    codes = [k["code"] for k in rest(base, admin, "GET", "/v1/kpis")["kpis"]][: args.kpis]
    rest(
        base, admin, "POST", "/v1/demo/generate", {"clientId": client, "days": 2, "rowsPerDay": 200}
    )
    print(f"stack at {base}; client {client} with 2 days of demo data; {len(codes)} KPIs")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            context = await browser.new_context(viewport=VIEWPORT, base_url=base)
            page = await context.new_page()
            await sign_in(page, client)
            # The first load computes every KPI's history; the later ones find it cached.
            cold = await navigation_to_values(page, codes, 1)
            print(f"  first load (cold caches) → all panels showing values: {cold[0]:.0f} ms")
            timings = await navigation_to_values(page, codes, args.runs)
            print(
                f"  navigation → all {len(codes)} panels showing values: {summary(timings)} "
                f"over {len(timings)} loads (target ≤ 1000 ms)"
            )
            latencies = await ingest_to_panel(page, base, admin, client, args.updates)
            print(
                f"  ingest sent → panel changed in the browser: {summary(latencies)} "
                f"over {len(latencies)} rows"
            )
        finally:
            await browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kpis", type=int, default=100)
    parser.add_argument("--runs", type=int, default=5, help="dashboard loads measured")
    parser.add_argument("--updates", type=int, default=10, help="ingests measured")
    parser.add_argument("--data-dir", help="measure the stack running there instead")
    args = parser.parse_args()
    with harness.stack(args.data_dir) as record:
        asyncio.run(run(args, record))


if __name__ == "__main__":
    main()
