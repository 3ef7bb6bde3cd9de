-- The KPI catalog, loaded from the versioned data files in services/catalog/data by the catalog
-- service. A load replaces the whole content in one transaction, so readers see either the old
-- or the new catalog, never a mix.

-- One row per load of a new catalog content; the newest row describes what is loaded now.
CREATE TABLE catalog.catalog_versions (
    id            bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version       text        NOT NULL,
    content_hash  text        NOT NULL,
    loaded_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE catalog.value_chains (
    code          text    PRIMARY KEY,
    name          text    NOT NULL,
    description   text    NOT NULL,
    position      integer NOT NULL
);

CREATE TABLE catalog.modules (
    code              text    PRIMARY KEY,
    value_chain_code  text    NOT NULL REFERENCES catalog.value_chains (code),
    name              text    NOT NULL,
    description       text    NOT NULL,
    position          integer NOT NULL
);
CREATE INDEX ON catalog.modules (value_chain_code);

-- Fields and relationships are read as a whole with their object model, never queried one by
-- one, so they are kept as jsonb arrays in declaration order.
CREATE TABLE catalog.object_models (
    code               text   PRIMARY KEY,
    name               text   NOT NULL,
    description        text   NOT NULL,
    schema_name        text   NOT NULL,
    table_name         text   NOT NULL,
    time_field         text   NOT NULL,
    fields             jsonb  NOT NULL CHECK (jsonb_typeof(fields) = 'array'),
    relationships      jsonb  NOT NULL CHECK (jsonb_typeof(relationships) = 'array'),
    -- Value chains whose KPIs read this object model, plus the one that owns its schema.
    value_chain_codes  text[] NOT NULL,
    UNIQUE (schema_name, table_name)
);

CREATE TABLE catalog.kpis (
    code                         text    PRIMARY KEY,
    name                         text    NOT NULL,
    description                  text    NOT NULL,
    value_chain_code             text    NOT NULL REFERENCES catalog.value_chains (code),
    module_code                  text    NOT NULL REFERENCES catalog.modules (code),
    unit                         text    NOT NULL,
    direction                    text    NOT NULL
        CHECK (direction IN ('higher_is_better', 'lower_is_better', 'target_is_best')),
    target                       double precision,
    warning_threshold            double precision,
    critical_threshold           double precision,
    required_object_model_codes  text[]  NOT NULL,
    formula                      text    NOT NULL,
    tags                         text[]  NOT NULL DEFAULT '{}',
    position                     integer NOT NULL
);
CREATE INDEX ON catalog.kpis (value_chain_code);
CREATE INDEX ON catalog.kpis (module_code);

-- The driver tree: a KPI decomposes into component KPIs, in display order.
CREATE TABLE catalog.kpi_components (
    kpi_code            text    NOT NULL REFERENCES catalog.kpis (code) ON DELETE CASCADE,
    component_kpi_code  text    NOT NULL REFERENCES catalog.kpis (code) ON DELETE CASCADE,
    position            integer NOT NULL,
    PRIMARY KEY (kpi_code, component_kpi_code),
    CHECK (kpi_code <> component_kpi_code)
);
CREATE INDEX ON catalog.kpi_components (component_kpi_code);

-- Preview series shipped with the catalog. Not client data, hence no client_id.
CREATE TABLE catalog.kpi_samples (
    kpi_code      text             NOT NULL REFERENCES catalog.kpis (code) ON DELETE CASCADE,
    period        text             NOT NULL
        CHECK (period IN ('minute', 'hour', 'day', 'week', 'month')),
    bucket_start  timestamptz      NOT NULL,
    value         double precision NOT NULL,
    PRIMARY KEY (kpi_code, bucket_start)
);

-- Preview rows shipped with the catalog, keyed by field name, in declaration order.
CREATE TABLE catalog.object_model_samples (
    object_model_code  text    NOT NULL REFERENCES catalog.object_models (code) ON DELETE CASCADE,
    position           integer NOT NULL,
    row_data           jsonb   NOT NULL CHECK (jsonb_typeof(row_data) = 'object'),
    PRIMARY KEY (object_model_code, position)
);
