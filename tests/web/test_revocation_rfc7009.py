"""`POST /auth/revoke` (RFC 7009) on SQLite and PostgreSQL.

The caller authenticates (access token or API key). Its own access or refresh token ends the whole
session (the access token is 401 at once, the refresh token refreshes nothing); its own API key is
revoked; anyone's with an API key holding `fastauth:revoke`. Every other case (unknown, invalid,
somebody else's) is the same empty 200 and changes nothing. Each revocation is audited.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from fastauth.authz.api_keys import checksum
from support.clock import Clock
from support.forge import alg_none, claims, resign
from support.http import bearer, cookie_header, set_cookies

ROUTE = "/auth/revoke"
FORM = {"content-type": "application/x-www-form-urlencoded"}
ALICE, BOB, OPS = "alice@example.com", "bob@example.com", "ops@example.com"
PASSWORD = "correct horse"
UNKNOWN_KEY = "fa_" + "A" * 30 + checksum("A" * 30)


@dataclass
class World:
    app: Any
    client: httpx.AsyncClient
    service: Any
    alice: dict[str, Any]
    bob: dict[str, Any]
    ids: dict[str, str]

    async def revoke(self, token: str, caller: str, **params: str) -> httpx.Response:
        return await self.client.post(ROUTE, data={"token": token, **params}, headers=bearer(caller))

    async def works(self, access: str) -> bool:
        status = (await self.client.get("/private", headers=bearer(access))).status_code
        assert status in (200, 401), status
        return status == 200

    async def refreshes(self, refresh: str) -> bool:
        r = await self.client.post("/auth/refresh", json={"refresh_token": refresh})
        assert r.status_code in (200, 401), r.text
        return r.status_code == 200

    async def events(self, user: str) -> list[tuple[str, str | None, str]]:
        records = await self.service.store.list_audit(user_id=self.ids[user])
        return [
            (r.event, r.actor_id, r.detail)
            for r in records
            if r.event in ("token_revoked", "api_key_revoked")
        ]


async def world(make_app: Any, clock: Clock | None = None, **overrides: Any) -> World:
    app = await make_app(clock=clock, **overrides)
    service = app.auth.service
    alice = await app.register(ALICE, PASSWORD)
    bob = await app.register(BOB, PASSWORD)
    ops = await service.create_user(OPS, PASSWORD, is_verified=True)
    await service.roles.create("revoker", ["fastauth:revoke"])
    await service.accounts.update(ops.id, roles=("revoker",))
    ids = {email: (await service.store.get_user_by_email(email)).id for email in (ALICE, BOB)}
    ids[OPS] = ops.id
    return World(app, app.client, service, alice, bob, ids)


def assert_done(r: httpx.Response) -> None:
    """RFC 7009 §2.2: 200, and nothing in the body whatever happened."""
    assert (r.status_code, r.content) == (200, b""), r.text
    assert r.headers["cache-control"] == "no-store"


# --- the owner's own tokens -------------------------------------------------------------------------


async def test_the_owner_revokes_their_access_token_and_the_session_ends(make_app: Any) -> None:
    w = await world(make_app)
    other = (await w.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})).json()
    assert_done(await w.revoke(w.alice["access_token"], w.alice["access_token"]))
    assert not await w.works(w.alice["access_token"])
    assert not await w.refreshes(w.alice["refresh_token"])
    # Only that session: Alice's other sign-in goes on.
    assert await w.works(other["access_token"])
    sid = claims(w.alice["access_token"])["sid"]
    assert await w.events(ALICE) == [("token_revoked", None, f"session {sid}")]


async def test_the_owner_revokes_their_refresh_token_and_the_session_ends(make_app: Any) -> None:
    w = await world(make_app)
    for hint in ({"token_type_hint": "refresh_token"}, {"token_type_hint": "access_token"}, {}):
        tokens = (await w.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})).json()
        assert_done(await w.revoke(tokens["refresh_token"], tokens["access_token"], **hint))
        assert not await w.refreshes(tokens["refresh_token"]), hint
        assert not await w.works(tokens["access_token"]), hint


async def test_revoking_twice_is_the_same_answer(make_app: Any) -> None:
    w = await world(make_app)
    other = (await w.client.post("/auth/login", json={"email": ALICE, "password": PASSWORD})).json()
    assert_done(await w.revoke(w.alice["refresh_token"], other["access_token"]))
    assert_done(await w.revoke(w.alice["refresh_token"], other["access_token"]))
    assert len(await w.events(ALICE)) == 1  # the second one ended nothing


async def test_the_owner_revokes_their_api_key_with_it_or_with_a_token(make_app: Any) -> None:
    w = await world(make_app)
    uid = w.ids[ALICE]
    one, _ = await w.service.api_keys.create(uid, "one", [], None, key_id="one")
    two, _ = await w.service.api_keys.create(uid, "two", [], None, key_id="two")
    assert await w.works(one) and await w.works(two)
    assert_done(await w.revoke(one, one))  # a key revokes itself
    assert not await w.works(one)
    assert_done(await w.revoke(two, w.alice["access_token"]))  # the owner's session revokes a key
    assert not await w.works(two)
    assert await w.works(w.alice["access_token"])
    assert [(e, a) for e, a, _ in await w.events(ALICE)] == [("api_key_revoked", None)] * 2


async def test_a_key_of_the_owner_without_the_revoke_scope_still_revokes_the_owners_tokens(
    make_app: Any,
) -> None:
    """Revoking a token needs the token itself: whoever holds it could use it already."""
    w = await world(make_app)
    key, _ = await w.service.api_keys.create(w.ids[ALICE], "script", [], None, key_id="script")
    assert_done(await w.revoke(w.alice["refresh_token"], key))
    assert not await w.works(w.alice["access_token"])


# --- other people's tokens -------------------------------------------------------------------------


async def test_another_users_tokens_are_not_the_callers_and_nothing_changes(make_app: Any) -> None:
    w = await world(make_app)
    bobs_key, _ = await w.service.api_keys.create(w.ids[BOB], "bob", [], None, key_id="bob-key")
    alices_key, _ = await w.service.api_keys.create(w.ids[ALICE], "alice", [], None, key_id="alice-key")
    for name, caller in {"Bob's access token": w.bob["access_token"], "Bob's key": bobs_key}.items():
        for token in (w.alice["access_token"], w.alice["refresh_token"], alices_key):
            assert_done(await w.revoke(token, caller))
        assert await w.works(w.alice["access_token"]), name
        assert await w.works(alices_key), name
    assert await w.refreshes(w.alice["refresh_token"])
    assert await w.events(ALICE) == []


async def test_a_user_holding_the_revoke_permission_through_a_token_is_no_service(make_app: Any) -> None:
    """`fastauth:revoke` counts on an API key only: a person's session revokes only their own."""
    w = await world(make_app)
    ops = (await w.client.post("/auth/login", json={"email": OPS, "password": PASSWORD})).json()
    assert "fastauth:revoke" in claims(ops["access_token"])["scope"].split()
    assert_done(await w.revoke(w.alice["access_token"], ops["access_token"]))
    assert await w.works(w.alice["access_token"])


