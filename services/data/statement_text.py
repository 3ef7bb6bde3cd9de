"""The text of the data service's long generated statements, as sent."""

from __future__ import annotations


def compact(statement: str) -> str:
    """The statement without its comment lines and indentation. asyncpg keeps a prepared
    statement, and with it PostgreSQL's plan, only for statements of up to 15 KiB; a longer one
    is parsed and planned again on every call."""
    lines = (line.strip() for line in statement.splitlines())
    return "\n".join(line for line in lines if line and not line.startswith("--"))
