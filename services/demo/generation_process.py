"""The demo generator in a child process of its own, its batches read back in this one.

Generation and COPY are both CPU work in Python, so in one process they take turns under the
interpreter lock however they are scheduled. In a child process the generator runs on another
core while this process sends the previous batches to the database; the batches cross the pipe
in the compact column encoding of `row_codec`. The child's output is the same `generate` output,
batch for batch: determinism and consistency are the generator's.

Run as `python -m services.demo.generation_process`: the child reads one pickled request on
stdin and answers with length-prefixed frames on stdout.
"""

from __future__ import annotations

import datetime
import os
import pickle
import subprocess
import sys
from collections.abc import Sequence
from typing import IO, Any

from services.catalog.domain import ObjectModel
from services.demo.generator import DEFAULT_BATCH_SIZE, RowBatch, generate
from services.demo.row_codec import BatchCodec
from services.demo.spec import DemoSpec

_LENGTH_BYTES = 8


class GeneratorProcess:
    """An iterator of `RowBatch`es like `generate`'s, produced by a child process started on
    the first `next`. Raises ValueError for an invalid spec (checked here, before any child),
    RuntimeError if the child fails. `close` stops the child."""

    def __init__(self, models: Sequence[ObjectModel], client_id: str,
                 start: datetime.datetime, end: datetime.datetime, rows_per_day: int,
                 seed: int, *, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        DemoSpec(client_id, start, end, rows_per_day, seed)
        self._request = (tuple(models), client_id, start, end, rows_per_day, seed, batch_size)
        self._models = {model.code: model for model in models}
        self._codecs = {model.code: BatchCodec([field.type for field in model.fields])
                        for model in models}
        self._process: subprocess.Popen[bytes] | None = None
        self._finished = False

    def __iter__(self) -> GeneratorProcess:
        return self

    def __next__(self) -> RowBatch:
        if self._finished:
            raise StopIteration
        if self._process is None:
            self._process = self._start()
        assert self._process.stdout is not None
        message = _receive(self._process.stdout)
        if message is None:
            self._finished = True
            code = self._process.wait()
            raise RuntimeError(f"the demo data generator stopped unexpectedly (exit code {code})")
        if message[0] == "end":
            self.close()
            raise StopIteration
        if message[0] == "error":
            self.close()
            raise RuntimeError(f"the demo data generator failed: {message[1]}")
        _, code, data = message
        model = self._models[code]
        return RowBatch(code, tuple(field.name for field in model.fields),
                        self._codecs[code].from_bytes(data))

    def _start(self) -> subprocess.Popen[bytes]:
        # The child imports this package the way this process did, whatever set up sys.path.
        path = os.pathsep.join(entry for entry in sys.path if entry)
        process = subprocess.Popen(
            [sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path})
        assert process.stdin is not None
        with process.stdin:
            pickle.dump(self._request, process.stdin, protocol=pickle.HIGHEST_PROTOCOL)
        return process

    def close(self) -> None:
        self._finished = True
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.kill()
        process.wait()
        if process.stdout is not None:
            process.stdout.close()


def _send(out: IO[bytes], message: tuple[Any, ...]) -> None:
    data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    out.write(len(data).to_bytes(_LENGTH_BYTES, "big"))
    out.write(data)


def _receive(source: IO[bytes]) -> tuple[Any, ...] | None:
    """The next message, or None when the child's output ended without one."""
    header = source.read(_LENGTH_BYTES)
    if len(header) < _LENGTH_BYTES:
        return None
    length = int.from_bytes(header, "big")
    data = source.read(length)
    if len(data) < length:
        return None
    message: tuple[Any, ...] = pickle.loads(data)
    return message


def _serve() -> None:
    """The child: one request from stdin, its batches to stdout, then an end (or error)
    message. Anything else printing to stdout is sent to stderr instead."""
    out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    models, client_id, start, end, rows_per_day, seed, batch_size = pickle.load(
        sys.stdin.buffer)
    codecs = {model.code: BatchCodec([field.type for field in model.fields])
              for model in models}
    try:
        for batch in generate(models, client_id, start, end, rows_per_day, seed,
                              batch_size=batch_size):
            _send(out, ("batch", batch.object_model_code,
                        codecs[batch.object_model_code].to_bytes(batch.rows)))
    except Exception as error:  # reported to the parent, which raises it where it reads
        _send(out, ("error", f"{type(error).__name__}: {error}"))
    else:
        _send(out, ("end",))
    try:
        out.close()
    except BrokenPipeError:
        pass  # the parent stopped reading: nothing left to tell it


if __name__ == "__main__":
    _serve()
