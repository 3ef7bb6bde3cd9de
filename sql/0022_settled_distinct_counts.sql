-- Distinct counts of settled buckets, kept so a long series of them is read instead of counted
-- again (services/data/settled_distinct.py). A distinct count per day cannot be summed from the
-- per-minute rollups (a customer ordering twice in a day counts once), and counting a year of
-- them hashes about as many (day, value) pairs as there are rows. A kept count is only used
-- while the rows it was counted from are unchanged, which the day stamps below tell.

-- Per client, object model and UTC day of the model's time field (for a date-placed model, the
-- date itself): a stamp given anew, in the same transaction, by every write of rows of that
-- day (ingest, bulk loads, moved copies of related rows' fields). Day '-infinity' is the stamp
-- of all the client's rows of the model, given anew when they are deleted. Stamps come from one
-- sequence, so a stamp once replaced never comes back.
CREATE SEQUENCE analytics.row_day_stamp;

CREATE TABLE analytics.row_day_stamps (
    client_id          text   NOT NULL,
    object_model_code  text   NOT NULL,
    day                date   NOT NULL,
    stamp              bigint NOT NULL,
    PRIMARY KEY (client_id, object_model_code, day)
);

-- Per client, object model, distinct measure (`measure_key`: a digest of the measure, the row
-- filter, the time field and the object model's definition; never a series' range), time zone
-- and bucket period: the distinct count of one whole bucket and the stamps it was counted at
-- (the model's '-infinity' stamp, then those of every day the bucket overlaps, in order; 0 for
-- a day with no stamp). It is current while the stamps are the same. A total over a past range
-- is kept as one bucket of period 'range' at the range's start, its end in the measure key.
CREATE TABLE analytics.settled_distinct_counts (
    client_id          text        NOT NULL,
    object_model_code  text        NOT NULL,
    measure_key        bytea       NOT NULL,
    time_zone          text        NOT NULL,
    period             text        NOT NULL,
    bucket_start       timestamptz NOT NULL,
    value              bigint      NOT NULL,
    stamps             bigint[]    NOT NULL,
    computed_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, object_model_code, measure_key, time_zone, period, bucket_start)
);
