"""The bus: typed events over Redis.

Two carriers, each for what it is good at:
- streams (XADD / XREADGROUP / XACK) for events that must not be lost — data changes from the
  outbox relay. Consumer groups share a stream's entries among replicas; an entry is acknowledged
  only after it was handled, and entries left pending by a dead consumer are claimed by a live one.
- pub/sub channels for values that are only worth something while someone listens — KPI updates
  for the gateway hubs, which resynchronise from a snapshot when they (re)connect.

Every stream entry is an `analytics.events.v1.EventEnvelope`; publishes are pipelined (one round
trip for a batch: an un-pipelined publish costs ~110 µs of client CPU).
"""
