"""`JWKSVerifier` with introspection: API keys (`fa_...`) asked about at the auth server (RFC 7662).

End to end: `fastauth serve` (ES256, SQLite) as a real process on 127.0.0.1, its users, roles and keys
written beforehand through the service on the same database. The verifier accepts a live key with the
scopes its owner holds, keeps the answer at most `introspection_cache_ttl` seconds (so a revoked key is
refused after that), never sends a JWT (the server's own tokens verify locally, forged ones are refused
locally), refuses every key when its own key may not introspect, and fails closed when the server is
unreachable.

Unit level: a stand-in introspection endpoint in a thread answers what a test wants: nonsense answers
are refused and never cached, a burst of requests with one key asks once, the cache never outlives the
key's `exp`, and the configuration is checked up front.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastauth import FastAuth, FastAuthConfig
from fastauth.authz.api_keys import checksum, new_api_key
from fastauth.errors import InvalidApiKey, TokenError
from fastauth.verifier import JWKSVerifier
from support.clock import Clock
from support.forge import alg_none, resign
from support.http import bearer
from support.keys import SECRET, running_clean, server_env
from support.servers import Process, fastauth_serve, free_port, login

JWKS_PATH = "/.well-known/jwks.json"
INTROSPECT_PATH = "/auth/introspect"
ISSUER = AUDIENCE = "fastauth"
PASSWORD = "correct horse battery"
UNKNOWN_KEY = "fa_" + "A" * 30 + checksum("A" * 30)


# --- end to end: a real auth server -----------------------------------------------------------------


@dataclass
class Deployment:
    server: Process
    #: The resource service's own key (fastauth:introspect), one without that scope, and users' keys.
    keys: dict[str, str]
    ids: dict[str, str]

    def verifier(self, clock: Clock, *, key: str | None = None, **options: Any) -> JWKSVerifier:
        return JWKSVerifier(
            f"{self.server.base}{JWKS_PATH}",
            issuer=ISSUER,
            audience=AUDIENCE,
            introspection_url=f"{self.server.base}{INTROSPECT_PATH}",
            introspection_key=key or self.keys["service"],
            clock=clock,
            **options,
        )


async def _prepare(database_url: str) -> tuple[dict[str, str], dict[str, str]]:
    """Users, roles and keys, written through the service before the server starts."""
    config = FastAuthConfig(
        secret=SECRET, database_url=database_url, jwt={"algorithm": "ES256"}, rate_limit_enabled=False
    )
    auth = FastAuth(config)
    await auth.startup()
    try:
        service = auth.service
        await service.roles.create("introspector", ["fastauth:introspect"])
        await service.roles.create("buyer", ["orders:read"])
        machine = await service.create_user("orders-service@example.com", PASSWORD, is_verified=True)
        alice = await service.create_user("alice@example.com", PASSWORD, is_verified=True)
        await service.accounts.update(machine.id, roles=("introspector",))
        await service.accounts.update(alice.id, roles=("buyer",))
        keys: dict[str, str] = {}
        for name, owner, scopes in [
            ("service", machine.id, ["fastauth:introspect"]),
            ("scopeless", machine.id, []),
            ("alice", alice.id, ["orders:read"]),
            ("to-revoke", alice.id, ["orders:read"]),
            ("for-the-outage", alice.id, ["orders:read"]),
        ]:
            keys[name], _ = await service.api_keys.create(owner, name, scopes, None, key_id=name)
        now = service.now()
        keys["expiring"], _ = await service.api_keys.create(alice.id, "e", [], now + 3600, key_id="expiring")
        return keys, {"alice": alice.id, "service": machine.id}
    finally:
        await auth.shutdown()


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    cwd = tmp_path_factory.mktemp("introspection")
    database = f"sqlite+aiosqlite:///{cwd / 'auth.db'}"
    keys, ids = asyncio.run(_prepare(database))
    server = fastauth_serve(cwd, server_env(database))
    with running_clean(server):
        yield Deployment(server, keys, ids)


async def test_a_live_key_is_accepted_with_its_owners_scopes(deployment: Deployment) -> None:
    verifier = deployment.verifier(Clock())
    try:
        verified = await verifier.verify(deployment.keys["alice"])
    finally:
        await verifier.aclose()
    assert verified.claims == {
        "sub": deployment.ids["alice"],
        "type": "api_key",
        "scope": "orders:read",
        "client_id": "alice",
        "iss": ISSUER,
        "iat": verified.claims["iat"],
        "username": "alice@example.com",
    }


async def test_the_answer_is_kept_at_most_the_cache_ttl(deployment: Deployment) -> None:
    clock = Clock()
    verifier = deployment.verifier(clock, introspection_cache_ttl=10)
    try:
        for _ in range(5):
            await verifier.verify(deployment.keys["alice"])
        assert verifier.introspection_count == 1
        clock.advance(10)
        await verifier.verify(deployment.keys["alice"])
        assert verifier.introspection_count == 2
    finally:
        await verifier.aclose()


async def test_a_revoked_key_is_refused_once_the_cached_answer_is_old(deployment: Deployment) -> None:
    clock = Clock()
    verifier = deployment.verifier(clock)
    key = deployment.keys["to-revoke"]
    try:
        await verifier.verify(key)
        async with httpx.AsyncClient(base_url=deployment.server.base) as client:
            r = await client.post("/auth/revoke", data={"token": key}, headers=bearer(key))
            assert (r.status_code, r.content) == (200, b"")
        await verifier.verify(key)  # the cached answer: at most introspection_cache_ttl (30 s) old
        clock.advance(30)
        with pytest.raises(InvalidApiKey):
            await verifier.verify(key)
        assert verifier.introspection_count == 2
    finally:
        await verifier.aclose()


async def test_an_expired_key_is_refused_by_its_exp_whatever_the_cache(deployment: Deployment) -> None:
    clock = Clock()
    verifier = deployment.verifier(clock)
    try:
        verified = await verifier.verify(deployment.keys["expiring"])
        exp = verified.claims["exp"]
        clock.now = float(exp + verifier.leeway)
        with pytest.raises(InvalidApiKey):
            await verifier.verify(deployment.keys["expiring"])
    finally:
        await verifier.aclose()


async def test_unknown_and_malformed_keys_are_refused(deployment: Deployment) -> None:
    verifier = deployment.verifier(Clock())
    try:
        with pytest.raises(InvalidApiKey):
            await verifier.verify(UNKNOWN_KEY)  # asked once, then the inactive answer is kept
        with pytest.raises(InvalidApiKey):
            await verifier.verify(UNKNOWN_KEY)
        assert verifier.introspection_count == 1
        for malformed in ("fa_", "fa_short", UNKNOWN_KEY[:-1] + "0", UNKNOWN_KEY + "x"):
            with pytest.raises(InvalidApiKey):
                await verifier.verify(malformed)
        assert verifier.introspection_count == 1  # no checksum, no question
    finally:
        await verifier.aclose()


async def test_a_jwt_is_never_sent(deployment: Deployment) -> None:
    """The server's own access tokens verify here, forged ones are refused here: neither is posted."""
    sent: list[str] = []

    async def record(request: httpx.Request) -> None:
        sent.append(f"{request.method} {request.url.path}")

    client = httpx.AsyncClient(event_hooks={"request": [record]})
    verifier = deployment.verifier(Clock(), http_client=client)
    try:
        access = login(deployment.server.base, "alice@example.com", PASSWORD)["access_token"]
        verified = await verifier.verify(access)
        assert verified.claims["scope"] == "orders:read"
        for forged in (resign(access, "x" * 64), alg_none(access), "garbage", access + "x"):
            with pytest.raises(TokenError):
                await verifier.verify(forged)
        assert all(line == f"GET {JWKS_PATH}" for line in sent), sent
        await verifier.verify(deployment.keys["alice"])
        assert sent[-1] == f"POST {INTROSPECT_PATH}"
    finally:
        await verifier.aclose()
        await client.aclose()