async def test_a_key_holding_fastauth_revoke_revokes_anyones(make_app: Any) -> None:
    w = await world(make_app)
    service_key, _ = await w.service.api_keys.create(
        w.ids[OPS], "ops", ["fastauth:revoke"], None, key_id="ops"
    )
    alices_key, _ = await w.service.api_keys.create(w.ids[ALICE], "alice", [], None, key_id="alice-key")
    assert_done(await w.revoke(w.alice["access_token"], service_key))
    assert not await w.works(w.alice["access_token"])
    assert not await w.refreshes(w.alice["refresh_token"])
    assert_done(await w.revoke(w.bob["refresh_token"], service_key, token_type_hint="refresh_token"))
    assert not await w.works(w.bob["access_token"])
    assert_done(await w.revoke(alices_key, service_key))
    assert not await w.works(alices_key)
    sid = claims(w.alice["access_token"])["sid"]
    assert await w.events(ALICE) == [
        ("api_key_revoked", w.ids[OPS], "key alice-key " + alices_key[:8]),
        ("token_revoked", w.ids[OPS], f"session {sid}"),
    ]


async def test_the_revoke_scope_goes_with_the_owners_permission(make_app: Any) -> None:
    w = await world(make_app)
    service_key, _ = await w.service.api_keys.create(
        w.ids[OPS], "ops", ["fastauth:revoke"], None, key_id="ops"
    )
    await w.service.accounts.update(w.ids[OPS], roles=())
    assert_done(await w.revoke(w.alice["access_token"], service_key))
    assert await w.works(w.alice["access_token"])


