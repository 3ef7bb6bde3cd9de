"""Serves the built app (ui/dist) behind Envoy: static files, the app's page for every other
path (client-side routes), a health endpoint for Envoy and the supervisor, and development
sign-in. Static files from a local disk need nothing more than the standard library's threaded
HTTP server.
"""

from __future__ import annotations

import json
import logging
import mimetypes
import signal
import threading
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any

from services.runtime.logs import configure_logging
from services.runtime.settings import env, load_settings
from services.ui_server.dev_tokens import DevSignInError, DevTokenIssuer

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
HEALTH_PATH = "/healthz"
DEV_TOKEN_PATH = "/ui/dev-token"
MAX_BODY_BYTES = 16 * 1024
# The first path segments of the app's client-side routes (ui/src/App.tsx): a reload there gets
# the app's page; any other unknown path stays a 404, as it is for the API.
APP_ROUTES = frozenset({"", "catalog", "models", "dashboard", "clients", "proposals"})


@dataclass(frozen=True, kw_only=True)
class UiSettings:
    service_name: str = env("AE_SERVICE_NAME", "ui")
    listen: str = env("AE_LISTEN")
    dist_dir: str = env("AE_UI_DIST", str(ROOT / "ui" / "dist"))
    # The embedded stack's data directory holds the development signing key.
    data_dir: str = env("AE_DATA_DIR", "")
    dev_sign_in: bool = env("AE_UI_DEV_SIGN_IN", True)
    auth_issuer: str = env("AE_AUTH_ISSUER", "analytics-engine")
    auth_audience: str = env("AE_AUTH_AUDIENCE", "analytics-engine")
    log_level: str = env("AE_LOG_LEVEL", "INFO")
    log_format: str = env("AE_LOG_FORMAT", "json")


@dataclass(frozen=True)
class StaticSite:
    """The files of a built single-page app."""

    root: Path

    @property
    def index(self) -> Path:
        return self.root / "index.html"

    def ready(self) -> bool:
        return self.index.is_file()

    def resolve(self, url_path: str) -> Path | None:
        """The file for a request path: the file itself, the app's page for a client-side
        route, or None (anything else, or a path escaping the root)."""
        relative = url_path.split("?", 1)[0].lstrip("/")
        candidate = (self.root / relative).resolve()
        if not candidate.is_relative_to(self.root.resolve()):
            return None
        if candidate.is_file():
            return candidate
        top = relative.split("/", 1)[0]
        return self.index if top in APP_ROUTES else None


def make_handler(site: StaticSite, issuer: DevTokenIssuer | None) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "analytics-ui"
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            logger.debug("%s " + format, self.address_string(), *args)

        def do_GET(self) -> None:
            if self.path == HEALTH_PATH:
                serving = site.ready()
                self._send(
                    HTTPStatus.OK if serving else HTTPStatus.SERVICE_UNAVAILABLE,
                    b"SERVING" if serving else b"NOT_SERVING: ui/dist is not built",
                    "text/plain",
                )
                return
            path = site.resolve(self.path)
            if path is None:
                self._json(HTTPStatus.NOT_FOUND, {"code": 5, "message": "no such file"})
                return
            if not path.is_file():
                self._send(
                    HTTPStatus.SERVICE_UNAVAILABLE,
                    b"The app is not built: run `make setup`.",
                    "text/plain",
                )
                return
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            # Hashed asset names never change content; the page itself must always be fresh.
            cache = "public, max-age=31536000, immutable" if "/assets/" in self.path else "no-cache"
            self._send(HTTPStatus.OK, path.read_bytes(), content_type, cache)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_POST(self) -> None:
            if self.path != DEV_TOKEN_PATH or issuer is None:
                self._json(HTTPStatus.NOT_FOUND, {"code": 5, "message": "no such path"})
                return
            length = int(self.headers.get("content-length") or 0)
            if length > MAX_BODY_BYTES:
                self._json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"code": 3, "message": "too large"})
                return
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
                if not isinstance(body, dict):
                    raise DevSignInError("the body must be a JSON object")
                reply = issuer.issue(body)
            except (json.JSONDecodeError, DevSignInError) as error:
                self._json(HTTPStatus.BAD_REQUEST, {"code": 3, "message": str(error)})
                return
            self._json(HTTPStatus.OK, reply)

        def _json(self, status: HTTPStatus, payload: dict[str, Any]) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json", "no-store")

        def _send(
            self, status: HTTPStatus, body: bytes, content_type: str, cache: str = "no-store"
        ) -> None:
            self.send_response(status)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.send_header("cache-control", cache)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def build_server(settings: UiSettings) -> ThreadingHTTPServer:
    host, _, port = settings.listen.rpartition(":")
    issuer = None
    if settings.dev_sign_in and settings.data_dir:
        issuer = DevTokenIssuer(
            Path(settings.data_dir), issuer=settings.auth_issuer, audience=settings.auth_audience
        )
    site = StaticSite(Path(settings.dist_dir))
    if not site.ready():
        logger.warning("%s has no index.html: build the app (make setup)", site.root)
    server = ThreadingHTTPServer((host or "0.0.0.0", int(port)), make_handler(site, issuer))
    server.daemon_threads = True
    return server


def main() -> None:
    settings = load_settings(UiSettings)
    configure_logging(settings.service_name, settings.log_level, settings.log_format)
    server = build_server(settings)

    def stop(signum: int, frame: FrameType | None) -> None:
        # shutdown() waits for serve_forever to return, so it cannot run on the serving thread.
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    logger.info("serving %s on %s", settings.dist_dir, settings.listen)
    server.serve_forever(poll_interval=0.2)
    server.server_close()
    logger.info("stopped")