async def test_a_verifier_whose_key_may_not_introspect_refuses_every_key(
    deployment: Deployment, caplog: pytest.LogCaptureFixture
) -> None:
    for key in (deployment.keys["scopeless"], UNKNOWN_KEY):
        verifier = deployment.verifier(Clock(), key=key)
        try:
            with pytest.raises(InvalidApiKey):
                await verifier.verify(deployment.keys["alice"])
        finally:
            await verifier.aclose()
    assert "holding fastauth:introspect" in caplog.text


async def test_the_fastapi_dependency_takes_keys(deployment: Deployment) -> None:
    verifier = deployment.verifier(Clock())
    app = FastAPI()

    @app.get("/orders")
    async def orders(claims: dict[str, Any] = Depends(verifier.get_current_claims)) -> dict[str, Any]:
        return {"sub": claims["sub"], "scope": claims["scope"], "type": claims["type"]}

    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://orders") as client:
            ok = await client.get("/orders", headers=bearer(deployment.keys["alice"]))
            assert (ok.status_code, ok.json()) == (
                200,
                {"sub": deployment.ids["alice"], "scope": "orders:read", "type": "api_key"},
            )
            refused = await client.get("/orders", headers=bearer(UNKNOWN_KEY))
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    finally:
        await verifier.aclose()


async def test_an_unreachable_server_fails_closed() -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    verifier = JWKSVerifier(
        f"{nowhere}{JWKS_PATH}",
        issuer=ISSUER,
        audience=AUDIENCE,
        introspection_url=f"{nowhere}{INTROSPECT_PATH}",
        introspection_key=new_api_key(),
        timeout=2,
    )
    try:
        with pytest.raises(InvalidApiKey):
            await verifier.verify(new_api_key())
    finally:
        await verifier.aclose()


