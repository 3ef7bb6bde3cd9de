-- Priced service proposals, every version kept. A proposal is immutable once issued: the priced
-- contract message and both renderings of its document are stored as issued, so a later change of
-- the price tables never changes a proposal a client has already received. client_id refers to a
-- configured client or a prospect that has none yet, so it is not a foreign key.

CREATE TABLE config.proposals (
    proposal_id          text        PRIMARY KEY,
    client_id            text        NOT NULL CHECK (client_id <> ''),
    version              integer     NOT NULL CHECK (version >= 1),
    client_name          text        NOT NULL,
    issue_time           timestamptz NOT NULL,
    valid_until          timestamptz NOT NULL CHECK (valid_until > issue_time),
    created_by           text        NOT NULL,
    -- Totals in cents, for reports that do not parse the message.
    yearly_recurring_cents  bigint   NOT NULL,
    term_total_min_cents    bigint   NOT NULL,
    term_total_max_cents    bigint   NOT NULL CHECK (term_total_max_cents >= term_total_min_cents),
    -- analytics.config.v1.ServiceProposal in its binary form.
    proposal             bytea       NOT NULL,
    document_markdown    text        NOT NULL,
    document_html        text        NOT NULL,
    create_time          timestamptz NOT NULL DEFAULT now(),
    UNIQUE (client_id, version)
);
CREATE INDEX ON config.proposals (issue_time DESC, proposal_id);
