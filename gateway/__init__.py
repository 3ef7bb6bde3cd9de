"""The gateway hub (api_gateway, Python side): reflection over every public service, aggregated
health, and the stream fan-out hub for server-streaming RPCs."""