async def test_while_the_server_is_down_a_cached_answer_serves_then_the_key_is_refused(
    deployment: Deployment,
) -> None:
    """Runs last in this module: it stops the auth server."""
    clock = Clock()
    verifier = deployment.verifier(clock)
    key = deployment.keys["for-the-outage"]
    try:
        await verifier.verify(key)
        deployment.server.stop()
        await verifier.verify(key)  # from the cache
        clock.advance(30)
        with pytest.raises(InvalidApiKey):
            await verifier.verify(key)
        with pytest.raises(InvalidApiKey):  # a failure is not kept: the next request asks again
            await verifier.verify(key)
        assert verifier.introspection_count == 3
    finally:
        await verifier.aclose()


# --- unit level: a stand-in introspection endpoint --------------------------------------------------


class Endpoint:
    """An HTTP server in a thread answering POSTs with `answer(form)` -> (status, body); records forms."""

    def __init__(self) -> None:
        self.forms: list[dict[str, list[str]]] = []
        self.headers: list[dict[str, str]] = []
        self.answer: Callable[[dict[str, list[str]]], tuple[int, bytes]] = lambda form: (200, b"{}")
        self.gate: threading.Event | None = None
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length", "0"))
                form = parse_qs(self.rfile.read(length).decode())
                endpoint.forms.append(form)
                endpoint.headers.append(dict(self.headers))
                if endpoint.gate is not None:
                    endpoint.gate.wait(10)
                status, body = endpoint.answer(form)
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{INTROSPECT_PATH}"
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def active(self, **changes: Any) -> None:
        def answer(form: dict[str, list[str]]) -> tuple[int, bytes]:
            body = {
                "active": True,
                "token_type": "Bearer",
                "token_use": "api_key",
                "sub": "user-1",
                "scope": "orders:read",
                "client_id": "key-1",
                "iss": ISSUER,
                "iat": 1_700_000_000,
            }
            body.update(changes)
            return 200, json.dumps({k: v for k, v in body.items() if v is not ...}).encode()

        self.answer = answer


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    made = Endpoint()
    yield made
    made.server.shutdown()
    made.server.server_close()


@pytest.fixture
async def verifier(endpoint: Endpoint, clock: Clock) -> Any:
    made = JWKSVerifier(
        "http://127.0.0.1:9/jwks.json",  # never fetched: these tests present keys only
        issuer=ISSUER,
        audience=AUDIENCE,
        introspection_url=endpoint.url,
        introspection_key="fa_own-key-of-the-service",
        clock=clock,
    )
    yield made
    await made.aclose()


async def test_the_request_is_rfc7662s(endpoint: Endpoint, verifier: JWKSVerifier) -> None:
    endpoint.active()
    key = new_api_key()
    await verifier.verify(key)
    assert endpoint.forms == [{"token": [key]}]
    headers = {k.lower(): v for k, v in endpoint.headers[0].items()}
    assert headers["authorization"] == "Bearer fa_own-key-of-the-service"
    assert headers["content-type"] == "application/x-www-form-urlencoded"


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (200, b"not json"),
        (200, b"[]"),
        (200, b'{"active": "true", "token_use": "api_key"}'),
        (200, b"{}"),
        (500, b'{"active": true}'),
        (401, b'{"error": "invalid_token"}'),
        (
            200,
            b'{"active": true, "token_use": "access_token", "sub": "u", "iss": "fastauth", "client_id": "k"}',
        ),
        (
            200,
            b'{"active": true, "token_use": "api_key", "sub": "u", "iss": "https://other", "client_id": "k"}',
        ),
        (200, b'{"active": true, "token_use": "api_key", "iss": "fastauth", "client_id": "k"}'),
        (200, b'{"active": true, "token_use": "api_key", "sub": "u", "iss": "fastauth", "client_id": 1}'),
        (
            200,
            b'{"active": true, "token_use": "api_key", "sub": "u", "iss": "fastauth", "client_id": "k", "exp": "1"}',
        ),
        (200, b'{"active": true, "pad": "' + b"x" * 70_000 + b'"}'),
    ],
    ids=[
        "not JSON",
        "not an object",
        "active as a string",
        "no active",
        "server error",
        "refused",
        "an access token's answer",
        "another issuer",
        "no sub",
        "client_id not a string",
        "exp not a number",
        "too large",
    ],
)
async def test_a_nonsense_answer_is_refused_and_not_kept(
    endpoint: Endpoint, verifier: JWKSVerifier, status: int, body: bytes
) -> None:
    endpoint.answer = lambda form: (status, body)
    key = new_api_key()
    for _ in range(2):
        with pytest.raises(InvalidApiKey):
            await verifier.verify(key)
    assert len(endpoint.forms) == 2  # nothing kept: each request asks again
    endpoint.active()
    assert (await verifier.verify(key)).claims["sub"] == "user-1"


