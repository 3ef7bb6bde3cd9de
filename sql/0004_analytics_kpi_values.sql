-- Computed KPI values: one row per (client, KPI, period, security context, dimension values,
-- bucket). Written by scheduled batch jobs and streaming recomputation; read for history and
-- dashboards. A time-series table (hypertable or monthly partitions) on bucket_start.
SELECT public.create_time_series_table(
    'analytics', 'kpi_values',
    $columns$
        client_id         text             NOT NULL,
        kpi_code          text             NOT NULL,
        period            text             NOT NULL
            CHECK (period IN ('minute', 'hour', 'day', 'week', 'month')),
        bucket_start      timestamptz      NOT NULL,
        -- NULL when the KPI has no value in the bucket (e.g. a ratio over zero rows);
        -- no_value_reason then says why.
        value             double precision,
        no_value_reason   text,
        computed_at       timestamptz      NOT NULL DEFAULT now(),
        -- Newest data change the value reflects.
        watermark         timestamptz,
        -- Group-by values of a breakdown; '{}' for the total.
        dimensions        jsonb            NOT NULL DEFAULT '{}'::jsonb,
        -- Key of the row-security context the value was computed under ('' = unrestricted),
        -- so RBAC-filtered values never mix with unrestricted ones.
        security_context  text             NOT NULL DEFAULT '',
        PRIMARY KEY (client_id, kpi_code, period, security_context, dimensions, bucket_start)
    $columns$,
    'bucket_start'
);

CREATE INDEX kpi_values_recent_idx
    ON analytics.kpi_values (client_id, kpi_code, period, bucket_start DESC);
