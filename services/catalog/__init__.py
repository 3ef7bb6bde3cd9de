"""The catalog service: value chains, modules, object models, KPI definitions and sample data."""
