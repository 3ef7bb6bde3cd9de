"""Saved proposals in PostgreSQL (table config.proposals, sql/0010_proposals.sql).

A client's proposals are numbered 1, 2, 3, … in issue order. The next number is taken under a
transaction-scoped advisory lock on the client, so two proposals created at once for one client get
consecutive versions instead of one failing on the unique constraint.
"""

from __future__ import annotations

import datetime
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import asyncpg

from services.paging import Page, paginate

Database = asyncpg.Pool

# Namespaces the advisory lock so it cannot collide with other users of pg_advisory_xact_lock.
_LOCK_NAMESPACE = 0x70726F70  # "prop"


@dataclass(frozen=True)
class ProposalRecord:
    """One issued proposal as stored: its identity and the issued message and documents."""

    proposal_id: str
    client_id: str
    version: int
    client_name: str
    issue_time: datetime.datetime
    valid_until: datetime.datetime
    created_by: str
    yearly_recurring_cents: int
    term_total_min_cents: int
    term_total_max_cents: int
    proposal: bytes
    document_markdown: str
    document_html: str


@dataclass(frozen=True)
class Numbering:
    """What the store decides for a new proposal before it is built."""

    proposal_id: str
    version: int


PROPOSAL_ID = re.compile(r"^prop-[0-9a-f]{16}$")


def new_proposal_id() -> str:
    return f"prop-{uuid.uuid4().hex[:16]}"


async def insert_proposal(
    db: Database, client_id: str, build: Callable[[Numbering], ProposalRecord]
) -> ProposalRecord:
    """Saves the client's next proposal; `build` makes the record once its number is known."""
    async with db.acquire() as connection, connection.transaction():
        await connection.execute(
            "SELECT pg_advisory_xact_lock($1, hashtext($2))", _LOCK_NAMESPACE, client_id)
        version = await connection.fetchval(
            "SELECT coalesce(max(version), 0) + 1 FROM config.proposals WHERE client_id = $1",
            client_id)
        record = build(Numbering(new_proposal_id(), int(version)))
        await connection.execute(
            """
            INSERT INTO config.proposals (
                proposal_id, client_id, version, client_name, issue_time, valid_until, created_by,
                yearly_recurring_cents, term_total_min_cents, term_total_max_cents, proposal,
                document_markdown, document_html)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
            """,
            record.proposal_id, record.client_id, record.version, record.client_name,
            record.issue_time, record.valid_until, record.created_by,
            record.yearly_recurring_cents, record.term_total_min_cents,
            record.term_total_max_cents, record.proposal, record.document_markdown,
            record.document_html,
        )
    return record


async def get_proposal(db: Database, proposal_id: str) -> ProposalRecord | None:
    row = await db.fetchrow(f"{_SELECT} WHERE proposal_id = $1", proposal_id)
    return None if row is None else _record(row)


async def list_proposals(
    db: Database, client_id: str | None, page_size: int, page_token: str
) -> Page[ProposalRecord]:
    """Newest first (issue time, then version); `client_id` None for every client."""
    ids: Sequence[asyncpg.Record] = await db.fetch(
        """
        SELECT proposal_id FROM config.proposals
        WHERE $1::text IS NULL OR client_id = $1
        ORDER BY issue_time DESC, version DESC, proposal_id
        """,
        client_id,
    )
    page = paginate([row["proposal_id"] for row in ids], page_size, page_token)
    rows = await db.fetch(f"{_SELECT} WHERE proposal_id = ANY($1::text[])", list(page.items))
    by_id = {row["proposal_id"]: _record(row) for row in rows}
    return Page([by_id[i] for i in page.items if i in by_id], page.next_page_token,
                page.total_size)


_SELECT = """
    SELECT proposal_id, client_id, version, client_name, issue_time, valid_until, created_by,
           yearly_recurring_cents, term_total_min_cents, term_total_max_cents, proposal,
           document_markdown, document_html
    FROM config.proposals
"""


def _record(row: asyncpg.Record) -> ProposalRecord:
    return ProposalRecord(
        proposal_id=row["proposal_id"],
        client_id=row["client_id"],
        version=row["version"],
        client_name=row["client_name"],
        issue_time=row["issue_time"],
        valid_until=row["valid_until"],
        created_by=row["created_by"],
        yearly_recurring_cents=row["yearly_recurring_cents"],
        term_total_min_cents=row["term_total_min_cents"],
        term_total_max_cents=row["term_total_max_cents"],
        proposal=bytes(row["proposal"]),
        document_markdown=row["document_markdown"],
        document_html=row["document_html"],
    )
