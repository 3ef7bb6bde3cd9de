"""Client configuration ("the order"): clients, custom KPIs, data sources, field mappings,
questionnaires, proposals and demo data.
"""
