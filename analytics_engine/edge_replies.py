"""What Envoy says when it answers a call itself (a refused token, a role without the right, a
rate limit, an unknown path, no healthy upstream).

Envoy's own bodies are terse plain text ("Jwt is missing", "RBAC: access denied"). The edge
rewrites them (`local_reply_config`) so that a REST caller gets the JSON status the transcoder
gives gRPC errors (`{"code", "message", "details"}`) and a gRPC or gRPC-Web caller gets the same
sentence as its grpc-message; the grpc-status Envoy derives stays as it is.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

from google.rpc import code_pb2

# Envoy command operators, resolved per reply.
ENVOY_BODY = "%LOCAL_REPLY_BODY%"
CALLED_PATH = "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%"
"""The REST path for a transcoded call, else the /package.Service/Method path."""

Condition = Literal["", "no_token", "role_known"]


@dataclass(frozen=True)
class EdgeReply:
    """One rewrite: Envoy's local replies with `status` (or any status from it, `at_least`) that
    meet `when` become `message` with gRPC code `grpc_code` for REST callers."""

    status: int
    grpc_code: int
    message: str
    when: Condition = ""
    """"no_token": the call carries no Authorization header; "role_known": a verified token
    named a role."""
    grpc_too: bool = False
    """Give gRPC and gRPC-Web callers the same message (their status code is left alone)."""
    at_least: bool = False


def edge_replies(role_metadata: str, rate_limit_per_second: int) -> list[EdgeReply]:
    """The rewrites in the order Envoy tries them (the first that matches wins).

    `role_metadata` is the command operator that yields the verified token's role claim.
    """
    return [
        EdgeReply(
            401,
            code_pb2.UNAUTHENTICATED,
            "the bearer token is missing; this path needs one (Authorization: Bearer <token>)",
            when="no_token",
            grpc_too=True,
        ),
        EdgeReply(
            401,
            code_pb2.UNAUTHENTICATED,
            f"the bearer token was refused: {ENVOY_BODY}",
            grpc_too=True,
        ),
        EdgeReply(
            403,
            code_pb2.PERMISSION_DENIED,
            f"role '{role_metadata}' may not call {CALLED_PATH}",
            when="role_known",
            grpc_too=True,
        ),
        # A token refused with 403 (another audience) or one without a role.
        EdgeReply(
            403,
            code_pb2.PERMISSION_DENIED,
            f"the call was refused: {ENVOY_BODY}",
            grpc_too=True,
        ),
        EdgeReply(
            429,
            code_pb2.RESOURCE_EXHAUSTED,
            f"this client is over its rate limit of {rate_limit_per_second} calls per second;"
            " retry shortly",
            grpc_too=True,
        ),
        EdgeReply(400, code_pb2.INVALID_ARGUMENT, f"the request is malformed: {ENVOY_BODY}"),
        EdgeReply(404, code_pb2.NOT_FOUND, ENVOY_BODY),
        EdgeReply(405, code_pb2.UNIMPLEMENTED, f"{ENVOY_BODY} ({CALLED_PATH})"),
        EdgeReply(413, code_pb2.RESOURCE_EXHAUSTED, f"the request is too large: {ENVOY_BODY}"),
        EdgeReply(
            503,
            code_pb2.UNAVAILABLE,
            f"the service behind {CALLED_PATH} is unavailable; retry later ({ENVOY_BODY})",
        ),
        EdgeReply(
            504,
            code_pb2.DEADLINE_EXCEEDED,
            f"the service behind {CALLED_PATH} did not answer in time ({ENVOY_BODY})",
        ),
        EdgeReply(
            502,
            code_pb2.UNAVAILABLE,
            f"the service behind {CALLED_PATH} failed; retry later ({ENVOY_BODY})",
        ),
        # Anything else Envoy refuses still reaches a REST caller as a JSON status.
        EdgeReply(400, code_pb2.UNKNOWN, ENVOY_BODY, at_least=True),
    ]


def as_context(replies: list[EdgeReply]) -> list[dict[str, Any]]:
    return [asdict(reply) for reply in replies]
