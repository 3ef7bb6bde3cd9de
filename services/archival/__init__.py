"""Archival service: retention policies, archives in cold storage with an index, retrieval."""
