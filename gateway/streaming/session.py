"""One stream's handler, from snapshot to end: the async generator the servicer returns.

It owns no task and no timer: it sleeps on the stream's wake event, which the hub's ticker sets at
most once per tick, and sends whatever accumulated as one message.
"""

from __future__ import annotations

import itertools
import logging
import time
from collections.abc import AsyncGenerator

from gateway.streaming import stream_messages
from gateway.streaming.hub import StreamHub
from gateway.streaming.live_stream import Ending, EndReason
from gateway.streaming.stream_messages import Response
from gateway.streaming.stream_request import StreamRequest
from gateway.streaming.ticker import utc_now
from services.runtime.call_context import request_id_var
from services.runtime.status import exception_status
from services.runtime.wire import PreEncoded

log = logging.getLogger(__name__)


async def stream_session(
    hub: StreamHub, request: StreamRequest, response_type: type[Response]
) -> AsyncGenerator[Response | PreEncoded, None]:
    # Failing to open raises: the caller gets a plain gRPC status, as nothing was sent yet.
    opened = await hub.open(request)
    stream = opened.stream
    sequence = itertools.count(1)
    try:
        first = stream_messages.snapshot(
            response_type, next(sequence), opened, hub.settings.tick.heartbeat_seconds
        )
        # The snapshot's values can be large (history of every KPI); an open stream keeps none.
        opened.series = []
        yield first
        del first
        while True:
            try:
                await stream.wake.wait()
                stream.wake.clear()
                outgoing = stream.take_outgoing(time.monotonic())
                if outgoing is None:
                    continue
                message = stream_messages.following(
                    response_type,
                    next(sequence),
                    outgoing,
                    request.period,
                    utc_now(),
                    hub.encoded_values,
                )
            except Exception as error:  # noqa: BLE001 - after the first message, errors travel in-band
                status = exception_status(error, request_id_var.get())
                yield stream_messages.end(
                    response_type, next(sequence), Ending(EndReason.ERROR, status)
                )
                return
            yield message
            if isinstance(outgoing, Ending):
                log.info(
                    "stream ended",
                    extra={"stream_id": stream.stream_id, "reason": outgoing.reason.value},
                )
                return
    finally:
        hub.close(opened)
