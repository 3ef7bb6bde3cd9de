"""Shared fixtures: each real dependency the tests start lives in its own plugin module."""

pytest_plugins = [
    "tests.fixtures.postgres",
    "tests.fixtures.redis",
    "tests.fixtures.stack",
    "tests.fixtures.auth",
    "tests.fixtures.grpc_servers",
    "tests.fixtures.kitchen",
]
