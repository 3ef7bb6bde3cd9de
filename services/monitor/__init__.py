"""Systems monitor: health and metrics roll-up of every component."""
