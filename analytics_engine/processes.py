"""Child processes of the supervisor: start with a log file, stop with SIGTERM then SIGKILL."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import psutil

logger = logging.getLogger(__name__)

_SETPRIV = shutil.which("setpriv")


def _parent_death_prefix() -> list[str]:
    # If the supervisor is killed outright (SIGKILL, OOM), its children get SIGTERM from the kernel
    # instead of living on as orphans holding the ports. setpriv (util-linux) sets that up without
    # a Python preexec_fn, which is unsafe once gRPC threads exist.
    return [_SETPRIV, "--pdeathsig", "TERM", "--"] if _SETPRIV else []


@dataclass
class Child:
    """One long-running process the supervisor owns."""

    name: str
    argv: Sequence[str]
    log_path: Path
    cwd: Path
    env: Mapping[str, str] = field(default_factory=dict)
    popen: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log: IO[bytes] = self.log_path.open("ab")
        stamp = datetime.now(UTC).isoformat(timespec="seconds")
        log.write(f"--- {stamp} starting {self.name}: {' '.join(self.argv)}\n".encode())
        log.flush()
        try:
            # Own process group: Ctrl-C in the terminal reaches only the supervisor, which then
            # stops the children in order instead of all of them dying at once.
            self.popen = subprocess.Popen(
                [*_parent_death_prefix(), *self.argv],
                cwd=self.cwd,
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                process_group=0,
            )
        finally:
            log.close()
        logger.debug("started %s pid %d", self.name, self.popen.pid)

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise RuntimeError(f"{self.name} was never started")
        return self.popen.pid

    def exit_code(self) -> int | None:
        """None while running (or never started)."""
        return None if self.popen is None else self.popen.poll()

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def signal(self, sig: signal.Signals) -> None:
        if self.running:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def stop_children(children: Sequence[Child], grace: float) -> None:
    """SIGTERM each (in the order given), wait up to `grace` for all, then SIGKILL the rest."""
    for child in children:
        if child.running:
            logger.info("stopping %s (pid %d)", child.name, child.pid)
            child.signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    for child in children:
        if child.popen is None:
            continue
        try:
            child.popen.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            logger.warning("%s did not stop within %.0fs; killing it", child.name, grace)
            child.signal(signal.SIGKILL)
            child.popen.wait()


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file (empty when it does not exist)."""
    try:
        with path.open("rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 64 * 1024))
            data = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


@dataclass(frozen=True)
class ProcessRef:
    """A pid plus its start time, so a recycled pid is never mistaken for ours."""

    pid: int
    create_time: float

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        return cls(pid=pid, create_time=psutil.Process(pid).create_time())

    def alive(self) -> bool:
        try:
            process = psutil.Process(self.pid)
            return (
                abs(process.create_time() - self.create_time) < 0.01
                and process.status() != psutil.STATUS_ZOMBIE
            )
        except psutil.NoSuchProcess:
            return False

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass


def wait_gone(refs: Sequence[ProcessRef], timeout: float) -> list[ProcessRef]:
    """Wait until none of `refs` is alive; return those still alive at the timeout."""
    deadline = time.monotonic() + timeout
    alive = [r for r in refs if r.alive()]
    while alive and time.monotonic() < deadline:
        time.sleep(0.05)
        alive = [r for r in alive if r.alive()]
    return alive
