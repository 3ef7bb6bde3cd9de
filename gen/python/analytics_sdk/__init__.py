"""Analytics Engine Python SDK: typed async clients over the generated gRPC stubs.

    async with AnalyticsClient("localhost:8080", token=TOKEN) as client:
        reply = await client.catalog.ListKpis(catalog_pb2.ListKpisRequest(value_chain_code="SCOR"))
"""

from analytics_sdk.client import DEFAULT_TIMEOUT_SECONDS, AnalyticsClient

__all__ = ["DEFAULT_TIMEOUT_SECONDS", "AnalyticsClient"]