async def test_the_claims_given_out_are_a_copy(endpoint: Endpoint, verifier: JWKSVerifier) -> None:
    endpoint.active()
    key = new_api_key()
    (await verifier.verify(key)).claims["scope"] = "admin:everything"
    assert (await verifier.verify(key)).claims["scope"] == "orders:read"
    assert len(endpoint.forms) == 1


async def test_an_inactive_answer_is_kept_too(
    endpoint: Endpoint, verifier: JWKSVerifier, clock: Clock
) -> None:
    endpoint.answer = lambda form: (200, b'{"active": false}')
    key = new_api_key()
    for _ in range(3):
        with pytest.raises(InvalidApiKey):
            await verifier.verify(key)
    assert len(endpoint.forms) == 1
    clock.advance(30)
    with pytest.raises(InvalidApiKey):
        await verifier.verify(key)
    assert len(endpoint.forms) == 2


async def test_the_cache_never_outlives_exp(endpoint: Endpoint, verifier: JWKSVerifier, clock: Clock) -> None:
    exp = int(clock()) + 10
    endpoint.active(exp=exp)
    key = new_api_key()
    assert (await verifier.verify(key)).claims["exp"] == exp
    clock.advance(9)
    await verifier.verify(key)
    assert len(endpoint.forms) == 1
    clock.advance(1)  # at exp: asked again (the server would now say inactive), then the leeway runs out
    await verifier.verify(key)
    assert len(endpoint.forms) == 2
    clock.advance(verifier.leeway)
    with pytest.raises(InvalidApiKey):
        await verifier.verify(key)


async def test_a_burst_of_requests_with_one_key_asks_once(endpoint: Endpoint, verifier: JWKSVerifier) -> None:
    endpoint.active()
    endpoint.gate = threading.Event()
    key = new_api_key()
    burst = [asyncio.create_task(verifier.verify(key)) for _ in range(20)]
    await asyncio.sleep(0.2)
    endpoint.gate.set()
    answers = await asyncio.gather(*burst)
    assert {a.claims["sub"] for a in answers} == {"user-1"}
    assert len(endpoint.forms) == 1


async def test_the_cache_is_bounded(endpoint: Endpoint, clock: Clock) -> None:
    endpoint.active()
    verifier = JWKSVerifier(
        "http://127.0.0.1:9/jwks.json",
        issuer=ISSUER,
        audience=AUDIENCE,
        introspection_url=endpoint.url,
        introspection_key="fa_k",
        introspection_cache_size=3,
        clock=clock,
    )
    try:
        keys = [new_api_key() for _ in range(4)]
        for key in keys:
            await verifier.verify(key)
        await verifier.verify(keys[0])  # pushed out by the fourth: asked again
        assert len(endpoint.forms) == 5
        await verifier.verify(keys[3])
        assert len(endpoint.forms) == 5
    finally:
        await verifier.aclose()


async def test_without_introspection_a_key_is_refused_unasked(endpoint: Endpoint) -> None:
    verifier = JWKSVerifier("http://127.0.0.1:9/jwks.json", issuer=ISSUER, audience=AUDIENCE)
    try:
        with pytest.raises(InvalidApiKey):
            await verifier.verify(new_api_key())
    finally:
        await verifier.aclose()
    assert endpoint.forms == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"introspection_url": "http://x/introspect"}, "go together"),
        ({"introspection_key": "fa_k"}, "go together"),
        ({"introspection_url": "http://x", "introspection_key": "fa_k\r\nX-Evil: 1"}, "printable ASCII"),
        ({"introspection_url": "http://x", "introspection_key": " "}, "printable ASCII"),
        (
            {"introspection_url": "http://x", "introspection_key": "k", "introspection_cache_ttl": 31},
            "0 to 30",
        ),
        (
            {"introspection_url": "http://x", "introspection_key": "k", "introspection_cache_ttl": -1},
            "0 to 30",
        ),
        (
            {"introspection_url": "http://x", "introspection_key": "k", "introspection_cache_size": 0},
            "at least 1",
        ),
    ],
    ids=[
        "url alone",
        "key alone",
        "header injection",
        "blank key",
        "ttl too long",
        "negative ttl",
        "no cache",
    ],
)
def test_the_configuration_is_checked_up_front(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        JWKSVerifier("http://x/jwks.json", issuer=ISSUER, audience=AUDIENCE, **options)


def test_the_documentation_names_the_options() -> None:
    page = (Path(__file__).resolve().parents[1] / "docs" / "introspection.md").read_text()
    for name in ("introspection_url", "introspection_key", "introspection_cache_ttl", "fastauth:introspect"):
        assert name in page, name
