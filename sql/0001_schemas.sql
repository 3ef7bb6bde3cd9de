-- One schema per concern (ARCHITECTURE §6): the catalog, per-client configuration, computed KPI
-- values, the archive index, and one schema per client-data domain. Client-data tables carry
-- client_id on every row; the schemas only group them by value chain.
CREATE SCHEMA IF NOT EXISTS catalog;
COMMENT ON SCHEMA catalog IS 'KPI catalog: value chains, modules, object models, KPI definitions, sample data';
CREATE SCHEMA IF NOT EXISTS config;
COMMENT ON SCHEMA config IS 'Per-client configuration: clients, selected and custom KPIs, data sources, proposals';
CREATE SCHEMA IF NOT EXISTS analytics;
COMMENT ON SCHEMA analytics IS 'Computed KPI values and calculation bookkeeping';
CREATE SCHEMA IF NOT EXISTS archive;
COMMENT ON SCHEMA archive IS 'Index of data moved to cold storage by the archival service';
CREATE SCHEMA IF NOT EXISTS scor_data;
COMMENT ON SCHEMA scor_data IS 'Client data of the SCOR value chain: orders, shipments, inventory, purchasing, production, returns';
CREATE SCHEMA IF NOT EXISTS crm_data;
COMMENT ON SCHEMA crm_data IS 'Client data of the CRM value chain: customers, leads, subscriptions, surveys, support';
CREATE SCHEMA IF NOT EXISTS sales_data;
COMMENT ON SCHEMA sales_data IS 'Client data of the Sales value chain: sales reps, opportunities, quotas';
CREATE SCHEMA IF NOT EXISTS financial_data;
COMMENT ON SCHEMA financial_data IS 'Client data of the Financial value chain: invoices, payments, payables, general ledger';
