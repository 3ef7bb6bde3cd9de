"""`analytics-engine up` in the foreground: start the stack, watch it, stop it in reverse order.

Order of start: PostgreSQL and Redis, migrations, every component at once (each reports SERVING when
its dependencies answer), then Envoy once its upstreams are up, then (with `up --feed`) the live
demo feeder. Stop runs in reverse.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import FrameType

from analytics_engine import envoy_config, health, processes
from analytics_engine import state as stack_state
from analytics_engine.components import COMPONENTS
from analytics_engine.database import Database, migrate, open_database
from analytics_engine.descriptor import load as load_descriptor
from analytics_engine.embedded import redis as embedded_redis
from analytics_engine.processes import Child, ProcessRef
from analytics_engine.settings import LOOPBACK, Instance, StackSettings
from analytics_engine.state import ProcessEntry, StackLock, StackState
from services.security.keys import ensure_key_pair

logger = logging.getLogger(__name__)

# Long enough for Envoy's health checks (2 s interval, 2 failures) to see a crashed component go
# away, short enough that a developer barely waits.
RESTART_DELAY = 5.0
MAX_RESTART_DELAY = 60.0
# A component that ran this long before dying starts its backoff over.
STABLE_AFTER = 60.0
POLL = 0.1
# The process name of the live demo feeder (`up --feed`) in logs, stack.json and `status`.
FEEDER = "demo-feed"


class StartupError(RuntimeError):
    """The stack could not start; the message says which part and why."""


class StopRequested(Exception):
    """SIGINT/SIGTERM arrived."""


class AlreadyRunning(RuntimeError):
    """Another supervisor holds the data dir's lock."""


