-- Derived fields: booleans the catalog's object models derive from two fields of a row (e.g.
-- ORDER.delivered_on_time := delivered_at <= promised_at), stored as generated columns of the
-- raw tables and kept by the per-minute rollups as grouping columns. The columns themselves are
-- added by the generated migration that follows; this one prepares what they need.

-- The catalog keeps each object model's derived field definitions (name, description,
-- left_field, comparator, right_field) next to its fields.
ALTER TABLE catalog.object_models ADD COLUMN derived_fields jsonb NOT NULL DEFAULT '[]'::jsonb;

-- A month's rows found in the DEFAULT partition move to a new partition made LIKE the table;
-- with generated columns in the table, the copy must keep them generated and the move must
-- leave them out.
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
    v_stored      text;
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
            -- Generated columns are copied as generated (ATTACH requires it) and recomputed
            -- on insert, which refuses values for them: only the stored columns are moved.
            SELECT string_agg(quote_ident(attname), ', ' ORDER BY attnum) INTO v_stored
              FROM pg_attribute
             WHERE attrelid = format('%I.%I', p_schema, p_table)::regclass
               AND attnum > 0 AND NOT attisdropped AND attgenerated = '';
            EXECUTE format('CREATE TABLE %I.%I (LIKE %I.%I INCLUDING DEFAULTS INCLUDING CONSTRAINTS '
                           'INCLUDING GENERATED)',
                           p_schema, v_partition, p_schema, p_table);
            EXECUTE format('WITH moved AS (DELETE FROM %I.%I WHERE %I >= %L AND %I < %L RETURNING %s) '
                           'INSERT INTO %I.%I (%s) SELECT * FROM moved',
                           p_schema, v_default, v_time_column, v_lower, v_time_column, v_upper,
                           v_stored, p_schema, v_partition, v_stored);
            EXECUTE format('ALTER TABLE %I.%I ATTACH PARTITION %I.%I FOR VALUES FROM (%L) TO (%L)',
                           p_schema, p_table, p_schema, v_partition, v_lower, v_upper);
        END IF;
        v_created := v_created + 1;
    END LOOP;
    RETURN v_created;
END
$$;
