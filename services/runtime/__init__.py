"""The one service runtime every Analytics Engine process uses (server bootstrap, interceptors,
settings, logging, telemetry, outbound channels)."""
