"""`fastauth.verifier.JWKSVerifier` and the example microservice (examples/microservice/app.py).

Unit level: a verifier against a tiny real JWKS server (`support.keys.Listener`, which counts its hits) and
a clock moved by hand: caching per Cache-Control, at most one re-fetch for a burst of unknown kids
(jwt-security.md K5, item 13), stale keys kept when the server fails, no URL from a token ever fetched
(item 15), only public keys of allowed algorithms used (K6, K9).

End to end: `fastauth serve` (ES256) and the example microservice under uvicorn as real processes on
127.0.0.1: the microservice accepts the auth server's tokens and refuses expired, forged,
algorithm-confusion, embedded-jwk, jku/x5u and refresh tokens, keeps working from its cached JWKS while
the auth server is down, and (with revocation polling) refuses a logged-out session's token.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastauth.errors import ConfigError, RevokedToken, TokenError, UnknownKey
from fastauth.keys import generate_private_key
from fastauth.verifier import JWKSVerifier
from support.b64 import b64
from support.clock import Clock
from support.forge import decode, forge, kid_of
from support.http import bearer
from support.keys import (
    Listener,
    ec_public_jwk,
    hostile_variants,
    listener,
    running_clean,
    server_env,
    start_microservice,
    thumbprint,
)
from support.servers import Process, eventually, fastauth_serve, login, register

ISSUER = "https://auth.example.com"
AUDIENCE = "orders"
JWKS_PATH = "/.well-known/jwks.json"

#: The auth server's revocation_list_token in the deployment below, which the microservice sends.
REVOCATION_TOKEN = "deployment-revocation-token-" + "d" * 30


# --- unit level: a verifier and a JWKS server that counts its hits --------------------------------------


class Issuer:
    """Plays the auth server: ES256 keys, a JWKS document served by a `Listener`, tokens signed by hand."""

    def __init__(self, site: Listener, clock: Clock, max_age: int = 300) -> None:
        self.site, self.clock, self.max_age = site, clock, max_age
        self.keys: dict[str, Any] = {}
        self.status = 200
        self.add_key()
        site.routes[JWKS_PATH] = self.serve

    def add_key(self) -> str:
        private = generate_private_key("ES256")
        kid = thumbprint(ec_public_jwk(private))
        self.keys[kid] = private
        return kid

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                {**ec_public_jwk(key), "kid": kid, "use": "sig", "alg": "ES256"}
                for kid, key in self.keys.items()
            ]
        }

    def serve(self) -> tuple[int, dict[str, str], bytes]:
        if self.status != 200:
            return self.status, {}, b"down"
        headers = {
            "Content-Type": "application/jwk-set+json",
            "Cache-Control": f"public, max-age={self.max_age}",
        }
        return 200, headers, json.dumps(self.jwks()).encode()

    @property
    def fetches(self) -> int:
        return self.site.hits.count(JWKS_PATH)

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(self.clock())
        claims = {
            "sub": "user-1",
            "type": "access",
            "iat": now,
            "exp": now + 900,
            "iss": ISSUER,
            "aud": [AUDIENCE],
            "jti": "jti-0123456789",
            "sid": "sid-0123456789",
        }
        claims.update(overrides)
        return claims

    def token(self, kid: str | None = None, typ: str = "at+jwt", **claims: Any) -> str:
        kid = kid or next(iter(self.keys))
        return forge({"alg": "ES256", "kid": kid, "typ": typ}, self.claims(**claims), "ES256", self.keys[kid])


@pytest.fixture
def site() -> Iterator[Listener]:
    with listener() as running_site:
        yield running_site


@pytest.fixture
def issuer(site: Listener, clock: Clock) -> Issuer:
    return Issuer(site, clock)


@pytest.fixture
async def verifier(site: Listener, clock: Clock) -> Any:
    made = JWKSVerifier(site.url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    yield made
    await made.aclose()


async def test_a_valid_token_verifies_and_the_jwks_is_cached(issuer: Issuer, verifier: JWKSVerifier) -> None:
    token = issuer.token()
    for _ in range(5):
        verified = await verifier.verify(token)
        assert verified.sub == "user-1" and verified.kid == kid_of(token)
    assert issuer.fetches == 1


async def test_the_cache_follows_max_age(issuer: Issuer, verifier: JWKSVerifier, clock: Clock) -> None:
    issuer.max_age = 60
    await verifier.verify(issuer.token())
    clock.advance(59)
    await verifier.verify(issuer.token())
    assert issuer.fetches == 1
    clock.advance(1)
    await verifier.verify(issuer.token())
    assert issuer.fetches == 2


async def test_max_age_zero_does_not_turn_every_request_into_a_fetch(
    issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    issuer.max_age = 0
    tokens = [issuer.token() for _ in range(200)]
    results = await asyncio.gather(*(verifier.verify(token) for token in tokens))
    assert len(results) == 200
    assert issuer.fetches == 1, "a burst after an expired cache fetches once"
    clock.advance(verifier.min_refetch_interval - 1)
    await verifier.verify(issuer.token())
    assert issuer.fetches == 1
    clock.advance(1)
    await verifier.verify(issuer.token())
    assert issuer.fetches == 2


async def test_a_burst_of_unknown_kids_causes_at_most_one_refetch(
    issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    await verifier.verify(issuer.token())
    attacker = generate_private_key("ES256")

    def unknown(i: int) -> str:
        header = {"alg": "ES256", "kid": f"forged-kid-{i:04d}", "typ": "at+jwt"}
        return forge(header, issuer.claims(), "ES256", attacker)

    async def attempt(token: str) -> type[BaseException] | None:
        try:
            await verifier.verify(token)
        except TokenError as error:
            return type(error)
        return None

    # Right after a fetch: no re-fetch at all.
    results = await asyncio.gather(*(attempt(unknown(i)) for i in range(1000)))
    assert set(results) == {UnknownKey}
    assert issuer.fetches == 1
    # Once re-fetching is allowed again, 1,000 distinct unknown kids at once cost exactly one fetch.
    clock.advance(verifier.min_refetch_interval)
    results = await asyncio.gather(*(attempt(unknown(i)) for i in range(1000, 2000)))
    assert set(results) == {UnknownKey}
    assert issuer.fetches == 2
    results = await asyncio.gather(*(attempt(unknown(i)) for i in range(2000, 2100)))
    assert issuer.fetches == 2
    assert issuer.site.hits == [JWKS_PATH] * 2, "only the configured URL is ever requested"


async def test_a_new_key_is_found_by_one_refetch(
    issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    await verifier.verify(issuer.token())
    new_kid = issuer.add_key()  # the auth server rotated
    clock.advance(verifier.min_refetch_interval)
    assert (await verifier.verify(issuer.token(new_kid))).kid == new_kid
    assert issuer.fetches == 2


async def test_stale_keys_keep_serving_while_the_jwks_server_fails(
    issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    issuer.max_age = 60
    await verifier.verify(issuer.token())
    issuer.status = 503
    clock.advance(60)  # the cached document has expired, and the server answers 503
    for _ in range(50):
        assert (await verifier.verify(issuer.token())).sub == "user-1"
    assert issuer.fetches == 2, "a failing server is retried at most once per min_refetch_interval"
    clock.advance(verifier.min_refetch_interval)
    await verifier.verify(issuer.token())
    assert issuer.fetches == 3
    # Back up: the next fetch succeeds and new keys are learnt again.
    issuer.status = 200
    new_kid = issuer.add_key()
    clock.advance(verifier.min_refetch_interval)
    assert (await verifier.verify(issuer.token(new_kid))).kid == new_kid


async def test_no_url_named_in_a_token_is_ever_fetched(
    issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    honest = issuer.token()
    await verifier.verify(honest)
    clock.advance(verifier.min_refetch_interval)  # let an unknown kid trigger a real re-fetch
    attacker = generate_private_key("ES256")
    with listener() as trap:
        trap.routes["/jwks.json"] = (
            200,
            {"Content-Type": "application/json"},
            json.dumps({"keys": []}).encode(),
        )
        variants = hostile_variants(honest, issuer.jwks(), attacker, trap.url)
        for name, token in variants.items():
            with pytest.raises(TokenError):
                await verifier.verify(token)
            assert trap.hits == [], f"{name}: the verifier fetched a URL from the token"
    # Not even the JWKS was fetched again: these are refused on their header, before any key lookup.
    assert issuer.site.hits == [JWKS_PATH]


@pytest.mark.parametrize(
    "header",
    [
        {"kid": 123},
        {"kid": ["a", "b"]},
        {"kid": {"id": "x"}},
        {"kid": "k" * 10_000},
        {"kid": ""},
        {"crit": ["exp"]},
        {"b64": False, "crit": ["b64"]},
        {"zip": "DEF"},
        {"x5c": ["MIIB"]},
        {"typ": None},
    ],
    ids=lambda header: "-".join(f"{k}:{type(v).__name__}" for k, v in header.items()),
)
async def test_hostile_headers_are_refused_without_a_fetch(
    header: dict[str, Any], issuer: Issuer, verifier: JWKSVerifier, clock: Clock
) -> None:
    """jwt-security.md items 13, 15-17: odd kid types and extra members, each refused on sight."""
    await verifier.verify(issuer.token())
    clock.advance(verifier.min_refetch_interval)  # a re-fetch would be allowed: none may happen
    kid = next(iter(issuer.keys))
    full = {"alg": "ES256", "kid": kid, "typ": "at+jwt", **header}
    token = forge(full, issuer.claims(), "ES256", issuer.keys[kid])
    with pytest.raises(TokenError):
        await verifier.verify(token)
    assert issuer.fetches == 1


async def test_a_redirect_is_not_followed(site: Listener, clock: Clock) -> None:
    with listener() as elsewhere:
        site.routes[JWKS_PATH] = (302, {"Location": f"{elsewhere.url}/jwks.json"}, b"")
        made = JWKSVerifier(site.url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE, clock=clock)
        try:
            with pytest.raises(UnknownKey):
                await made.verify("a.b.c")
        finally:
            await made.aclose()
        assert elsewhere.hits == []


async def test_private_and_foreign_keys_in_the_jwks_are_ignored(
    issuer: Issuer, site: Listener, clock: Clock
) -> None:
    good_kid = next(iter(issuer.keys))
    leaked = generate_private_key("ES256")
    leaked_kid = "leaked"
    secret_kid = "oct"
    document = issuer.jwks()
    d = b64(leaked.private_numbers().private_value.to_bytes(32, "big"))
    document["keys"] += [
        {**ec_public_jwk(leaked), "d": d, "kid": leaked_kid, "use": "sig", "alg": "ES256"},
        {"kty": "oct", "k": b64(b"s" * 32), "kid": secret_kid, "alg": "HS256", "use": "sig"},
        {**ec_public_jwk(leaked), "kid": "enc-key", "use": "enc", "alg": "ES256"},
    ]
    site.routes[JWKS_PATH] = (200, {"Cache-Control": "max-age=300"}, json.dumps(document).encode())
    made = JWKSVerifier(site.url + JWKS_PATH, issuer=ISSUER, audience=AUDIENCE, clock=clock)
    try:
        assert (await made.verify(issuer.token(good_kid))).kid == good_kid
        claims = issuer.claims()
        for kid, alg, key in (
            (leaked_kid, "ES256", leaked),
            ("enc-key", "ES256", leaked),
            (secret_kid, "HS256", b"s" * 32),
        ):
            token = forge({"alg": alg, "kid": kid, "typ": "at+jwt"}, claims, alg, key)
            with pytest.raises(TokenError):
                await made.verify(token)
    finally:
        await made.aclose()


def test_hmac_algorithms_are_refused_up_front() -> None:
    for algorithms in (["HS256"], ["ES256", "HS256"], []):
        with pytest.raises(ValueError, match="asymmetric"):
            JWKSVerifier("http://127.0.0.1:9/jwks", issuer=ISSUER, audience=AUDIENCE, algorithms=algorithms)


async def test_claims_and_type_are_checked_like_the_server(issuer: Issuer, verifier: JWKSVerifier) -> None:
    await verifier.verify(issuer.token())
    now = int(issuer.clock())
    for bad in (
        issuer.token(iss="https://evil.example.com"),
        issuer.token(aud=["someone-else"]),
        issuer.token(exp=now - 10),
        issuer.token(typ="rt+jwt", type="refresh"),
        issuer.token(type="refresh"),
        issuer.token(typ="JWT"),
    ):
        with pytest.raises(TokenError):
            await verifier.verify(bad)
    # Refresh tokens are for the auth server alone (`fastauth.tokens.kinds`): a resource server cannot
    # even ask for one.
    with pytest.raises(ConfigError, match="only access tokens"):
        await verifier.verify(issuer.token(typ="rt+jwt", type="refresh"), "refresh")


async def test_revocation_polling(issuer: Issuer, site: Listener, clock: Clock) -> None:
    revoked: list[dict[str, Any]] = []
    site.routes["/revocations"] = lambda: (200, {}, json.dumps({"sessions": revoked}).encode())
    made = JWKSVerifier(
        site.url + JWKS_PATH,
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
        revocation_url=site.url + "/revocations",
        revocation_poll_interval=5,
    )
    try:
        token = issuer.token(sid="session-A")
        other = issuer.token(sid="session-B")
        await made.verify(token)
        revoked.append({"sid": "session-A", "until": int(clock()) + 60})
        await made.verify(token)  # within the poll interval: not known yet (the documented trade-off)
        assert site.hits.count("/revocations") == 1
        clock.advance(5)
        with pytest.raises(RevokedToken):
            await made.verify(token)
        assert (await made.verify(other)).sid == "session-B"
        assert site.hits.count("/revocations") == 2, "one poll per interval, however many requests"
        clock.advance(60)  # past `until`: the token has expired anyway, the entry is dropped
        await made.verify(issuer.token(sid="session-A", exp=int(clock()) + 60))
    finally:
        await made.aclose()


async def test_a_revoked_session_stays_refused_for_the_verifiers_own_leeway(
    issuer: Issuer, site: Listener, clock: Clock
) -> None:
    """The server drops a session from its list when its tokens expire under the server's leeway; a
    verifier with a longer leeway must keep refusing them for its own leeway."""
    now = int(clock())
    revoked = [{"sid": "session-A", "until": now + 10}]
    site.routes["/revocations"] = lambda: (200, {}, json.dumps({"sessions": revoked}).encode())
    made = JWKSVerifier(
        site.url + JWKS_PATH,
        issuer=ISSUER,
        audience=AUDIENCE,
        clock=clock,
        leeway=60,
        revocation_url=site.url + "/revocations",
        revocation_poll_interval=1,
    )
    token = issuer.token(sid="session-A", exp=now + 5)
    try:
        with pytest.raises(RevokedToken):
            await made.verify(token)
        revoked.clear()  # the server's horizon has passed
        clock.advance(30)  # the token is past exp, but within this verifier's 60-second leeway
        with pytest.raises(RevokedToken):
            await made.verify(token)
        assert site.hits.count("/revocations") == 2
    finally:
        await made.aclose()


async def test_the_fastapi_dependency(issuer: Issuer, verifier: JWKSVerifier) -> None:
    app = FastAPI()

    @app.get("/orders")
    async def orders(claims: dict[str, Any] = Depends(verifier.get_current_claims)) -> dict[str, Any]:
        return {"user": claims["sub"]}

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        ok = await client.get("/orders", headers=bearer(issuer.token()))
        assert ok.status_code == 200 and ok.json() == {"user": "user-1"}
        missing = await client.get("/orders")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
        bad = await client.get("/orders", headers=bearer(issuer.token(iss="other")))
        assert bad.status_code == 401
        assert bad.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert (await client.get("/orders?request=x")).status_code == 401  # no query parameter either


def test_the_verifier_does_not_import_the_database_parts() -> None:
    code = "import fastauth.verifier, sys; assert 'sqlalchemy' not in sys.modules, 'sqlalchemy imported'"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    # ...and the public names of the package still import.
    code = "from fastauth import FastAuth, FastAuthConfig, EventHooks, User"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


# --- end to end: the auth server and the example microservice as processes --------------------------


class Deployment:
    def __init__(self, auth: Process, short: Process, service: Process) -> None:
        self.auth, self.short, self.service = auth, short, service

    def orders(self, token: str) -> int:
        return httpx.get(f"{self.service.base}/orders", headers=bearer(token), timeout=10).status_code


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    """An auth server (revocation list on, JWKS max-age 2 s), a second one with 3-second access tokens
    on the same database (so the same keys), and the microservice polling revocations every second."""
    cwd = tmp_path_factory.mktemp("deployment")
    database = f"sqlite+aiosqlite:///{cwd / 'auth.db'}"
    auth = fastauth_serve(
        cwd,
        server_env(
            database,
            FASTAUTH_REVOCATION_LIST_ENABLED="true",
            FASTAUTH_REVOCATION_LIST_TOKEN=REVOCATION_TOKEN,
            FASTAUTH_JWT__JWKS_CACHE_MAX_AGE="2",
        ),
    )
    short = fastauth_serve(cwd, server_env(database, FASTAUTH_JWT__ACCESS_TOKEN_TTL="3"))
    service = start_microservice(
        cwd,
        f"{auth.base}{JWKS_PATH}",
        REVOCATION_URL=f"{auth.base}/auth/revocations",
        REVOCATION_TOKEN=REVOCATION_TOKEN,
        REVOCATION_POLL_INTERVAL="1",
        JWT_LEEWAY="0",
        JWKS_MIN_REFETCH_INTERVAL="1",
    )
    with running_clean(auth, short, service):
        register(auth.base, "buyer@example.com")
        yield Deployment(auth, short, service)


def test_the_microservice_accepts_the_auth_servers_tokens(deployment: Deployment) -> None:
    tokens = login(deployment.auth.base, "buyer@example.com")
    r = httpx.get(f"{deployment.service.base}/orders", headers=bearer(tokens["access_token"]), timeout=10)
    assert r.status_code == 200
    body = r.json()
    me = httpx.get(f"{deployment.auth.base}/auth/me", headers=bearer(tokens["access_token"]), timeout=10)
    assert body["user"] == me.json()["id"]
    # A token of the other server process on the same database verifies too: same keys.
    other = login(deployment.short.base, "buyer@example.com")["access_token"]
    assert kid_of(other) == kid_of(tokens["access_token"])
    assert deployment.orders(other) == 200


def test_the_microservice_refuses_bad_tokens(deployment: Deployment) -> None:
    tokens = login(deployment.auth.base, "buyer@example.com")
    assert deployment.orders(tokens["access_token"]) == 200
    assert deployment.orders(tokens["refresh_token"]) == 401
    jwks = httpx.get(f"{deployment.auth.base}{JWKS_PATH}", timeout=10).json()
    attacker = generate_private_key("ES256")
    with listener() as trap:
        for name, token in hostile_variants(tokens["access_token"], jwks, attacker, trap.url).items():
            r = httpx.get(f"{deployment.service.base}/orders", headers=bearer(token), timeout=10)
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
        assert trap.hits == []
    # A well-formed token under a kid the auth server never had (item 33: a foreign key).
    _, claims = decode(tokens["access_token"])
    foreign = forge({"alg": "ES256", "kid": "staging-key-1", "typ": "at+jwt"}, claims, "ES256", attacker)
    assert deployment.orders(foreign) == 401
    missing = httpx.get(f"{deployment.service.base}/orders", timeout=10)
    assert missing.status_code == 401 and missing.json() == {"detail": "Not authenticated"}
    assert deployment.orders(tokens["access_token"]) == 200


def test_the_microservice_refuses_an_expired_token(deployment: Deployment) -> None:
    token = login(deployment.short.base, "buyer@example.com")["access_token"]
    assert deployment.orders(token) == 200
    assert eventually(lambda: deployment.orders(token) == 401, timeout=8, interval=0.25)


def test_a_logout_reaches_the_microservice_within_its_poll_interval(deployment: Deployment) -> None:
    leaving = login(deployment.auth.base, "buyer@example.com")["access_token"]
    staying = login(deployment.auth.base, "buyer@example.com")["access_token"]
    assert deployment.orders(leaving) == deployment.orders(staying) == 200
    r = httpx.post(f"{deployment.auth.base}/auth/logout", headers=bearer(leaving), timeout=10)
    assert r.status_code == 204
    # Poll interval 1 s: refused within it (plus a margin for a loaded machine), never blindly slept.
    assert eventually(lambda: deployment.orders(leaving) == 401, timeout=5, interval=0.2)
    assert deployment.orders(staying) == 200, "only the logged-out session is refused"


def test_the_microservice_keeps_working_while_the_auth_server_is_down(deployment: Deployment) -> None:
    """Runs last in this module: it stops the auth servers."""
    token = login(deployment.auth.base, "buyer@example.com")["access_token"]
    assert deployment.orders(token) == 200
    deployment.auth.stop()
    deployment.short.stop()
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"{deployment.auth.base}{JWKS_PATH}", timeout=2)
    # The JWKS max-age is 2 s, so the cached document expires while the server is down: the
    # microservice keeps the last good keys (and a failed revocation poll does not block requests).
    for _ in range(3):
        assert deployment.orders(token) == 200
    time.sleep(2.5)  # let the cached document pass its max-age: the point is that time goes by
    assert deployment.orders(token) == 200
    forged = forge(
        {"alg": "ES256", "kid": kid_of(token), "typ": "at+jwt"},
        {"sub": "x"},
        "ES256",
        generate_private_key("ES256"),
    )
    assert deployment.orders(forged) == 401


def test_the_example_is_documented() -> None:
    readme = Path(__file__).resolve().parent.parent / "examples" / "microservice" / "README.md"
    text = readme.read_text()
    for name in ("JWKS_URL", "JWT_ISSUER", "JWT_AUDIENCE", "REVOCATION_URL", "uvicorn"):
        assert name in text
