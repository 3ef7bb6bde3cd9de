"""Entity resolution support service: matching and de-duplicating records across sources."""
