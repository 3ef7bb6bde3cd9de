"""A temporary file of row batches: where the models of a family that are not streamed wait
for their turn, so one simulation feeds every model without holding its rows in memory."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from typing import IO

from services.catalog.domain import FieldType
from services.demo.row_codec import BatchCodec, Row

_LENGTH_BYTES = 8


class Spool:
    """Batches of rows with columns of `types`, written one after the other and read back once
    in the same order. The file is anonymous (gone when closed or when the process ends).
    Instants come back in UTC."""

    def __init__(self, types: Sequence[FieldType]) -> None:
        self._codec = BatchCodec(types)
        self._file: IO[bytes] | None = None
        self._batches = 0

    def write(self, rows: list[Row]) -> None:
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="demo-rows-")
        data = self._codec.to_bytes(rows)
        self._file.write(len(data).to_bytes(_LENGTH_BYTES, "big"))
        self._file.write(data)
        self._batches += 1

    def read(self) -> Iterator[list[Row]]:
        if self._file is None:
            return
        self._file.seek(0)
        for _ in range(self._batches):
            length = int.from_bytes(self._file.read(_LENGTH_BYTES), "big")
            yield self._codec.from_bytes(self._file.read(length))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
            self._batches = 0
