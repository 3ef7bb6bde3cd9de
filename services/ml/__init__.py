"""Machine-learning support service: KPI forecasts and anomaly detection."""
