"""The running stack's record (`run/stack.json`) and the lock that makes one `up` per data dir."""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

from analytics_engine.processes import ProcessRef

STARTING = "starting"
READY = "ready"


@dataclass(frozen=True)
class ProcessEntry:
    """One process the supervisor started (or, for the supervisor, itself)."""

    name: str
    pid: int
    create_time: float
    address: str = ""
    log: str = ""

    @classmethod
    def of(cls, name: str, pid: int, address: str = "", log: str = "") -> ProcessEntry:
        return cls(name, pid, ProcessRef.of(pid).create_time, address, log)

    def ref(self) -> ProcessRef:
        return ProcessRef(self.pid, self.create_time)


@dataclass(frozen=True)
class StackState:
    """What `status` and `down` (and the test suite) need to find the stack."""

    phase: str
    supervisor: ProcessEntry
    data_dir: str
    public_address: str
    admin_address: str
    database_url: str
    """Only for a database the stack started; an external DATABASE_URL is not written down."""
    redis_url: str
    processes: tuple[ProcessEntry, ...] = field(default_factory=tuple)
    """In start order: postgres and redis when embedded, the components, envoy."""

    @property
    def public_url(self) -> str:
        return f"http://{self.public_address}"

    @property
    def admin_url(self) -> str:
        return f"http://{self.admin_address}"

    def process(self, name: str) -> ProcessEntry | None:
        return next((p for p in self.processes if p.name == name), None)

    def instances(self, component: str) -> list[ProcessEntry]:
        """Every process of a component: `gateway`, then `gateway-2`, ... when it scales out."""
        return [
            p
            for p in self.processes
            if p.name == component
            or (p.name.startswith(f"{component}-") and p.name[len(component) + 1 :].isdigit())
        ]

    def refs(self) -> list[ProcessRef]:
        """Every recorded process, the supervisor included."""
        return [self.supervisor.ref(), *(p.ref() for p in self.processes)]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> StackState:
        raw: dict[str, Any] = json.loads(text)
        raw["supervisor"] = ProcessEntry(**raw["supervisor"])
        raw["processes"] = tuple(ProcessEntry(**p) for p in raw.get("processes", []))
        return cls(**raw)


def write(path: Path, state: StackState) -> None:
    """Replace stack.json atomically so readers never see half a file."""
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(state.to_json(), encoding="utf-8")
    os.replace(tmp, path)


def read(path: Path) -> StackState | None:
    try:
        return StackState.from_json(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


class StackLock:
    """An exclusive flock on `run/stack.lock`, held by the supervisor for its whole life.

    The kernel drops it when the holder dies, so a crashed stack never leaves a stale lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self, *, record_pid: bool = True) -> bool:
        """Take the lock without waiting; False when another process holds it."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # "a+" so a failed attempt does not truncate the holder's pid.
        handle = self.path.open("a+", encoding="utf-8")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return False
        if record_pid:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
        self._file = handle
        return True

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def is_held_elsewhere(self) -> bool:
        """Whether another process holds the lock right now."""
        if self.acquire(record_pid=False):
            self.release()
            return False
        return True

    def holder_pid(self) -> int | None:
        try:
            text = self.path.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return int(text) if text.isdigit() else None
