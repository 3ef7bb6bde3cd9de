"""Data service: time-series tables, durable idempotent ingest, aggregate queries and change
events.
"""
