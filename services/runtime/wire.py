"""Responses sent as bytes encoded ahead of time.

Two answers are mostly bytes the server already holds encoded: a cached dashboard (results the
cache keeps in wire form) and a stream snapshot (each KPI's history, the same for every stream
that opened with it). Parsing them into a message only for gRPC to serialize it again costs more
than the rest of the answer, and a message kept by the handler's wrappers holds a copy alive.

Protobuf allows a message to be written in pieces — a repeated field is a run of tag+length+bytes
records, fields may come in any order, and the last value of a scalar field wins — so a response
is its own few fields encoded as usual followed by those stored records. A handler returns a
`PreEncoded`, and the method is registered with `serializer(...)`, which passes it on as it is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

_VARINT = 0
_LENGTH_DELIMITED = 2


class PreEncoded:
    """A message already in wire form, handed over once (so the bytes are not kept alive by
    whatever still refers to the wrapper after it is sent)."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def take(self) -> bytes:
        data, self._data = self._data, None
        if data is None:
            raise RuntimeError("a pre-encoded message is sent once")
        return data


def serializer(serialize: Callable[[Any], bytes]) -> Callable[[Any], bytes]:
    """A response serializer that sends `PreEncoded` messages as they are and serializes the
    others with `serialize`."""

    def serialize_either(message: Any) -> bytes:
        if isinstance(message, PreEncoded):
            return message.take()
        return serialize(message)

    return serialize_either


def varint(number: int) -> bytes:
    out = bytearray()
    while True:
        low, number = number & 0x7F, number >> 7
        if number:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def true_field(field_number: int) -> bytes:
    """A bool field set to true. Appended to an encoded message it sets that field whatever the
    message said (the last value of a scalar field wins when parsing)."""
    return varint(field_number << 3 | _VARINT) + b"\x01"


def with_field(head: bytes, field_number: int, parts: Sequence[bytes]) -> bytes:
    """`head` (an encoded message) followed by one length-delimited field made of `parts`."""
    length = sum(len(part) for part in parts)
    tag = varint(field_number << 3 | _LENGTH_DELIMITED)
    return b"".join((head, tag, varint(length), *parts))


def message_with_repeated(
    head: bytes, field_number: int, entries: Iterable[Sequence[bytes]]
) -> bytes:
    """`head` (an encoded message) with each of `entries` appended as an element of the repeated
    message field `field_number`. An entry is an encoded message given as the pieces it is made
    of, so a stored result and a field added to it are joined once, into the response."""
    tag = varint(field_number << 3 | _LENGTH_DELIMITED)
    parts = [head]
    for pieces in entries:
        parts += (tag, varint(sum(len(piece) for piece in pieces)), *pieces)
    return b"".join(parts)
