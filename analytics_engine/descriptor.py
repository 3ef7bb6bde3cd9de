"""What the descriptor set (`gen/descriptor.binpb`, buf's output) says the public API is.

Envoy's transcoder needs the service list and the router needs every streaming method; both are read
from the descriptor so a new proto package is served without touching the Envoy template.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor_pb2

from services.runtime.contracts import is_internal

PUBLIC_PACKAGE_PREFIX = "analytics."
_VERBS = ("get", "put", "post", "delete", "patch")


@dataclass(frozen=True)
class HttpBinding:
    """One REST mapping of a method (`google.api.http`)."""

    verb: str
    path: str
    body: str


@dataclass(frozen=True)
class Method:
    service: str
    name: str
    client_streaming: bool
    server_streaming: bool
    http: tuple[HttpBinding, ...]

    @property
    def path(self) -> str:
        """The HTTP/2 path of the gRPC call."""
        return f"/{self.service}/{self.name}"

    @property
    def streaming(self) -> bool:
        return self.client_streaming or self.server_streaming


@dataclass(frozen=True)
class Service:
    full_name: str
    methods: tuple[Method, ...]

    @property
    def public(self) -> bool:
        return not is_internal(self.full_name)

    @property
    def path_prefix(self) -> str:
        return f"/{self.full_name}/"


def load(path: Path, prefix: str = PUBLIC_PACKAGE_PREFIX) -> list[Service]:
    """Every service whose package starts with `prefix`, sorted by name."""
    # Importing annotations_pb2 registers the google.api.http extension, so parsing keeps it.
    assert annotations_pb2.http is not None
    descriptor_set = descriptor_pb2.FileDescriptorSet.FromString(path.read_bytes())
    services: list[Service] = []
    for file in descriptor_set.file:
        if not (file.package + ".").startswith(prefix):
            continue
        for service in file.service:
            full_name = f"{file.package}.{service.name}"
            methods = tuple(
                Method(
                    service=full_name,
                    name=method.name,
                    client_streaming=method.client_streaming,
                    server_streaming=method.server_streaming,
                    http=_bindings(method.options),
                )
                for method in service.method
            )
            services.append(Service(full_name=full_name, methods=methods))
    return sorted(services, key=lambda s: s.full_name)


def _bindings(options: descriptor_pb2.MethodOptions) -> tuple[HttpBinding, ...]:
    if not options.HasExtension(annotations_pb2.http):
        return ()
    rule: http_pb2.HttpRule = options.Extensions[annotations_pb2.http]
    rules = [rule, *rule.additional_bindings]
    return tuple(
        HttpBinding(verb=verb.upper(), path=getattr(r, verb), body=r.body)
        for r in rules
        for verb in _VERBS
        if r.WhichOneof("pattern") == verb
    )
