"""Adapters shared by several services, each wrapping one outside concern (PostgreSQL, Redis,
peer services)."""
