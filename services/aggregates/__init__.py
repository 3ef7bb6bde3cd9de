"""The structured aggregate request (ARCHITECTURE §2): what the calculation service asks the data
service for. Formulas compile to it; only the data service turns it into (parameterised) SQL."""
