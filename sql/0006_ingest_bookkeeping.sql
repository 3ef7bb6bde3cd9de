-- Bookkeeping of client-data ingest (services/data/store.py), written in the same transaction as
-- the rows and rollups it describes.

-- Per client and object model: a version bumped by every committed change (cache keys of
-- calculated answers include it, so a cached answer is never older than the data) and the newest
-- time-field value seen (the watermark values report).
CREATE TABLE analytics.data_versions (
    client_id          text        NOT NULL,
    object_model_code  text        NOT NULL,
    version            bigint      NOT NULL,
    watermark          timestamptz,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, object_model_code)
);

-- Transactional outbox: one row per committed change, relayed to the bus as DataChanged by the
-- data service (rows are written with the change, so no change is announced that did not commit
-- and none is lost when the bus is down). [range_start, range_end) is bucket-aligned: the minutes
-- (or, for date-placed object models, the days) whose rows changed.
CREATE TABLE analytics.change_outbox (
    id                 bigserial   PRIMARY KEY,
    client_id          text        NOT NULL,
    object_model_code  text        NOT NULL,
    range_start        timestamptz NOT NULL,
    range_end          timestamptz NOT NULL,
    watermark          timestamptz,
    row_count          bigint      NOT NULL,
    data_version       bigint      NOT NULL,
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- Every ingested batch with its answer. A batch sent again with the same idempotency key (per
-- client and object model) gets the stored answer instead of being applied twice.
CREATE TABLE analytics.ingest_batches (
    ingest_id            uuid        PRIMARY KEY,
    client_id            text        NOT NULL,
    object_model_code    text        NOT NULL,
    -- '' when the sender relied on natural keys alone.
    idempotency_key      text        NOT NULL DEFAULT '',
    source_system        text        NOT NULL DEFAULT '',
    accepted_row_count   bigint      NOT NULL,
    duplicate_row_count  bigint      NOT NULL,
    data_version         bigint      NOT NULL,
    watermark            timestamptz,
    range_start          timestamptz,
    range_end            timestamptz,
    created_at           timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX ingest_batches_idempotency_key
    ON analytics.ingest_batches (client_id, object_model_code, idempotency_key)
    WHERE idempotency_key <> '';
CREATE INDEX ingest_batches_created_at ON analytics.ingest_batches (created_at);
