"""Container health check: `python -m analytics_engine.healthcheck [--http] host:port [service]`.

Exits 0 when the server reports SERVING over the gRPC health protocol (or, with `--http`, answers
`GET /healthz` with 200), 1 otherwise, so compose (and Kubernetes exec probes) use the same
protocol Envoy does.
"""

from __future__ import annotations

import sys

from analytics_engine.health import SERVING, grpc_health, http_health


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    http = bool(args) and args[0] == "--http"
    if http:
        args = args[1:]
    if not 1 <= len(args) <= (1 if http else 2):
        print(
            "usage: python -m analytics_engine.healthcheck [--http] HOST:PORT [SERVICE]",
            file=sys.stderr,
        )
        return 2
    if http:
        status = http_health(args[0], timeout=2.0)
    else:
        status = grpc_health(args[0], args[1] if len(args) == 2 else "", timeout=2.0)
    print(status)
    return 0 if status == SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
