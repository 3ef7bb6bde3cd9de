"""Deterministic, realistic demo data for every catalog object model.

`generator.generate(...)` simulates one client's business (orders flowing to shipments,
invoices, payments and returns; purchasing, production and inventory; leads, customers,
subscriptions, surveys and support; the sales pipeline and quotas; the general ledger) and yields
rows per object model in batches, lazily. The same (seed, client, range, volume) always gives the
same rows. Nothing here knows about gRPC or SQL; `loader` and `rpc` are the adapters.
"""