class Supervisor:
    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.paths = settings.paths
        self.lock = StackLock(self.paths.lock_file)
        self._stop = threading.Event()
        self.database: Database | None = None
        self.redis: Child | None = None
        self.redis_url = settings.redis_url or ""
        self.components: list[Child] = []
        self.envoy: Child | None = None
        self.feeder: Child | None = None
        self._started_at = datetime.now(UTC).isoformat(timespec="seconds")
        self._restart_due: dict[str, float] = {}
        self._last_start: dict[str, float] = {}
        self._postgres: ProcessRef | None = None

    # -- lifecycle -------------------------------------------------------------------------

    def run(self, on_ready: Callable[[StackState], None]) -> int:
        """Start, call `on_ready`, watch until told to stop; always stops what it started."""
        self.paths.create()
        if not self.lock.acquire():
            raise AlreadyRunning(str(self.paths.data_dir))
        try:
            with self._signals_stop():
                try:
                    ready = self._start()
                except StopRequested:
                    logger.info("stop requested during startup")
                    return 130
                except StartupError as error:
                    logger.error("%s", error)
                    return 1
                on_ready(ready)
                self._watch()
                return 0
        finally:
            self._stop_everything()
            self.paths.state_file.unlink(missing_ok=True)
            self.lock.release()

    def request_stop(self) -> None:
        self._stop.set()

    @contextmanager
    def _signals_stop(self) -> Iterator[None]:
        def handler(signum: int, frame: FrameType | None) -> None:
            logger.info("received %s; stopping", signal.Signals(signum).name)
            self._stop.set()

        handled = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
        previous = {sig: signal.signal(sig, handler) for sig in handled}
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)

    def _check_stop(self) -> None:
        if self._stop.is_set():
            raise StopRequested

    # -- start -----------------------------------------------------------------------------

    def _start(self) -> StackState:
        began = time.monotonic()
        self.paths.state_file.unlink(missing_ok=True)
        if self.settings.auth.jwks_url is None:
            # Before Envoy's config is validated: it names the JWKS file.
            ensure_key_pair(self.paths.keys)
        # Render and validate first: a bad config should fail before anything is started.
        config_text = self._render_envoy_config()
        self._check_ports_free()
        self._start_redis()
        self._check_stop()
        try:
            self.database = open_database(self.settings.database_url, self.paths.postgres_dir)
        except Exception as error:
            raise StartupError(f"postgres did not start: {error}") from error
        if self.database.pid is not None:
            self._postgres = ProcessRef.of(self.database.pid)
        self._write_state(stack_state.STARTING)
        self._wait_redis()
        self._check_stop()
        try:
            applied = migrate(self.database.url)
        except Exception as error:
            raise StartupError(f"migrations failed: {error}") from error
        logger.info("migrations: %s", ", ".join(applied) if applied else "up to date")
        self._check_stop()
        self.components = [self._component_child(i) for i in self.settings.instances()]
        for child in self.components:
            self._spawn(child)
        self._write_state(stack_state.STARTING)
        self._wait_serving()
        self._start_envoy(config_text)
        self._write_state(stack_state.STARTING)
        self._wait_envoy()
        self._start_feeder()
        ready = self._write_state(stack_state.READY)
        logger.info("stack ready in %.1fs", time.monotonic() - began)
        return ready

    def _render_envoy_config(self) -> str:
        services = load_descriptor(self.settings.descriptor)
        text = envoy_config.render(
            envoy_config.stack_topology(self.settings), services, self.settings.envoy_template
        )
        self.paths.envoy_config.write_text(text, encoding="utf-8")
        try:
            envoy_config.validate(self.paths.envoy_config)
        except envoy_config.EnvoyConfigError as error:
            raise StartupError(f"envoy rejected its configuration: {error}") from error
        return text

    def _check_ports_free(self) -> None:
        """Name the port and its owner now, rather than a bind error in some child's log later."""
        wanted = [("envoy", self.settings.public_host, self.settings.ports.public)]
        wanted.append(("envoy admin", LOOPBACK, self.settings.ports.admin))
        if not self.settings.redis_url:
            wanted.append(("redis", LOOPBACK, self.settings.ports.redis))
        wanted += [(i.name, LOOPBACK, i.port) for i in self.settings.instances()]
        taken = [f"{name} {host}:{port}" for name, host, port in wanted if not _free(host, port)]
        if taken:
            raise StartupError(
                f"ports already in use: {', '.join(taken)}; stop whatever holds them, change "
                ".env, or use `--ports auto`"
            )

    def _start_redis(self) -> None:
        if self.settings.redis_url:
            return
        self.redis = embedded_redis.redis_child(
            data_dir=self.paths.redis_dir,
            host=LOOPBACK,
            port=self.settings.ports.redis,
            log_path=self.paths.log("redis"),
        )
        self._spawn(self.redis)
        self.redis_url = embedded_redis.url(LOOPBACK, self.settings.ports.redis)

    def _wait_redis(self) -> None:
        if self.redis is None:
            return
        self._wait_until(
            lambda: health.redis_ping(LOOPBACK, self.settings.ports.redis, timeout=0.5),
            watched=[self.redis],
            what="redis to answer PING",
        )

    def _component_child(self, instance: Instance) -> Child:
        return Child(
            name=instance.name,
            argv=[self.settings.python, "-m", instance.component.module],
            log_path=self.paths.log(instance.name),
            cwd=self.settings.root,
            env=self._component_env(instance),
        )

    def _component_env(self, instance: Instance) -> dict[str, str]:
        env = self._child_env()
        env.update(
            {
                "AE_SERVICE_NAME": instance.component.name,
                "AE_LISTEN": instance.address,
                "REDIS_URL": self.redis_url,
                "AE_LOG_FORMAT": "json",
                "AE_LOG_LEVEL": self.settings.log_level,
            }
        )
        env.update({c.addr_var: self.settings.component_address(c.name) for c in COMPONENTS})
        return env

    def _child_env(self) -> dict[str, str]:
        """What every Python child of the stack gets: the database, the data dir, imports."""
        if self.database is None:
            raise RuntimeError("the database starts before the components")
        env = dict(os.environ)
        root = self.settings.root
        # The generated SDK is importable even before `pip install -e gen/python`.
        python_path = [str(root), str(root / "gen" / "python"), env.get("PYTHONPATH", "")]
        env.update(
            {
                "DATABASE_URL": self.database.url,
                "AE_DATA_DIR": str(self.paths.data_dir),
                "AE_AUTH_JWKS": self.settings.jwks_location,
                "AE_AUTH_ISSUER": self.settings.auth.issuer,
                "AE_AUTH_AUDIENCE": self.settings.auth.audience,
                "PYTHONPATH": os.pathsep.join(p for p in python_path if p),
                # Logs reach the file as they happen, so a crash report shows the last words.
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _wait_serving(self) -> None:
        probes = {
            i.name: health.probe_for(i.component, i.address) for i in self.settings.instances()
        }
        pending = set(probes)
        try:

            def all_serving() -> bool:
                for name in sorted(pending):
                    if probes[name].check(timeout=0.5) == health.SERVING:
                        logger.info("%s is SERVING", name)
                        pending.discard(name)
                return not pending

            self._wait_until(
                all_serving,
                watched=self.components,
                what="components to report SERVING",
                pending=lambda: sorted(pending),
            )
        finally:
            for probe in probes.values():
                probe.close()

    def _start_envoy(self, config_text: str) -> None:
        self.envoy = Child(
            name="envoy",
            argv=[
                envoy_config.envoy_binary(),
                "-c",
                str(self.paths.envoy_config),
                # No shared memory: two stacks (a developer's and a test run's) can coexist.
                "--disable-hot-restart",
                "--log-level",
                "warning",
            ],
            log_path=self.paths.log("envoy"),
            cwd=self.paths.run_dir,
        )
        self._spawn(self.envoy)

    def _wait_envoy(self) -> None:
        admin = self.settings.admin_address
        assert self.envoy is not None

        def edge_healthy() -> bool:
            if health.envoy_state(admin, timeout=0.5) != "LIVE":
                return False
            try:
                clusters = health.envoy_cluster_health(admin, timeout=0.5)
            except OSError:
                return False
            return all(clusters.get(c.name) == "healthy" for c in COMPONENTS)

        self._wait_until(
            edge_healthy,
            watched=[self.envoy, *self.components],
            what="envoy to be LIVE with every cluster healthy",
        )

    def _start_feeder(self) -> None:
        """`up --feed`: the live demo feeder, one more supervised child talking to the data
        service directly; it loads the client's history itself, so `up` is ready meanwhile."""
        feed = self.settings.feed
        if feed is None:
            return
        self.feeder = Child(
            name=FEEDER,
            argv=[
                self.settings.python,
                "-m",
                "analytics_engine.cli",
                "demo",
                "feed",
                *feed.cli_arguments(),
                "--address",
                self.settings.component_address("data"),
                "--data-dir",
                str(self.paths.data_dir),
            ],
            log_path=self.paths.log(FEEDER),
            cwd=self.settings.root,
            env=self._child_env(),
        )
        self._spawn(self.feeder)
        logger.info(
            "feeding live demo rows for client %s (%g new records/s per model; log: %s)",
            feed.client_id,
            feed.rate,
            self.feeder.log_path,
        )

    def _wait_until(
        self,
        condition: Callable[[], bool],
        *,
        watched: Sequence[Child],
        what: str,
        pending: Callable[[], list[str]] | None = None,
    ) -> None:
        """Poll `condition`; fail fast when a watched child dies or the startup budget runs out."""
        deadline = time.monotonic() + self.settings.startup_timeout
        while True:
            self._check_stop()
            for child in watched:
                code = child.exit_code()
                if code is not None:
                    raise StartupError(self._death_report(child, code))
            if condition():
                return
            if time.monotonic() > deadline:
                waiting = pending() if pending else []
                logs = "".join(
                    f"\n--- last lines of {self.paths.log(name)} ---\n"
                    f"{processes.tail(self.paths.log(name), 15)}"
                    for name in waiting
                )
                raise StartupError(
                    f"timed out after {self.settings.startup_timeout:.0f}s waiting for {what}"
                    + (f" (still waiting for: {', '.join(waiting)})" if waiting else "")
                    + logs
                )
            self._stop.wait(POLL)

    def _death_report(self, child: Child, code: int) -> str:
        return (
            f"{child.name} exited with code {code} during startup; "
            f"last lines of {child.log_path}:\n{processes.tail(child.log_path)}"
        )

    def _spawn(self, child: Child) -> None:
        child.start()
        self._last_start[child.name] = time.monotonic()

    # -- steady state ----------------------------------------------------------------------

    def _children(self) -> list[Child]:
        return [
            c for c in (self.redis, *self.components, self.envoy, self.feeder) if c is not None
        ]

    def _watch(self) -> None:
        """Restart what dies (with backoff) until a stop is requested."""
        while not self._stop.wait(0.5):
            now = time.monotonic()
            changed = False
            for child in self._children():
                code = child.exit_code()
                if code is None:
                    continue
                due = self._restart_due.get(child.name)
                if due is None:
                    if now - self._last_start.get(child.name, now) > STABLE_AFTER:
                        child.restarts = 0
                    delay = min(MAX_RESTART_DELAY, RESTART_DELAY * 2**child.restarts)
                    logger.warning(
                        "%s exited with code %d; restarting in %.0fs (log: %s)",
                        child.name,
                        code,
                        delay,
                        child.log_path,
                    )
                    self._restart_due[child.name] = now + delay
                elif now >= due:
                    del self._restart_due[child.name]
                    child.restarts += 1
                    self._spawn(child)
                    logger.info("restarted %s (pid %d)", child.name, child.pid)
                    changed = True
            if changed:
                self._write_state(stack_state.READY)
            if self._postgres is not None and not self._postgres.alive():
                logger.error("postgres (pid %d) is gone; stopping the stack", self._postgres.pid)
                self._stop.set()

    # -- stop ------------------------------------------------------------------------------

    def _stop_everything(self) -> None:
        grace = self.settings.stop_grace
        if self.feeder is not None:
            processes.stop_children([self.feeder], grace)
        if self.envoy is not None:
            processes.stop_children([self.envoy], grace)
        processes.stop_children(list(reversed(self.components)), grace)
        if self.redis is not None:
            processes.stop_children([self.redis], grace)
        if self.database is not None:
            try:
                self.database.stop()
            except Exception:
                logger.exception("postgres did not stop cleanly")

    # -- record ----------------------------------------------------------------------------

    def _write_state(self, phase: str) -> StackState:
        entries: list[ProcessEntry] = []
        if self._postgres is not None:
            ref = self._postgres
            entries.append(ProcessEntry("postgres", ref.pid, ref.create_time, "embedded"))
        for child, address in [
            (self.redis, f"{LOOPBACK}:{self.settings.ports.redis}"),
            *((c, c.env["AE_LISTEN"]) for c in self.components),
            (self.envoy, self.settings.public_address),
            (self.feeder, ""),
        ]:
            if child is not None and child.running:
                entries.append(ProcessEntry.of(child.name, child.pid, address, str(child.log_path)))
        record = StackState(
            phase=phase,
            supervisor=ProcessEntry.of(
                "supervisor", os.getpid(), log=str(self.paths.log("supervisor"))
            ),
            data_dir=str(self.paths.data_dir),
            public_address=self.settings.public_address,
            admin_address=self.settings.admin_address,
            database_url=self.database.url if self.database and self.database.server else "",
            redis_url=self.redis_url if self.redis else "",
            processes=tuple(entries),
        )
        stack_state.write(self.paths.state_file, record)
        return record


def _free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # Same option the servers use, so a port in TIME_WAIT from a previous run counts as free.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
