"""Live KPIs: the calculation side of streaming (ARCHITECTURE §4 "Streaming").

- `subscriptions`: what a stream watches and its deterministic key.
- `buckets`: which buckets are live and which of them a change touches (pure).
- `registry`: leases held by gateway hubs, in Redis, shared by every calculation replica.
- `published`: what was last published per subscription, compared and published atomically.
- `updates`: KpiUpdated messages built from calculated results.
- `recompute`: the consumer of DataChanged that recomputes only what live subscriptions show.
- `servicer`: CalculationInternalService (lease, release, snapshots) for the hubs.
"""
