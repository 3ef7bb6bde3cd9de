"""The browser app's server on a real socket: files, client-side routes, 404s for everything
else (no path escapes the build), health, and development sign-in that mints verifiable tokens."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.security.caller import Role
from services.security.keys import JwksSource, KeyFiles
from services.security.tokens import TokenPolicy, verify_token
from services.ui_server.app import UiSettings, build_server

INDEX = b"<!doctype html><div id=root></div>"


def serve(dist: Path, data_dir: Path | None) -> Iterator[str]:
    settings = UiSettings(
        listen="127.0.0.1:0",
        dist_dir=str(dist),
        data_dir=str(data_dir) if data_dir else "",
        log_format="text",
    )
    server = build_server(settings)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def dist(tmp_path: Path) -> Path:
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-1234.js").write_text("console.log(1)")
    (tmp_path / "secret.txt").write_text("not served")
    return root


@pytest.fixture
def site(dist: Path, tmp_path: Path) -> Iterator[str]:
    yield from serve(dist, tmp_path / "data")


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def post(url: str, body: object) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_files_and_client_side_routes_get_the_app(site: str) -> None:
    status, headers, body = get(f"{site}/")
    assert (status, body) == (200, INDEX)
    assert headers["content-type"] == "text/html" and headers["cache-control"] == "no-cache"
    for route in ("/catalog", "/catalog/kpis/SCOR_POF", "/dashboard?kpis=A,B", "/clients/acme"):
        assert get(f"{site}{route}")[2] == INDEX, route
    status, headers, body = get(f"{site}/assets/app-1234.js")
    assert status == 200 and body == b"console.log(1)"
    assert "javascript" in headers["content-type"] and "immutable" in headers["cache-control"]


@pytest.mark.parametrize(
    "path",
    ["/assets/missing.js", "/nothing/here", "/v1/kpis", "/../secret.txt", "/%2e%2e/secret.txt"],
)
def test_anything_else_is_a_json_404(site: str, path: str) -> None:
    status, headers, body = get(f"{site}{path}")
    assert status == 404
    assert headers["content-type"] == "application/json" and b"not served" not in body


def test_health_says_whether_the_app_is_built(dist: Path, tmp_path: Path) -> None:
    for url in serve(dist, None):
        assert get(f"{url}/healthz")[0] == 200
    (dist / "index.html").unlink()
    for url in serve(dist, None):
        status, _, body = get(f"{url}/healthz")
        assert status == 503 and b"not built" in body


def test_dev_sign_in_mints_a_token_the_services_accept(site: str, tmp_path: Path) -> None:
    status, reply = post(
        f"{site}/ui/dev-token",
        {"role": "analyst", "clientId": "acme", "attributes": {"region": "EU"}},
    )
    assert status == 200 and reply["expiresIn"] == 3600
    keys = JwksSource(str(KeyFiles.of_data_dir(tmp_path / "data").jwks))
    caller = verify_token(str(reply["token"]), keys=keys, policy=TokenPolicy())
    assert (caller.role, caller.client_id) == (Role.ANALYST, "acme")
    assert caller.attributes == {"region": "EU"}


@pytest.mark.parametrize(
    "body",
    [{"role": "analyst"}, {"role": "emperor", "clientId": "x"}, {"role": "admin", "attributes": 3}],
)
def test_dev_sign_in_refuses_an_identity_that_cannot_exist(site: str, body: object) -> None:
    status, reply = post(f"{site}/ui/dev-token", body)
    assert status == 400 and reply["message"]


def test_without_a_data_dir_there_is_no_dev_sign_in(dist: Path) -> None:
    for url in serve(dist, None):
        status, reply = post(f"{url}/ui/dev-token", {"role": "admin"})
        assert status == 404
