"""Providers that misbehave, on SQLite and PostgreSQL: each a small Starlette app on 127.0.0.1 (or a
closed port), with `timeout=1`. Whatever the fault, fastauth answers the error table's answer within
a bounded time, and nothing is created: no user, no identity, no session (and a failed start leaves
no state cookie and no sign-in under way).

Where the fault is decides where it shows: discovery at `/authorize` (fastauth reads the issuer's
document to build the authorization URL), the token endpoint and the JWKS at `/callback`.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from joserfc.jwk import RSAKey
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from support.oidc import (
    CLIENT_ID,
    CLIENT_SECRET,
    NOTHING,
    PUBLIC_URL,
    STATE_COOKIE,
    Browser,
    GitHub,
    email,
    query,
    rows,
    serve_asgi,
)
from support.servers import free_port

UNAVAILABLE = {
    "detail": "The sign-in provider did not answer; try again shortly",
    "code": "provider_unavailable",
}
FAILED = {"detail": "Sign-in with the provider failed", "code": "oauth_failed"}
FIVE_MB = 5 * 1024 * 1024
#: The provider's `timeout` in these tests, and the longest any answer may take: generous, so a loaded
#: CI machine does not fail it; a provider that is waited for without a bound takes far longer.
TIMEOUT = 1
BOUND = 10.0


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


#: The issuer's one key, published in its JWKS.
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1", "use": "sig", "alg": "RS256"})
#: An ID token whose header names RS256 and the issuer's kid, so fastauth reads the JWKS; its
#: signature is not one (with every answer well-formed, the sign-in fails as `oauth_failed`).
ID_TOKEN = f"{_b64({'alg': 'RS256', 'kid': 'k1', 'typ': 'JWT'})}.{_b64({'sub': 'x'})}.c2ln"


async def answer(fault: str, good: Any) -> Response:
    """`good`, or the fault named."""
    if fault == "ok":
        return JSONResponse(good)
    if fault == "slow":
        await asyncio.sleep(TIMEOUT * 5)
        return JSONResponse(good)
    if fault == "html":
        return HTMLResponse("<html><body>Service temporarily unavailable</body></html>")
    if fault == "array":
        return JSONResponse([good])
    if fault == "status_503":
        return JSONResponse({"error": "temporarily_unavailable"}, 503)
    if fault == "huge":  # 5 MB, declared in Content-Length
        return Response(b'{"pad": "' + b"a" * FIVE_MB + b'"}', media_type="application/json")
    if fault == "huge_chunked":  # 5 MB of a valid JSON object, chunked (no Content-Length)

        async def body() -> AsyncIterator[bytes]:
            yield json.dumps(good)[:-1].encode() + b', "pad": "'
            for _ in range(FIVE_MB // 65536):
                yield b"a" * 65536
            yield b'"}'

        return StreamingResponse(body(), media_type="application/json")
    if fault == "trickle":  # a byte every quarter second for 20 s, each gap shorter than the timeout

        async def dribble() -> AsyncIterator[bytes]:
            for _ in range(80):
                yield b" "
                await asyncio.sleep(0.25)
            yield json.dumps(good).encode()

        return StreamingResponse(dribble(), media_type="application/json")
    raise AssertionError(fault)


class FaultyIssuer:
    """An OpenID Connect issuer whose discovery document, token endpoint or JWKS has a `fault`."""

    def __init__(self) -> None:
        self.url = ""
        self.discovery = self.token = self.jwks = "ok"
        #: Changes to the discovery document (another issuer, endpoints elsewhere).
        self.document_changes: dict[str, Any] = {}

    def document(self) -> dict[str, Any]:
        return {
            "issuer": self.url,
            "authorization_endpoint": f"{self.url}/authorize",
            "token_endpoint": f"{self.url}/token",
            "jwks_uri": f"{self.url}/jwks",
            "id_token_signing_alg_values_supported": ["RS256"],
            **self.document_changes,
        }

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return await answer(self.discovery, self.document())

        async def token(request: Request) -> Response:
            good = {"access_token": "at", "token_type": "Bearer", "expires_in": 3600, "id_token": ID_TOKEN}
            return await answer(self.token, good)

        async def jwks(request: Request) -> Response:
            return await answer(self.jwks, {"keys": [KEY.as_dict(private=False)]})

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", discovery),
                Route("/token", token, methods=["POST"]),
                Route("/jwks", jwks),
            ]
        )


@pytest.fixture
def faulty() -> Iterator[FaultyIssuer]:
    issuer = FaultyIssuer()
    with serve_asgi(issuer.app()) as url:
        issuer.url = url
        yield issuer


async def app_for(make_app: Any, issuer: str) -> Any:
    provider = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "issuer": issuer, "timeout": TIMEOUT}
    return await make_app(public_url=PUBLIC_URL, cookie_secure=False, oauth={"faulty": provider})


async def nothing_created(app: Any) -> None:
    assert await rows(app) == NOTHING
    async with app.auth.service.store.engine.connect() as conn:
        under_way = (await conn.execute(text("SELECT count(*) FROM fastauth_oauth_states"))).scalar_one()
    assert under_way == 0


async def timed(call: Any) -> tuple[Any, float]:
    started = time.monotonic()
    result = await asyncio.wait_for(call, 30)
    return result, time.monotonic() - started


async def refused_start(app: Any) -> tuple[Any, float]:
    """`GET /authorize` for the faulty provider: its answer and how long it took."""
    return await timed(app.client.get("/auth/oauth/faulty/authorize", params={"redirect_to": "/welcome"}))


async def test_a_provider_that_is_down_is_unavailable(make_app: Any) -> None:
    app = await app_for(make_app, f"http://127.0.0.1:{free_port()}")  # nothing listens there
    answer, took = await refused_start(app)
    assert (answer.status_code, answer.json()) == (502, UNAVAILABLE)
    assert "set-cookie" not in answer.headers
    assert took < BOUND
    await nothing_created(app)


@pytest.mark.parametrize(
    ("fault", "changes"),
    [
        ("slow", {}),
        ("html", {}),
        ("array", {}),
        ("status_503", {}),
        ("huge", {}),
        ("huge_chunked", {}),
        ("ok", {"issuer": "http://127.0.0.1:1"}),  # another issuer's document
        ("ok", {"token_endpoint": "http://login.example.com/token"}),  # plain http, not loopback
        ("ok", {"authorization_endpoint": "http://login.example.com/authorize"}),
        ("ok", {"jwks_uri": "http://login.example.com/jwks"}),
        ("ok", {"token_endpoint": None}),
    ],
    ids=[
        "slow",
        "not_json",
        "json_array",
        "status_503",
        "5mb_declared",
        "5mb_chunked",
        "other_issuer",
        "http_token_endpoint",
        "http_authorization_endpoint",
        "http_jwks_uri",
        "no_token_endpoint",
    ],
)
async def test_a_bad_discovery_document_stops_the_start(
    make_app: Any, faulty: FaultyIssuer, fault: str, changes: dict[str, Any]
) -> None:
    faulty.discovery, faulty.document_changes = fault, changes
    app = await app_for(make_app, faulty.url)
    answer, took = await refused_start(app)
    assert (answer.status_code, answer.json()) == (502, UNAVAILABLE)
    assert "set-cookie" not in answer.headers
    assert took < BOUND
    await nothing_created(app)


async def test_a_trickling_discovery_document_is_cut_off_at_the_timeout(
    make_app: Any, faulty: FaultyIssuer
) -> None:
    faulty.discovery = "trickle"
    app = await app_for(make_app, faulty.url)
    answer, took = await refused_start(app)
    assert (answer.status_code, took < BOUND) == (502, True)  # uncut: a 302 after about 20 s
    assert answer.json() == UNAVAILABLE
    await nothing_created(app)


async def callback_after(app: Any) -> tuple[Any, float]:
    """A start that works, then the browser back at the callback with a code: its answer and time."""
    browser = Browser(app)
    url = await browser.start("faulty", redirect_to="/welcome")
    callback = f"{PUBLIC_URL}/auth/oauth/faulty/callback?code=the-code&state={query(url)['state']}"
    answer, took = await timed(browser.callback(callback))
    assert STATE_COOKIE not in browser.cookies
    return answer, took


async def test_with_every_answer_well_formed_a_forged_id_token_fails_the_sign_in(
    make_app: Any, faulty: FaultyIssuer
) -> None:
    app = await app_for(make_app, faulty.url)
    answer, _ = await callback_after(app)
    assert (answer.status_code, answer.json()) == (400, FAILED)
    await nothing_created(app)


@pytest.mark.parametrize(
    ("endpoint", "fault", "status"),
    [
        ("token", "slow", 502),
        ("token", "status_503", 502),
        ("token", "huge", 502),
        # An unreadable token answer is not the protocol: the provider is at fault (502), as for the JWKS.
        ("token", "html", 502),
        ("token", "array", 502),
        ("jwks", "slow", 502),
        ("jwks", "html", 502),
        ("jwks", "array", 502),
        ("jwks", "status_503", 502),
        ("jwks", "huge", 502),
        ("jwks", "huge_chunked", 502),
    ],
)
async def test_a_bad_token_endpoint_or_jwks_stops_the_callback(
    make_app: Any, faulty: FaultyIssuer, endpoint: str, fault: str, status: int
) -> None:
    setattr(faulty, endpoint, fault)
    app = await app_for(make_app, faulty.url)
    answer, took = await callback_after(app)
    assert (answer.status_code, answer.json()) == (status, UNAVAILABLE if status == 502 else FAILED)
    assert took < BOUND
    await nothing_created(app)


async def test_a_chunked_5mb_token_answer_is_refused_as_too_large(
    make_app: Any, faulty: FaultyIssuer
) -> None:
    faulty.token = "huge_chunked"
    app = await app_for(make_app, faulty.url)
    answer, took = await callback_after(app)
    assert (answer.status_code, answer.json(), took < BOUND) == (502, UNAVAILABLE, True)
    await nothing_created(app)


class FaultyGitHub(GitHub):
    """The GitHub stand-in, whose `/user` or `/user/emails` answers `fault`."""

    user_fault: str = "ok"
    emails_fault: str = "ok"
    user_body: dict[str, Any] | None = None

    async def _user(self, request: Request) -> Response:
        if self.user_body is not None:
            return JSONResponse(self.user_body)
        if self.user_fault != "ok":
            return await answer(self.user_fault, {"id": 1, "login": "octocat"})
        return await super()._user(request)

    async def _emails(self, request: Request) -> Response:
        if self.emails_fault != "ok":
            return await answer(self.emails_fault, [email("octo@example.com")])
        return await super()._emails(request)


@pytest.mark.parametrize(
    ("user_fault", "emails_fault", "user_body"),
    [
        ("slow", "ok", None),
        ("html", "ok", None),
        ("array", "ok", None),
        ("huge_chunked", "ok", None),
        ("ok", "slow", None),
        ("ok", "html", None),
        ("ok", "huge", None),
        ("ok", "huge_chunked", None),
        ("ok", "status_503", None),
        ("ok", "ok", {"id": "123", "login": "octocat"}),  # the id as a string
        ("ok", "ok", {"id": True, "login": "octocat"}),
        ("ok", "ok", {"login": "octocat"}),
    ],
)
async def test_a_bad_github_api_answer_stops_the_callback(
    make_app: Any, user_fault: str, emails_fault: str, user_body: dict[str, Any] | None
) -> None:
    github = FaultyGitHub()
    github.user_fault, github.emails_fault, github.user_body = user_fault, emails_fault, user_body
    github.add_user(123, "octocat", [email("octo@example.com")])
    with serve_asgi(github.app()) as url:
        github.url = url
        config = github.provider_config(timeout=TIMEOUT)
        app = await make_app(public_url=PUBLIC_URL, cookie_secure=False, oauth={"github": config})
        browser = Browser(app)
        start = await browser.start("github", redirect_to="/welcome")
        answer, took = await timed(browser.callback(github.approve(start, "octocat")))
    assert (answer.status_code, answer.json()) == (502, UNAVAILABLE)
    assert took < BOUND
    await nothing_created(app)
