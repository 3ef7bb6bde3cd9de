"""Development keys, minting and verification: what a token must prove to be trusted."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from services.security.caller import Role
from services.security.keys import JwksSource, KeyFiles, SigningKey, ensure_key_pair
from services.security.tokens import InvalidToken, TokenPolicy, TokenVerifier, mint_token


@pytest.fixture
def files(tmp_path: Path) -> KeyFiles:
    return KeyFiles.of_data_dir(tmp_path)


@pytest.fixture
def key(files: KeyFiles) -> SigningKey:
    return ensure_key_pair(files)


@pytest.fixture
def verifier(files: KeyFiles, key: SigningKey) -> TokenVerifier:
    return TokenVerifier(JwksSource(str(files.jwks)))


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_key_pair_is_created_once_private_and_published_as_jwks(files: KeyFiles) -> None:
    first = ensure_key_pair(files)
    again = ensure_key_pair(files)
    assert first.key_id == again.key_id
    assert files.private_key.stat().st_mode & 0o077 == 0
    published = json.loads(files.jwks.read_text())
    (entry,) = published["keys"]
    assert entry["kid"] == first.key_id and entry["alg"] == "RS256" and "d" not in entry


def test_a_minted_token_gives_back_its_caller(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint_token(key, role="manager", client_id="acme", attributes={"region": "EU"})
    caller = verifier.verify(token)
    assert caller.role is Role.MANAGER
    assert caller.client_id == "acme"
    assert dict(caller.attributes) == {"region": "EU"}
    assert caller.subject == "manager@acme"


def test_tenant_roles_need_a_client_and_platform_roles_have_none(key: SigningKey) -> None:
    with pytest.raises(ValueError, match="must name the client"):
        mint_token(key, role="analyst")
    with pytest.raises(ValueError, match="not bound to a client"):
        mint_token(key, role="operator", client_id="acme")


def test_expired_token_is_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    token = mint_token(key, role="admin", ttl_seconds=60, now=time.time() - 3600)
    with pytest.raises(InvalidToken, match="expired"):
        verifier.verify(token)


def test_wrong_audience_and_issuer_are_refused(key: SigningKey, verifier: TokenVerifier) -> None:
    with pytest.raises(InvalidToken, match="audience"):
        verifier.verify(mint_token(key, role="admin", audience="someone-else"))
    with pytest.raises(InvalidToken, match="issuer"):
        verifier.verify(mint_token(key, role="admin", issuer="https://evil.example"))


def test_token_signed_by_another_key_is_refused(tmp_path: Path, verifier: TokenVerifier) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    # Same kid as the trusted key would be the strongest forgery; an unknown kid is refused too.
    trusted_kid = json.loads((tmp_path / "auth" / "jwks.json").read_text())["keys"][0]["kid"]
    forged = mint_token(SigningKey(trusted_kid, stranger), role="admin")
    with pytest.raises(InvalidToken):
        verifier.verify(forged)
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(mint_token(SigningKey("other", stranger), role="admin"))


def test_alg_none_and_hmac_with_the_public_key_are_refused(
    key: SigningKey, verifier: TokenVerifier, files: KeyFiles
) -> None:
    claims = {
        "sub": "x", "role": "admin", "iss": "analytics-engine", "aud": "analytics-engine",
        "exp": int(time.time()) + 600,
    }  # fmt: skip
    unsigned = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': key.key_id})}.{_b64(claims)}."
    with pytest.raises(InvalidToken, match="'none'"):
        verifier.verify(unsigned)
    # The classic confusion: HMAC keyed with the (public) JWKS text.
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': key.key_id})}.{_b64(claims)}"
    mac = hmac.new(files.jwks.read_bytes(), signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(InvalidToken, match="HS256"):
        verifier.verify(forged)


def test_claims_that_do_not_describe_a_caller_are_refused(key: SigningKey) -> None:
    policy = TokenPolicy()
    base = {"sub": "x", "iss": policy.issuer, "aud": policy.audience, "exp": time.time() + 60}
    for claims, why in [
        ({**base, "role": "superuser"}, "not a known role"),
        ({**base, "role": "sales"}, "must carry client_id"),
        ({**base, "role": "analyst", "client_id": "a", "attrs": {"n": 1}}, "string values"),
    ]:
        token = jwt.encode(claims, key.private_key, algorithm="RS256", headers={"kid": key.key_id})
        with pytest.raises(InvalidToken, match=why):
            TokenVerifier(_StaticKeys(key), policy).verify(token)


class _StaticKeys(JwksSource):
    def __init__(self, key: SigningKey) -> None:
        super().__init__("static")
        self._static = jwt.PyJWK.from_dict(
            {**_public_jwk(key), "kid": key.key_id}, algorithm="RS256"
        )

    def key(self, key_id: str | None) -> jwt.PyJWK | None:
        return self._static


def _public_jwk(key: SigningKey) -> dict[str, str]:
    document = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.private_key.public_key()))
    return {k: str(v) for k, v in document.items()}


def test_a_rotated_key_is_picked_up_from_the_jwks(tmp_path: Path) -> None:
    files = KeyFiles.of_data_dir(tmp_path)
    ensure_key_pair(files)
    verifier = TokenVerifier(JwksSource(str(files.jwks), refresh_interval_seconds=0))
    files.private_key.unlink()
    rotated = ensure_key_pair(files)
    assert verifier.verify(mint_token(rotated, role="operator")).role is Role.OPERATOR


def test_the_cli_mints_a_token_the_data_dirs_jwks_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from analytics_engine.cli import main

    argv = [
        "token", "--role", "manager", "--client", "acme", "--attr", "region=EU",
        "--attr", "org_node=sales/emea", "--ttl", "600", "--data-dir", str(tmp_path),
    ]  # fmt: skip
    assert main(argv) == 0
    token = capsys.readouterr().out.strip()
    files = KeyFiles.of_data_dir(tmp_path)
    caller = TokenVerifier(JwksSource(str(files.jwks))).verify(token)
    assert (caller.role, caller.client_id) == (Role.MANAGER, "acme")
    assert dict(caller.attributes) == {"region": "EU", "org_node": "sales/emea"}
    assert main(["token", "--role", "analyst", "--data-dir", str(tmp_path)]) == 2
    assert "must name the client" in capsys.readouterr().err
    assert main(["token", "--role", "admin", "--attr", "oops", "--data-dir", str(tmp_path)]) == 2


def test_a_jwks_url_is_refreshed_without_making_verification_wait(tmp_path: Path) -> None:
    import http.server
    import threading

    files = KeyFiles.of_data_dir(tmp_path)
    first = ensure_key_pair(files)

    class Jwks(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the http.server hook's name
            body = files.jwks.read_bytes()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Jwks)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
        verifier = TokenVerifier(JwksSource(url, refresh_interval_seconds=0))
        assert verifier.verify(mint_token(first, role="operator")).role is Role.OPERATOR
        files.private_key.unlink()
        rotated = ensure_key_pair(files)
        token = mint_token(rotated, role="operator")
        deadline = time.monotonic() + 5
        while True:
            try:
                assert verifier.verify(token).role is Role.OPERATOR
                break
            except InvalidToken:
                assert time.monotonic() < deadline, "the rotated key never arrived"
                time.sleep(0.05)
    finally:
        server.shutdown()


def _counting_decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    decoded: list[str] = []
    real = jwt.decode

    def decode(token: str, *args: object, **kwargs: object) -> object:
        decoded.append(token)
        return real(token, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jwt, "decode", decode)
    return decoded


def test_a_verified_token_is_remembered_until_it_expires(
    files: KeyFiles, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.time()]
    verifier = TokenVerifier(JwksSource(str(files.jwks)), clock=lambda: now[0])
    decoded = _counting_decodes(monkeypatch)
    token = mint_token(key, role="analyst", client_id="acme", ttl_seconds=60)
    first = verifier.verify(token)
    assert verifier.verify(token) == first and len(decoded) == 1
    # Past its exp the token is checked afresh (here still within the clock-skew leeway).
    now[0] += 61
    assert verifier.verify(token) == first and len(decoded) == 2
    # Another token is verified on its own.
    verifier.verify(mint_token(key, role="analyst", client_id="other"))
    assert len(decoded) == 3


def test_a_remembered_token_is_refused_once_its_key_is_gone(
    files: KeyFiles, key: SigningKey, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys = JwksSource(str(files.jwks))
    verifier = TokenVerifier(keys)
    token = mint_token(key, role="admin")
    verifier.verify(token)
    monkeypatch.setattr(keys, "key", lambda key_id: None)
    with pytest.raises(InvalidToken, match="unknown key"):
        verifier.verify(token)


def test_a_refused_token_is_not_remembered(
    key: SigningKey, verifier: TokenVerifier, monkeypatch: pytest.MonkeyPatch
) -> None:
    decoded = _counting_decodes(monkeypatch)
    expired = mint_token(key, role="admin", ttl_seconds=-120)
    for _ in range(2):
        with pytest.raises(InvalidToken, match="expired"):
            verifier.verify(expired)
    assert len(decoded) == 2
