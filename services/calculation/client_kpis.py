"""A client's custom KPIs, read from the config service (ClientConfigInternalService) for the
calculation of that client only. The definitions held are revalidated by revision on every use:
the config service answers "unchanged" from one indexed read, so an edited custom KPI is seen
by the very next calculation and nothing is recompiled while it is unchanged."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass

import grpc
from analytics.config.v1 import config_pb2, config_pb2_grpc

from services.catalog import domain, messages
from services.errors import Unavailable

# Clients whose definitions are held at once; the least recently used are dropped beyond it.
MAX_CLIENTS_HELD = 1_000


@dataclass(frozen=True)
class ClientKpiSet:
    client_id: str
    # 0 when the client has no custom KPIs (or is not configured).
    revision: int
    kpis: Mapping[str, domain.KpiDefinition]


class ClientKpis:
    def __init__(self, channel: grpc.aio.Channel) -> None:
        self._stub = config_pb2_grpc.ClientConfigInternalServiceStub(channel)
        self._held: OrderedDict[str, ClientKpiSet] = OrderedDict()

    async def current(self, client_id: str) -> ClientKpiSet:
        held = self._held.get(client_id)
        try:
            reply = await self._stub.GetClientKpiDefinitions(
                config_pb2.GetClientKpiDefinitionsRequest(
                    client_id=client_id, known_revision=held.revision if held else 0
                )
            )
        except grpc.aio.AioRpcError as error:
            raise Unavailable(
                f"the config service did not answer ({error.code().name}), so the client's "
                "custom KPIs cannot be resolved; retry later"
            ) from error
        if reply.unchanged and held is not None:
            self._held.move_to_end(client_id)
            return held
        found = ClientKpiSet(
            client_id, reply.revision, {k.code: messages.kpi_from_proto(k) for k in reply.kpis}
        )
        self._held[client_id] = found
        self._held.move_to_end(client_id)
        while len(self._held) > MAX_CLIENTS_HELD:
            self._held.popitem(last=False)
        return found