# --- tokens that are nothing: the same 200, nothing changes ----------------------------------------


async def test_unknown_and_invalid_tokens_are_the_same_200(make_app: Any, clock: Clock) -> None:
    w = await world(make_app, clock=clock)
    access = w.alice["access_token"]
    expiring, _ = await w.service.api_keys.create(w.ids[ALICE], "e", [], int(clock()) + 60, key_id="e")
    rows = {
        "garbage": "garbage",
        "forged signature": resign(access, "another-secret-" + "y" * 40),
        "alg none": alg_none(access),
        "malformed API key": "fa_notakeyatall",
        "unknown API key": UNKNOWN_KEY,
        "long junk under the size cap": "x" * 15000,
    }
    for name, token in rows.items():
        r = await w.revoke(token, w.bob["access_token"])
        assert (r.status_code, r.content) == (200, b""), name
    # Unsupported hints are ignored: every kind is supported, so unsupported_token_type never comes.
    assert_done(await w.revoke("garbage", w.bob["access_token"], token_type_hint="id_token"))
    clock.advance(61)
    assert_done(await w.revoke(expiring, w.alice["access_token"]))  # an expired key: nothing to end
    assert await w.works(access)
    assert [e for e in await w.events(ALICE) if e[0] != "api_key_created"] == []


# --- who may call, and bad requests ----------------------------------------------------------------


async def test_a_caller_without_good_credentials_is_401(make_app: Any) -> None:
    w = await world(make_app)
    token = {"token": w.alice["access_token"]}
    none = await w.client.post(ROUTE, data=token)
    assert (none.status_code, none.json()) == (
        401,
        {"error": "invalid_client", "error_description": "Not authenticated"},
    )
    assert none.headers["www-authenticate"] == "Bearer"
    # A token presented as the caller that is itself no credential: every such case one answer.
    bad = {
        "invalid": "garbage",
        "unknown key": UNKNOWN_KEY,
        "refresh token as caller": w.alice["refresh_token"],
    }
    for name, caller in bad.items():
        r = await w.client.post(ROUTE, data=token, headers=bearer(caller))
        assert (r.status_code, r.json()) == (
            401,
            {"error": "invalid_token", "error_description": "Invalid or expired token"},
        ), name
        assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"', name
        assert r.headers["cache-control"] == "no-store"
    assert await w.works(w.alice["access_token"])
    # Revoked: the caller's own token, once revoked, calls nothing more.
    assert_done(await w.revoke(w.bob["access_token"], w.bob["access_token"]))
    again = await w.revoke(w.bob["access_token"], w.bob["access_token"])
    assert again.status_code == 401


