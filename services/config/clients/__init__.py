"""Client configurations: clients with their selected KPIs, custom KPIs, data sources with field
mappings, and the required-objects analysis. `model` holds the values, `rules`, `mappings`,
`custom_kpis` and `analysis` the pure checks, `store` the PostgreSQL tables, `service` the use
cases with their tenancy rules, `servicer` and `messages` the gRPC edge."""
