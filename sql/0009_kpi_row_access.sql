-- Row security of a KPI (RBAC and Dynamic RBAC): the rules that limit which rows a caller bound
-- to part of a client's data sees, as loaded from the catalog files. An empty array is an
-- out-of-the-box KPI.
ALTER TABLE catalog.kpis ADD COLUMN row_access jsonb NOT NULL DEFAULT '[]';
