-- The outbox relay (services/data/relay.py) publishes each change_outbox row to the bus as a
-- DataChanged event and then stamps it relayed. Rows are stamped only after Redis accepted them,
-- so a bus outage leaves them waiting here, not lost.
ALTER TABLE analytics.change_outbox ADD COLUMN relayed_at timestamptz;

-- Changes recorded before the relay existed were never announced and nobody waits for them now:
-- announcing them at upgrade would only flood the bus with stale ranges.
UPDATE analytics.change_outbox SET relayed_at = created_at;

-- The relay's work queue: only the rows still to publish, in id order. Stays small however long
-- the relayed history grows.
CREATE INDEX change_outbox_unrelayed ON analytics.change_outbox (id) WHERE relayed_at IS NULL;

-- Relayed rows are pruned after a while; this finds them without scanning the pending ones.
CREATE INDEX change_outbox_relayed_at ON analytics.change_outbox (relayed_at)
    WHERE relayed_at IS NOT NULL;
