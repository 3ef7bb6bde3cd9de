-- Per-client configuration ("the order"): clients with their selected KPIs, custom KPIs (every
-- version kept), and data sources with their field mappings. KPI and object model codes refer to
-- the catalog by value, not by foreign key: the catalog is replaced wholesale on every load.

-- Revisions of clients' custom KPI sets come from one sequence, so a client deleted and created
-- again never repeats a revision that a reader may still hold.
CREATE SEQUENCE config.custom_kpi_revisions;

CREATE TABLE config.clients (
    client_id                text        PRIMARY KEY CHECK (client_id ~ '^[a-z0-9][a-z0-9-]{0,62}$'),
    name                     text        NOT NULL,
    industry                 text        NOT NULL DEFAULT '',
    description              text        NOT NULL DEFAULT '',
    license_term_years       integer     NOT NULL DEFAULT 0 CHECK (license_term_years IN (0, 1, 3, 5)),
    environment              text        NOT NULL DEFAULT '',
    -- The contract's DataRetentionPolicy in its JSON form; NULL for the default policy.
    retention_policy         jsonb       CHECK (jsonb_typeof(retention_policy) = 'object'),
    compliance_requirements  text[]      NOT NULL DEFAULT '{}',
    other_compliance         text        NOT NULL DEFAULT '',
    time_zone                text        NOT NULL DEFAULT '',
    currency_code            text        NOT NULL DEFAULT '',
    -- Implied by the selected KPIs when the client was last written.
    value_chain_codes        text[]      NOT NULL DEFAULT '{}',
    -- Optimistic concurrency: every change increments it; an update names the one it read.
    version                  bigint      NOT NULL DEFAULT 1,
    -- Moves with every change to the client's custom KPIs (from config.custom_kpi_revisions),
    -- so calculation can tell cheaply whether the definitions it holds are current.
    custom_kpi_revision      bigint      NOT NULL DEFAULT 0,
    create_time              timestamptz NOT NULL DEFAULT now(),
    update_time              timestamptz NOT NULL DEFAULT now()
);

-- The KPIs a client selected, in the order chosen, with how much work each takes to implement.
CREATE TABLE config.client_selected_kpis (
    client_id                text    NOT NULL REFERENCES config.clients (client_id) ON DELETE CASCADE,
    position                 integer NOT NULL,
    kpi_code                 text    NOT NULL,
    complexity               text    NOT NULL
        CHECK (complexity IN ('otb', 'custom_basic', 'rbac', 'dynamic_rbac')),
    -- Time-and-materials estimate in hundredths of an hour; NULL for the pricing default.
    tm_min_hours_hundredths  bigint  CHECK (tm_min_hours_hundredths >= 0),
    tm_max_hours_hundredths  bigint  CHECK (tm_max_hours_hundredths >= tm_min_hours_hundredths),
    rbac_attributes          text[]  NOT NULL DEFAULT '{}',
    PRIMARY KEY (client_id, kpi_code),
    UNIQUE (client_id, position)
);
CREATE INDEX ON config.client_selected_kpis (kpi_code);

-- A client's own KPIs; the definition of each version is in custom_kpi_versions.
CREATE TABLE config.custom_kpis (
    client_id        text        NOT NULL REFERENCES config.clients (client_id) ON DELETE CASCADE,
    code             text        NOT NULL CHECK (code ~ '^[A-Z][A-Z0-9_]{1,63}$'),
    current_version  bigint      NOT NULL,
    create_time      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, code)
);

CREATE TABLE config.custom_kpi_versions (
    client_id                    text             NOT NULL,
    code                         text             NOT NULL,
    version                      bigint           NOT NULL CHECK (version >= 1),
    base_kpi_code                text             NOT NULL DEFAULT '',
    name                         text             NOT NULL,
    description                  text             NOT NULL DEFAULT '',
    unit                         text             NOT NULL DEFAULT '',
    direction                    text             NOT NULL
        CHECK (direction IN ('higher_is_better', 'lower_is_better', 'target_is_best')),
    target                       double precision,
    warning_threshold            double precision,
    critical_threshold           double precision,
    formula                      text             NOT NULL,
    required_object_model_codes  text[]           NOT NULL,
    create_time                  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (client_id, code, version),
    FOREIGN KEY (client_id, code) REFERENCES config.custom_kpis (client_id, code) ON DELETE CASCADE
);

-- Where one object model's data comes from for one client. Credentials are one encrypted blob
-- (the JSON object of name -> secret); only their names are kept in clear.
CREATE TABLE config.data_sources (
    data_source_id           text        PRIMARY KEY,
    client_id                text        NOT NULL REFERENCES config.clients (client_id) ON DELETE CASCADE,
    object_model_code        text        NOT NULL,
    source_system            text        NOT NULL DEFAULT '',
    integration_type         text        NOT NULL,
    connection_settings      jsonb       NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(connection_settings) = 'object'),
    credential_names         text[]      NOT NULL DEFAULT '{}',
    credentials_encrypted    bytea,
    source_fields            jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(source_fields) = 'array'),
    field_mappings           jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(field_mappings) = 'array'),
    mapping_status           text        NOT NULL CHECK (mapping_status IN ('valid', 'incomplete', 'invalid')),
    mapping_issues           jsonb       NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(mapping_issues) = 'array'),
    tm_min_hours_hundredths  bigint      CHECK (tm_min_hours_hundredths >= 0),
    tm_max_hours_hundredths  bigint      CHECK (tm_max_hours_hundredths >= tm_min_hours_hundredths),
    version                  bigint      NOT NULL DEFAULT 1,
    create_time              timestamptz NOT NULL DEFAULT now(),
    update_time              timestamptz NOT NULL DEFAULT now(),
    -- One data source per object model and client; a multi-source integration is one of them.
    UNIQUE (client_id, object_model_code),
    CHECK ((credentials_encrypted IS NULL) = (cardinality(credential_names) = 0))
);
