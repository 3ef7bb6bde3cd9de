"""Partner quick start: list the catalog through the gateway with the typed SDK.

    python examples/sdk_quickstart.py localhost:8080 [TOKEN]

The test suite runs `mypy --strict` over this file, so it doubles as a check that the SDK's types
hold (a misspelt field or a wrong request type fails the build).
"""

from __future__ import annotations

import asyncio
import sys

from analytics.catalog.v1 import catalog_pb2
from analytics_sdk import AnalyticsClient


async def list_kpis(target: str, token: str | None) -> list[str]:
    async with AnalyticsClient(target, token=token, default_timeout=5.0) as client:
        chains = await client.catalog.ListValueChains(catalog_pb2.ListValueChainsRequest())
        lines = [
            f"{chain.code}: {chain.name} ({chain.kpi_count} KPIs)" for chain in chains.value_chains
        ]
        reply = await client.catalog.ListKpis(catalog_pb2.ListKpisRequest(value_chain_code="SCOR"))
        lines += [f"  {kpi.code} {kpi.name} [{kpi.unit}]" for kpi in reply.kpis]
        return lines


def main() -> None:
    target = sys.argv[1] if len(sys.argv) > 1 else "localhost:8080"
    token = sys.argv[2] if len(sys.argv) > 2 else None
    for line in asyncio.run(list_kpis(target, token)):
        print(line)


if __name__ == "__main__":
    main()
