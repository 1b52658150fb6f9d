"""`POST /auth/introspect` (RFC 7662) on SQLite and PostgreSQL.

Who may call: only an API key holding `fastauth:introspect` (no credentials or bad ones 401, anything
else 403). What it answers: the live access token, refresh token or API key described, and exactly
`{"active": false}` for every hostile or dead token, each its own row. Refusals are RFC 6749 §5.2
bodies; every answer is `no-store`. Introspecting a key never spends that key's rate budget.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from fastauth.authz.api_keys import checksum
from support.app import TEST_SECRET
from support.clock import Clock
from support.forge import alg_none, claims, decode, forge, resign, tampered
from support.http import bearer, set_user

ROUTE = "/auth/introspect"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ALICE = "alice@example.com"
SERVICE = "orders-service@example.com"
PASSWORD = "correct horse"
INACTIVE = {"active": False}
#: A key of the right shape and checksum that nobody was ever given.
UNKNOWN_KEY = "fa_" + "A" * 30 + checksum("A" * 30)


@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    service: Any
    alice: dict[str, Any]
    alice_id: str
    service_id: str
    #: The resource server's key: holds fastauth:introspect.
    key: str

    async def ask(self, token: str | None, caller: str | None = None, **params: str) -> httpx.Response:
        data = {"token": token, **params} if token is not None else params
        return await self.client.post(ROUTE, data=data, headers=bearer(caller or self.key))


async def world(make_app: Any, clock: Clock | None = None, **overrides: Any) -> World:
    app = await make_app(clock=clock, **overrides)
    service = app.auth.service
    alice = await app.register(ALICE, PASSWORD)
    alice_user = await service.store.get_user_by_email(ALICE)
    machine = await service.create_user(SERVICE, PASSWORD, is_verified=True)
    await service.roles.create("introspector", ["fastauth:introspect"])
    await service.accounts.update(machine.id, roles=("introspector",))
    key, _ = await service.api_keys.create(machine.id, "orders", ["fastauth:introspect"], None, key_id="k1")
    return World(app, app.client, service, alice, alice_user.id, machine.id, key)


def assert_no_store(r: httpx.Response) -> None:
    assert r.headers["cache-control"] == "no-store"


def assert_inactive(r: httpx.Response) -> None:
    assert (r.status_code, r.json()) == (200, INACTIVE), r.text
    assert_no_store(r)


# --- who may call ----------------------------------------------------------------------------------

NOT_AUTHENTICATED = ({"error": "invalid_client", "error_description": "Not authenticated"}, "Bearer")
INVALID_TOKEN = (
    {"error": "invalid_token", "error_description": "Invalid or expired token"},
    'Bearer error="invalid_token"',
)
#: Authorization header (None: none) -> the 401's body and challenge.
BAD_CALLERS: dict[str, tuple[str | None, tuple[dict[str, str], str]]] = {
    "no credentials": (None, NOT_AUTHENTICATED),
    "basic auth (client_secret_basic is no way in)": ("Basic b3JkZXJzOnNlY3JldA==", NOT_AUTHENTICATED),
    "unknown key": (f"Bearer {UNKNOWN_KEY}", INVALID_TOKEN),
    "malformed key": ("Bearer fa_notakeyatall", INVALID_TOKEN),
    "garbage bearer": ("Bearer garbage", INVALID_TOKEN),
    "bad header": ("Bearer  two-spaces", INVALID_TOKEN),
}


async def test_a_caller_without_good_credentials_is_401(make_app: Any) -> None:
    w = await world(make_app)
    for name, (header, (body, challenge)) in BAD_CALLERS.items():
        headers = {"Authorization": header} if header is not None else {}
        r = await w.client.post(ROUTE, data={"token": w.alice["access_token"]}, headers=headers)
        assert (r.status_code, r.json()) == (401, body), name
        assert r.headers.get_list("www-authenticate") == [challenge], name
        assert_no_store(r)
    # The credentials come first: nobody without them learns anything about the body.
    r = await w.client.post(ROUTE, content=b"[not a form", headers={"content-type": "application/json"})
    assert (r.status_code, r.json()) == (401, NOT_AUTHENTICATED[0])


INSUFFICIENT = {"error": "insufficient_scope", "error_description": "The token lacks a scope this needs"}
INSUFFICIENT_CHALLENGE = 'Bearer error="insufficient_scope", scope="fastauth:introspect"'


async def test_a_caller_without_the_scope_is_403_an_access_token_too(make_app: Any) -> None:
    w = await world(make_app)
    scopeless, _ = await w.service.api_keys.create(w.service_id, "other", [], None, key_id="k2")
    # A person's session never introspects, even holding the permission through a role.
    tokens = (await w.client.post("/auth/login", json={"email": SERVICE, "password": PASSWORD})).json()
    assert "fastauth:introspect" in claims(tokens["access_token"])["scope"].split()
    for name, caller in {"key without the scope": scopeless, "access token": tokens["access_token"]}.items():
        r = await w.ask(w.alice["access_token"], caller=caller)
        assert (r.status_code, r.json()) == (403, INSUFFICIENT), name
        assert r.headers["www-authenticate"] == INSUFFICIENT_CHALLENGE, name
        assert_no_store(r)


async def test_a_key_that_went_bad_is_refused(make_app: Any) -> None:
    w = await world(make_app)
    spare, _ = await w.service.api_keys.create(
        w.service_id, "spare", ["fastauth:introspect"], None, key_id="k2"
    )
    assert (await w.ask(w.alice["access_token"], caller=spare)).status_code == 200
    await w.service.revoke_api_key("k2", user=None)
    revoked = await w.ask(w.alice["access_token"], caller=spare)
    assert (revoked.status_code, revoked.json()) == (401, INVALID_TOKEN[0])
    # The owner loses the permission: the key's scope is cut down to what they hold, at once.
    await w.service.accounts.update(w.service_id, roles=())
    r = await w.ask(w.alice["access_token"])
    assert (r.status_code, r.json()) == (403, INSUFFICIENT)
    await w.service.accounts.update(w.service_id, roles=("introspector",))
    assert (await w.ask(w.alice["access_token"])).status_code == 200
    # The owner is deactivated: the key is no credential at all.
    await set_user(w.service, SERVICE, is_active=False)
    r = await w.ask(w.alice["access_token"])
    assert (r.status_code, r.json()) == (401, INVALID_TOKEN[0])


# --- what it answers for live tokens ---------------------------------------------------------------


async def test_a_live_access_token_is_described(make_app: Any) -> None:
    w = await world(make_app)
    access = w.alice["access_token"]
    said = claims(access)
    expected = {
        "active": True,
        "token_type": "Bearer",
        "token_use": "access_token",
        "username": ALICE,
        "sub": w.alice_id,
        **{k: said[k] for k in ("exp", "iat", "iss", "aud", "sid", "client_id", "jti")},
    }
    hints: list[dict[str, str]] = [
        {},
        {"token_type_hint": "access_token"},
        {"token_type_hint": "refresh_token"},  # a wrong hint: the search goes on (RFC 7662 §2.1)
        {"token_type_hint": "api_key"},  # not a registered hint: ignored
        {"client_id": "someone", "scope": "x", "foo": "bar"},  # extra parameters: ignored
    ]
    for params in hints:
        r = await w.ask(access, **params)
        assert (r.status_code, r.json()) == (200, expected), params
        assert_no_store(r)


async def test_a_live_refresh_token_is_described_without_a_bearer_type(make_app: Any) -> None:
    w = await world(make_app)
    refresh = w.alice["refresh_token"]
    said = claims(refresh)
    names = ("sub", "exp", "iat", "iss", "aud", "sid", "client_id", "jti")
    expected = {
        "active": True,
        "token_use": "refresh_token",
        "username": ALICE,
        **{k: said[k] for k in said if k in names},
    }
    for hint in ({}, {"token_type_hint": "refresh_token"}, {"token_type_hint": "access_token"}):
        assert (await w.ask(refresh, **hint)).json() == expected, hint


async def test_a_tokens_scope_is_the_tokens(make_app: Any) -> None:
    w = await world(make_app)
    await w.service.roles.create("buyer", ["orders:read", "orders:write"])
    await w.service.accounts.update(w.alice_id, roles=("buyer",))
    tokens = (await w.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})).json()
    assert (await w.ask(tokens["access_token"])).json()["scope"] == "orders:read orders:write"


async def test_a_live_api_key_is_described_with_the_scopes_its_owner_still_holds(
    make_app: Any, clock: Clock
) -> None:
    w = await world(make_app, clock=clock)
    await w.service.roles.create("buyer", ["orders:read", "orders:write"])
    await w.service.accounts.update(w.alice_id, roles=("buyer",))
    key, record = await w.service.api_keys.create(
        w.alice_id, "script", ["orders:read", "orders:write"], None, key_id="alice-key"
    )
    r = await w.ask(key)
    assert (r.status_code, r.json()) == (
        200,
        {
            "active": True,
            "token_type": "Bearer",
            "token_use": "api_key",
            "sub": w.alice_id,
            "username": ALICE,
            "scope": "orders:read orders:write",
            "client_id": "alice-key",
            "iat": record.created_at,
            "iss": "fastauth",
        },
    )
    await w.service.roles.update("buyer", permissions=["orders:read"])
    assert (await w.ask(key)).json()["scope"] == "orders:read"
    expiring, record = await w.service.api_keys.create(w.alice_id, "s", [], int(clock()) + 60, key_id="ak")
    assert (await w.ask(expiring)).json()["exp"] == record.expires_at


# --- hostile and dead tokens: each exactly {"active": false} ----------------------------------------


def _resigned(token: str, header: dict[str, Any] | None = None, **changes: Any) -> str:
    """The token with another header or claims, signed with the app's real secret: only the claim
    rules can refuse it."""
    real_header, payload = decode(token)
    return forge(header if header is not None else real_header, {**payload, **changes}, "HS256", TEST_SECRET)


def hostile(access: str, refresh: str) -> dict[str, str]:
    header, payload, _ = access.split(".")
    access_header, refresh_header = decode(access)[0], decode(refresh)[0]
    no_typ = {k: v for k, v in access_header.items() if k != "typ"}
    return {
        "garbage": "garbage",
        "three dots of nothing": "a.b.c",
        "empty segments": "..",
        "unicode": "é" * 40,
        "long junk under the size cap": "x" * 15000,
        "forged signature (another secret)": resign(access, "another-secret-" + "y" * 40),
        "signature cut off": f"{header}.{payload}.",
        "signature of the refresh token": f"{header}.{payload}.{refresh.split('.')[2]}",
        "tampered sub": tampered(access, sub="somebody-else"),
        "tampered exp": tampered(access, exp=claims(access)["exp"] + 3600),
        "alg none": alg_none(access),
        "alg none without kid": alg_none(access, keep_kid=False),
        "alg None": alg_none(access, alg="None"),
        "typ JWT, well signed": _resigned(access, {**access_header, "typ": "JWT"}),
        "no typ, well signed": _resigned(access, no_typ),
        "other issuer, well signed": _resigned(access, iss="https://evil.example"),
        "other audience, well signed": _resigned(access, aud=["elsewhere"]),
        "refresh claims under the access typ": _resigned(refresh, {**refresh_header, "typ": "at+jwt"}),
        "access claims under the refresh typ": _resigned(access, {**access_header, "typ": "rt+jwt"}),
        "malformed API key": "fa_notakeyatall",
        "API key with a wrong checksum": UNKNOWN_KEY[:-1] + ("B" if UNKNOWN_KEY[-1] != "B" else "C"),
        "unknown API key": UNKNOWN_KEY,
    }


async def test_every_hostile_token_is_inactive(make_app: Any) -> None:
    w = await world(make_app)
    rows = hostile(w.alice["access_token"], w.alice["refresh_token"])
    for name, token in rows.items():
        for hint in ({}, {"token_type_hint": "refresh_token"}):
            r = await w.ask(token, **hint)
            assert (r.status_code, r.json()) == (200, INACTIVE), (name, hint, r.text)
            assert_no_store(r)
    # The genuine tokens still are active: the answers were about the hostile ones.
    assert (await w.ask(w.alice["access_token"])).json()["active"] is True


async def test_a_token_of_another_app_is_inactive(make_app: Any) -> None:
    w = await world(make_app)
    other = await make_app(secret="other-app-secret-" + "z" * 40)
    foreign = await other.register("mallory@example.com", PASSWORD)
    assert_inactive(await w.ask(foreign["access_token"]))
    assert_inactive(await w.ask(foreign["refresh_token"]))


async def test_an_expired_access_token_is_inactive(make_app: Any, clock: Clock) -> None:
    w = await world(make_app, clock=clock)
    clock.advance(900 + 5 - 1)  # within the leeway: still live
    assert (await w.ask(w.alice["access_token"])).json()["active"] is True
    clock.advance(2)
    assert_inactive(await w.ask(w.alice["access_token"]))


async def test_a_spent_refresh_token_and_a_logged_out_session_are_inactive(make_app: Any) -> None:
    w = await world(make_app)
    rotated = await w.client.post("/auth/refresh", json={"refresh_token": w.alice["refresh_token"]})
    assert rotated.status_code == 200
    fresh = rotated.json()
    assert_inactive(await w.ask(w.alice["refresh_token"]))
    assert (await w.ask(fresh["refresh_token"])).json()["active"] is True
    out = await w.client.post("/auth/logout", headers=bearer(fresh["access_token"]))
    assert out.status_code in (200, 204), out.text
    assert_inactive(await w.ask(fresh["access_token"]))
    assert_inactive(await w.ask(fresh["refresh_token"], token_type_hint="refresh_token"))


async def test_revoked_expired_and_deactivated_owners_keys_are_inactive(make_app: Any, clock: Clock) -> None:
    w = await world(make_app, clock=clock)
    revoked, _ = await w.service.api_keys.create(w.alice_id, "r", [], None, key_id="revoked")
    expiring, _ = await w.service.api_keys.create(w.alice_id, "e", [], int(clock()) + 60, key_id="expiring")
    kept, _ = await w.service.api_keys.create(w.alice_id, "k", [], None, key_id="kept")
    await w.service.revoke_api_key("revoked", user=None)
    assert_inactive(await w.ask(revoked))
    clock.advance(60)
    assert_inactive(await w.ask(expiring))
    assert (await w.ask(kept)).json()["active"] is True
    await set_user(w.service, ALICE, is_active=False)
    for name, token in {
        "key": kept,
        "access": w.alice["access_token"],
        "refresh": w.alice["refresh_token"],
    }.items():
        assert (await w.ask(token)).json() == INACTIVE, name


# --- bad requests: RFC 6749 §5.2 bodies ------------------------------------------------------------

NOT_A_FORM = {
    "error": "invalid_request",
    "error_description": "The body must be application/x-www-form-urlencoded",
}
NO_TOKEN = {"error": "invalid_request", "error_description": "Missing parameter: token"}
#: name -> (body, headers, status, answer)
BAD_REQUESTS: dict[str, tuple[bytes, dict[str, str], int, dict[str, str]]] = {
    "JSON body": (b'{"token": "x"}', {"content-type": "application/json"}, 400, NOT_A_FORM),
    "text body": (b"token=x", {"content-type": "text/plain"}, 400, NOT_A_FORM),
    "no content type": (b"token=x", {}, 400, NOT_A_FORM),
    "multipart": (
        b'--b\r\nContent-Disposition: form-data; name="token"\r\n\r\nx\r\n--b--\r\n',
        {"content-type": "multipart/form-data; boundary=b"},
        400,
        NOT_A_FORM,
    ),
    "empty form": (b"", FORM, 400, NO_TOKEN),
    "missing token": (b"token_type_hint=access_token", FORM, 400, NO_TOKEN),
    "empty token": (b"token=", FORM, 400, NO_TOKEN),
    "repeated token": (
        b"token=a&token=b",
        FORM,
        400,
        {"error": "invalid_request", "error_description": "Parameter 'token' is repeated (RFC 6749 §3.2)"},
    ),
    "20 KB token": (
        b"token=" + b"x" * 20 * 1024,
        FORM,
        413,
        {"error": "invalid_request", "error_description": "Request body too large"},
    ),
}


async def test_every_bad_request_is_an_rfc6749_error(make_app: Any) -> None:
    w = await world(make_app)
    for name, (content, headers, status, body) in BAD_REQUESTS.items():
        r = await w.client.post(ROUTE, content=content, headers={**bearer(w.key), **headers})
        assert (r.status_code, r.json()) == (status, body), name
        assert_no_store(r)
    # Bytes that decode to nothing sensible are just a token that is not active.
    odd = await w.client.post(ROUTE, content=b"token=%ff%fe%00&x=%zz", headers={**bearer(w.key), **FORM})
    assert_inactive(odd)
    wrong = await w.client.get(ROUTE, headers=bearer(w.key))
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "POST")


# --- rate limits -----------------------------------------------------------------------------------


async def test_introspection_spends_the_callers_budget_never_the_introspected_keys(make_app: Any) -> None:
    w = await world(make_app, rate_limit_enabled=True, authz={"api_key_rate_limit": "3/minute"})
    key, _ = await w.service.api_keys.create(w.alice_id, "s", [], None, key_id="ak")
    for _ in range(3):
        assert (await w.ask(key)).json()["active"] is True
    r = await w.ask(key)
    assert (r.status_code, r.json()) == (
        429,
        {"error": "slow_down", "error_description": "Too many attempts; try again later"},
    )
    assert int(r.headers["retry-after"]) >= 1
    assert_no_store(r)
    # The introspected key made no request here: its own budget is whole.
    for _ in range(3):
        assert (await w.client.get("/private", headers=bearer(key))).status_code == 200


# --- a standard client -----------------------------------------------------------------------------


class BearerAuth(httpx.Auth):
    """The caller's bearer credential, for a client whose own client authentication is `none`."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


async def test_authlibs_oauth2_client_introspects(make_app: Any) -> None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    w = await world(make_app)
    client = AsyncOAuth2Client(
        client_id="fastauth",
        token_endpoint_auth_method="none",
        transport=httpx.ASGITransport(app=w.app.app),
        base_url="http://testserver",
    )
    async with client:
        url = "http://testserver/auth/introspect"
        live = await client.introspect_token(url, token=w.alice["access_token"], auth=BearerAuth(w.key))
        assert (live.status_code, live.json()["sub"]) == (200, w.alice_id)
        dead = await client.introspect_token(url, token="garbage", auth=BearerAuth(w.key))
        assert dead.json() == INACTIVE
