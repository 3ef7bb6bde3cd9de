"""The stream fan-out hub: live KPI streams (StreamService) fed from the calculation service's
subscriptions over one Redis pub/sub connection per hub process."""
