-- Time-series tables that behave the same with or without TimescaleDB (ARCHITECTURE §6).
--
-- public.create_time_series_table() creates a table from a column list and makes it either a
-- TimescaleDB hypertable (when the extension is installed) or a natively RANGE-partitioned table
-- with monthly partitions plus a DEFAULT partition. Either way the table keeps its name, columns
-- and primary key, so every query and every INSERT ... ON CONFLICT is identical on both.

-- Install TimescaleDB when the server offers it. It also needs shared_preload_libraries, so a
-- failure here is not an error: the native partitioning path is the fallback.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb') THEN
        BEGIN
            CREATE EXTENSION IF NOT EXISTS timescaledb;
        EXCEPTION WHEN OTHERS THEN
            RAISE NOTICE 'timescaledb is available but could not be created (%); using native partitioning', SQLERRM;
        END;
    END IF;
END
$$;

-- Which tables are time series and how they are stored; the archival service and maintenance
-- jobs read this instead of guessing.
CREATE TABLE IF NOT EXISTS public.time_series_tables (
    schema_name   text        NOT NULL,
    table_name    text        NOT NULL,
    time_column   text        NOT NULL,
    storage       text        NOT NULL CHECK (storage IN ('hypertable', 'partitioned')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (schema_name, table_name)
);

-- Makes sure the monthly partitions [now - months_back, now + months_ahead] of a natively
-- partitioned time-series table exist. Rows already sitting in the DEFAULT partition for a new
-- month are moved into it, so the partition can be attached. No-op for hypertables.
-- Returns the number of partitions created.
CREATE OR REPLACE FUNCTION public.ensure_time_series_partitions(
    p_schema        text,
    p_table         text,
    p_months_back   integer DEFAULT 24,
    p_months_ahead  integer DEFAULT 3
) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_time_column text;
    v_storage     text;
    v_month       timestamp;
    v_lower       text;
    v_upper       text;
    v_partition   text;
    v_default     text := p_table || '_default';
    v_has_rows    boolean;
    v_created     integer := 0;
BEGIN
    SELECT time_column, storage INTO v_time_column, v_storage
      FROM public.time_series_tables WHERE schema_name = p_schema AND table_name = p_table;
    IF NOT FOUND THEN
        RAISE EXCEPTION '%.% is not a registered time-series table', p_schema, p_table;
    END IF;
    IF v_storage <> 'partitioned' THEN
        RETURN 0;
    END IF;

    -- Month boundaries are UTC midnights written as text literals, so the bounds and the row
    -- move below mean the same instants whatever the session time zone and whether the time
    -- column is a timestamptz or a date.
    FOR i IN -p_months_back .. p_months_ahead LOOP
        v_month := date_trunc('month', now() AT TIME ZONE 'UTC') + make_interval(months => i);
        v_lower := to_char(v_month, 'YYYY-MM-DD') || ' 00:00:00+00';
        v_upper := to_char(v_month + interval '1 month', 'YYYY-MM-DD') || ' 00:00:00+00';
        v_partition := p_table || '_p' || to_char(v_month, 'YYYYMM');
        CONTINUE WHEN to_regclass(format('%I.%I', p_schema, v_partition)) IS NOT NULL;

        EXECUTE format('SELECT EXISTS (SELECT 1 FROM %I.%I WHERE %I >= %L AND %I < %L)',
                       p_schema, v_default, v_time_column, v_lower, v_time_column, v_upper)
           INTO v_has_rows;
        IF NOT v_has_rows THEN
            EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I FOR VALUES FROM (%L) TO (%L)',
                           p_schema, v_partition, p_schema, p_table, v_lower, v_upper);
        ELSE
            -- Attaching a partition fails while the DEFAULT partition holds rows of its range.
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS)',
                           p_schema, v_partition, p_schema, p_table);
            EXECUTE format('WITH moved AS (DELETE FROM %I.%I WHERE %I >= %L AND %I < %L RETURNING *) '
                           'INSERT INTO %I.%I SELECT * FROM moved',
                           p_schema, v_default, v_time_column, v_lower, v_time_column, v_upper,
                           p_schema, v_partition);
            EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           p_schema, p_table, p_schema, v_partition, v_lower, v_upper);
        END IF;
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END
$$;

-- Creates p_schema.p_table with the given column list (columns and table constraints, as in
-- CREATE TABLE; the primary key must include p_time_column) as a time-series table.
-- Returns 'hypertable' or 'partitioned'. Calling it again for an existing table changes nothing.
CREATE OR REPLACE FUNCTION public.create_time_series_table(
    p_schema        text,
    p_table         text,
    p_columns       text,
    p_time_column   text,
    p_months_back   integer DEFAULT 24,
    p_months_ahead  integer DEFAULT 3
) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_storage text;
BEGIN
    SELECT storage INTO v_storage
      FROM public.time_series_tables WHERE schema_name = p_schema AND table_name = p_table;
    IF FOUND THEN
        RETURN v_storage;
    END IF;

    IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'timescaledb') THEN
        EXECUTE format('CREATE TABLE %I.%I (%s)', p_schema, p_table, p_columns);
        -- Through EXECUTE so this function compiles and runs where the extension is absent.
        EXECUTE format('SELECT create_hypertable(%L::regclass, %L, chunk_time_interval => interval %L)',
                       format('%I.%I', p_schema, p_table), p_time_column, '1 month');
        v_storage := 'hypertable';
    ELSE
        EXECUTE format('CREATE TABLE %I.%I (%s) PARTITION BY RANGE (%I)',
                       p_schema, p_table, p_columns, p_time_column);
        EXECUTE format('CREATE TABLE %I.%I PARTITION OF %I.%I DEFAULT',
                       p_schema, p_table || '_default', p_schema, p_table);
        v_storage := 'partitioned';
    END IF;

    INSERT INTO public.time_series_tables (schema_name, table_name, time_column, storage)
    VALUES (p_schema, p_table, p_time_column, v_storage);
    PERFORM public.ensure_time_series_partitions(p_schema, p_table, p_months_back, p_months_ahead);
    RETURN v_storage;
END
$$;