async def test_bad_requests_are_rfc6749_errors(make_app: Any) -> None:
    w = await world(make_app)
    caller = bearer(w.alice["access_token"])
    not_a_form = {
        "error": "invalid_request",
        "error_description": "The body must be application/x-www-form-urlencoded",
    }
    rows: dict[str, tuple[bytes, dict[str, str], int, dict[str, str]]] = {
        "JSON body": (b'{"token": "x"}', {"content-type": "application/json"}, 400, not_a_form),
        "no body": (b"", {}, 400, not_a_form),
        "missing token": (
            b"token_type_hint=refresh_token",
            FORM,
            400,
            {"error": "invalid_request", "error_description": "Missing parameter: token"},
        ),
        "repeated token": (
            b"token=a&token=b",
            FORM,
            400,
            {
                "error": "invalid_request",
                "error_description": "Parameter 'token' is repeated (RFC 6749 §3.2)",
            },
        ),
        "20 KB token": (
            b"token=" + b"x" * 20 * 1024,
            FORM,
            413,
            {"error": "invalid_request", "error_description": "Request body too large"},
        ),
    }
    for name, (content, headers, status, body) in rows.items():
        r = await w.client.post(ROUTE, content=content, headers={**caller, **headers})
        assert (r.status_code, r.json()) == (status, body), name
        assert r.headers["cache-control"] == "no-store", name
    assert await w.works(w.alice["access_token"])


async def test_a_cookie_session_needs_its_csrf_token(make_app: Any) -> None:
    w = await world(make_app, cookie_opt_in=True, cookie_secure=False)
    w.client.cookies.clear()
    login = await w.client.post(
        "/auth/login", json={"email": ALICE, "password": PASSWORD}, headers={"X-Fastauth-Delivery": "cookie"}
    )
    jar = {name: cookie.value for name, cookie in set_cookies(login).items()}
    w.client.cookies.clear()
    access = jar["fastauth_access"]
    cookies = {"Cookie": cookie_header(jar), **FORM}
    refused = await w.client.post(ROUTE, content=f"token={access}".encode(), headers=cookies)
    assert (refused.status_code, refused.json()) == (
        403,
        {"error": "invalid_request", "error_description": "CSRF token missing or invalid"},
    )
    assert await w.works(access)
    done = await w.client.post(
        ROUTE, content=f"token={access}".encode(), headers={**cookies, "X-CSRF-Token": jar["csrf_token"]}
    )
    assert_done(done)
    assert not await w.works(access)


async def test_the_metadata_names_both_endpoints_only_when_they_can_work(make_app: Any) -> None:
    w = await world(make_app)
    meta = (await w.client.get("/.well-known/oauth-authorization-server")).json()
    base = "http://testserver/auth"
    assert (meta["revocation_endpoint"], meta["introspection_endpoint"]) == (
        f"{base}/revoke",
        f"{base}/introspect",
    )
    off = await make_app(authz={"api_keys_enabled": False})
    meta = (await off.client.get("/.well-known/oauth-authorization-server")).json()
    # Without API keys nobody can introspect: the endpoint is not promised. Revocation still works.
    assert (
        "introspection_endpoint" not in meta and "introspection_endpoint_auth_methods_supported" not in meta
    )
    assert meta["revocation_endpoint_auth_methods_supported"] == ["Bearer"]


class BearerAuth(httpx.Auth):
    """The caller's bearer credential, for a client whose own client authentication is `none`."""

    def __init__(self, token: str) -> None:
        self.token = token

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


async def test_authlibs_oauth2_client_logs_out_by_revoking_its_refresh_token(make_app: Any) -> None:
    from authlib.integrations.httpx_client import AsyncOAuth2Client

    w = await world(make_app)
    client = AsyncOAuth2Client(
        client_id="fastauth",
        token_endpoint_auth_method="none",
        revocation_endpoint_auth_method="none",
        transport=httpx.ASGITransport(app=w.app.app),
        base_url="http://testserver",
    )
    async with client:
        token = await client.fetch_token("http://testserver/auth/token", username=ALICE, password=PASSWORD)
        # No token given: authlib revokes the refresh token it holds (RFC 7009's advice).
        r = await client.revoke_token(
            "http://testserver/auth/revoke",
            token_type_hint="refresh_token",
            auth=BearerAuth(token["access_token"]),
        )
        assert (r.status_code, r.content) == (200, b"")
    assert not await w.works(token["access_token"])
    assert not await w.refreshes(token["refresh_token"])
