"""API keys over HTTP on SQLite and PostgreSQL: `POST/GET/DELETE /auth/api-keys` (the key shown once,
a recent sign-in to make one, never cached), and a key in use: `get_current_principal`,
`get_current_user` (its owner), `require_permissions` on the application's routes, the optional
`X-API-Key` header, the per-key rate limit, and the last use written once per interval, never per
request. The hostile side is tests/web/test_api_key_attacks.py."""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi import Depends

from fastauth import User
from fastauth.authz import Principal
from fastauth.authz.api_keys import SHOWN, well_formed
from support.clock import Clock
from support.http import INVALID_TOKEN_BODY, NOT_AUTHENTICATED_BODY, assert_invalid_token, bearer, login

ROUTE = "/auth/api-keys"
#: For the rows of hostile inputs refused before any database work: SQLite alone (the other tests
#: run on both databases).
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
ALICE = "alice@example.com"
BOB = "bob@example.com"
ROLES = {"reporter": ["reports:read"], "editor": ["reports:read", "reports:write"]}
DAY = 24 * 3600
NOT_FOUND = {"detail": "No such API key", "code": "api_key_not_found"}
CREATED_FIELDS = {"id", "name", "key", "prefix", "scopes", "created_at", "expires_at"}
LISTED_FIELDS = {"id", "name", "prefix", "scopes", "created_at", "expires_at", "last_used_at"}


def at(epoch: float) -> str:
    """How the answers write a time."""
    return datetime.fromtimestamp(int(epoch), UTC).isoformat().replace("+00:00", "Z")


def add_routes(a: Any) -> None:
    """The application's own routes: who is calling, and one behind a permission."""
    auth = a.auth

    @a.app.get("/whoami")
    async def whoami(principal: Principal = Depends(auth.get_current_principal)) -> dict[str, Any]:
        return {
            "kind": principal.kind,
            "user_id": principal.user_id,
            "scopes": sorted(principal.scopes),
            "api_key_id": principal.api_key_id,
        }

    @a.app.get("/reports")
    async def reports(
        principal: Principal = Depends(auth.require_permissions("reports:read")),
    ) -> dict[str, Any]:
        return {"for": principal.user_id}

    @a.app.get("/owner")
    async def owner(user: User = Depends(auth.get_current_user)) -> dict[str, Any]:
        return {"email": user.email}


async def app_with_routes(make_app: Any, **overrides: Any) -> Any:
    a = await make_app(authz={"roles": ROLES, **overrides.pop("authz", {})}, **overrides)
    add_routes(a)
    return a


async def signed_in(a: Any, email: str = ALICE, roles: tuple[str, ...] = ()) -> tuple[User, dict[str, str]]:
    """A new account holding `roles`, and its fresh access token's headers."""
    tokens = await a.register(email)
    user = await a.auth.service.store.get_user_by_email(email)
    if roles:  # granted after the registration's token: a new sign-in's token carries them
        user = await a.auth.service.accounts.update(user.id, roles=roles)
        tokens = await login(a.client, email)
    return user, bearer(tokens["access_token"])


async def new_key(a: Any, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await a.client.post(ROUTE, json={"name": "nightly export", **body}, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_key_is_made_shown_once_listed_without_itself_and_revoked(
    make_app: Any, clock: Clock
) -> None:
    a = await app_with_routes(make_app, clock=clock)
    alice, headers = await signed_in(a, roles=("editor",))
    made = await a.client.post(
        ROUTE, json={"name": "nightly export", "scopes": ["reports:read", "reports:read"]}, headers=headers
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    body = made.json()
    assert set(body) == CREATED_FIELDS
    key = body["key"]
    assert key.startswith("fa_") and len(key) == 39 and well_formed(key)
    assert body["prefix"] == key[:SHOWN] == key[:8]
    assert body["name"] == "nightly export" and body["scopes"] == ["reports:read"]
    assert body["created_at"] == at(clock()) and body["expires_at"] == at(clock() + 90 * DAY)

    listed = await a.client.get(ROUTE, headers=headers)
    assert listed.status_code == 200 and listed.headers["cache-control"] == "no-store"
    assert listed.json() == [
        {
            "id": body["id"],
            "name": "nightly export",
            "prefix": body["prefix"],
            "scopes": ["reports:read"],
            "created_at": body["created_at"],
            "expires_at": body["expires_at"],
            "last_used_at": None,
        }
    ]
    assert key not in listed.text and key[SHOWN:] not in listed.text
    record = await a.auth.service.store.get_api_key(body["id"])
    assert record is not None and key not in repr(record) and record.user_id == alice.id

    used = await a.client.get("/whoami", headers=bearer(key))
    assert used.json() == {
        "kind": "api_key",
        "user_id": alice.id,
        "scopes": ["reports:read"],
        "api_key_id": body["id"],
    }
    revoked = await a.client.delete(f"{ROUTE}/{body['id']}", headers=headers)
    assert (revoked.status_code, revoked.content, revoked.headers["cache-control"]) == (204, b"", "no-store")
    assert (await a.client.get(ROUTE, headers=headers)).json() == []
    assert_invalid_token(await a.client.get("/whoami", headers=bearer(key)))
    again = await a.client.delete(f"{ROUTE}/{body['id']}", headers=headers)
    assert (again.status_code, again.json()) == (404, NOT_FOUND)
    events = [r.event for r in await a.auth.service.audit.read(user_id=alice.id)]
    assert events[:2] == ["api_key_revoked", "api_key_created"]


async def test_keys_are_listed_newest_first_and_only_the_callers(make_app: Any, clock: Clock) -> None:
    a = await app_with_routes(make_app, clock=clock)
    _, alice = await signed_in(a)
    _, bob = await signed_in(a, BOB)
    first = await new_key(a, alice, name="first")
    clock.advance(5)
    second = await new_key(a, alice, name="second", expires_in=3600)
    theirs = await new_key(a, bob, name="bob's")
    mine = (await a.client.get(ROUTE, headers=alice)).json()
    assert [k["id"] for k in mine] == [second["id"], first["id"]]
    assert mine[0]["expires_at"] == at(clock() + 3600)
    assert [k["id"] for k in (await a.client.get(ROUTE, headers=bob)).json()] == [theirs["id"]]
    # Bob's key is not Alice's to revoke: the same 404 as a key that does not exist.
    refused = await a.client.delete(f"{ROUTE}/{theirs['id']}", headers=alice)
    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert (await a.client.get("/whoami", headers=bearer(theirs["key"]))).status_code == 200
    # A NUL in the id (which PostgreSQL would refuse to compare) never reaches the database.
    nul = await a.client.delete(f"{ROUTE}/{theirs['id'][:5]}%00", headers=alice)
    assert (nul.status_code, nul.json()) == (404, NOT_FOUND)


@SQLITE_ONLY
@pytest.mark.parametrize(
    "key_id",
    ["nonexistent", "A" * 22, "x" * 65, "%00", "a%00b", "%E2%80%AE", "'%20OR%201=1--"],
)
async def test_revoking_an_id_that_is_no_key_is_404(make_app: Any, key_id: str) -> None:
    a = await app_with_routes(make_app)
    _, headers = await signed_in(a)
    await new_key(a, headers)
    refused = await a.client.delete(f"{ROUTE}/{key_id}", headers=headers)
    assert (refused.status_code, refused.json()) == (404, NOT_FOUND)
    assert len((await a.client.get(ROUTE, headers=headers)).json()) == 1


async def test_expires_in_is_kept_within_the_configured_bounds(make_app: Any, clock: Clock) -> None:
    a = await app_with_routes(
        make_app, clock=clock, authz={"api_key_max_ttl": 7 * DAY, "api_key_default_ttl": DAY}
    )
    _, headers = await signed_in(a)
    assert (await new_key(a, headers))["expires_at"] == at(clock() + DAY)
    assert (await new_key(a, headers, expires_in=None))["expires_at"] == at(clock() + DAY)
    assert (await new_key(a, headers, expires_in=7 * DAY))["expires_at"] == at(clock() + 7 * DAY)
    # JSON does not tell 3600 from 3600.0 (nor does JSON Schema's `integer`).
    assert (await new_key(a, headers, expires_in=3600.0))["expires_at"] == at(clock() + 3600)
    longer = await a.client.post(ROUTE, json={"name": "k", "expires_in": 7 * DAY + 1}, headers=headers)
    assert (longer.status_code, longer.json()) == (
        400,
        {"detail": f"expires_in is at most {7 * DAY} seconds", "code": "invalid_scope"},
    )


async def test_a_key_without_expiry_needs_both_limits_unset(make_app: Any, clock: Clock) -> None:
    a = await app_with_routes(
        make_app, clock=clock, authz={"api_key_max_ttl": None, "api_key_default_ttl": None}
    )
    _, headers = await signed_in(a)
    forever = await new_key(a, headers)
    assert forever["expires_at"] is None
    clock.advance(10 * 365 * DAY)
    assert (await a.client.get("/whoami", headers=bearer(forever["key"]))).status_code == 200


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 101}, "name"),
        ({"name": "line\nbreak"}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"name": 7}, "name"),
        ({"name": "k", "scopes": "reports:read"}, "scopes"),
        ({"name": "k", "scopes": [1]}, "scopes.0"),
        ({"name": "k", "scopes": ["x"] * 101}, "scopes"),
        ({"name": "k", "expires_in": 0}, "expires_in"),
        ({"name": "k", "expires_in": -60}, "expires_in"),
        ({"name": "k", "expires_in": "3600"}, "expires_in"),
        ({"name": "k", "expires_in": 3600.5}, "expires_in"),
        ({"name": "k", "expires_in": 0.0}, "expires_in"),
        ({"name": "k", "expires_in": True}, "expires_in"),
        ({"name": "k", "expires_in": 10**20}, "expires_in"),
        ({"name": "k", "owner": "bob"}, "owner"),
    ],
)
async def test_a_malformed_body_is_422_naming_the_field(
    make_app: Any, body: dict[str, Any], fields: str
) -> None:
    a = await app_with_routes(make_app)
    _, headers = await signed_in(a)
    refused = await a.client.post(ROUTE, json=body, headers=headers)
    assert (refused.status_code, refused.json()) == (
        422,
        {"detail": f"Missing or invalid fields: {fields}", "code": "invalid_body"},
    )
    assert (await a.client.get(ROUTE, headers=headers)).json() == []


@SQLITE_ONLY
@pytest.mark.parametrize("scope", ["two words", "", "ünïcode", "x" * 129, "-leading"])
async def test_a_scope_that_is_no_permission_is_400(make_app: Any, scope: str) -> None:
    a = await app_with_routes(make_app)
    _, headers = await signed_in(a)
    refused = await a.client.post(ROUTE, json={"name": "k", "scopes": [scope]}, headers=headers)
    assert refused.status_code == 400 and refused.json()["code"] == "invalid_scope", refused.text
    assert refused.json()["detail"] == f"not a scope: {scope[:130]!r}"


async def test_making_a_key_needs_a_recent_sign_in(make_app: Any, clock: Clock) -> None:
    a = await app_with_routes(make_app, clock=clock)
    _, headers = await signed_in(a)
    clock.advance(301)  # past recent_sign_in_window (300 s); the access token itself is still valid
    assert (await a.client.get(ROUTE, headers=headers)).status_code == 200
    stale = await a.client.post(ROUTE, json={"name": "k"}, headers=headers)
    assert (stale.status_code, stale.json()) == (
        401,
        {"detail": "Sign in again to confirm this", "code": "recent_sign_in_required"},
    )
    assert 'error="insufficient_user_authentication"' in stale.headers["www-authenticate"]
    await new_key(a, bearer((await login(a.client, ALICE))["access_token"]))


async def test_a_user_holds_at_most_api_keys_per_user_live_keys(make_app: Any) -> None:
    a = await app_with_routes(make_app, authz={"api_keys_per_user": 2})
    _, headers = await signed_in(a)
    first = await new_key(a, headers)
    await new_key(a, headers)
    third = await a.client.post(ROUTE, json={"name": "k"}, headers=headers)
    assert (third.status_code, third.json()) == (
        400,
        {"detail": "at most 2 live keys per user: revoke one first", "code": "invalid_scope"},
    )
    assert (await a.client.delete(f"{ROUTE}/{first['id']}", headers=headers)).status_code == 204
    await new_key(a, headers)


async def test_a_key_is_the_owner_for_get_current_user_and_passes_require_permissions(make_app: Any) -> None:
    a = await app_with_routes(make_app)
    _, headers = await signed_in(a, roles=("editor",))
    reader = await new_key(a, headers, scopes=["reports:read"])
    none = await new_key(a, headers)
    assert (await a.client.get("/owner", headers=bearer(reader["key"]))).json() == {"email": ALICE}
    assert (await a.client.get("/private", headers=bearer(reader["key"]))).json()["email"] == ALICE
    assert (await a.client.get("/reports", headers=bearer(reader["key"]))).status_code == 200
    # A key holds its scopes only, not all its owner holds.
    refused = await a.client.get("/reports", headers=bearer(none["key"]))
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "Not enough permissions", "code": "permission_denied"},
    )
    # The owner's own token still passes: the key's narrowness is the key's.
    assert (await a.client.get("/reports", headers=headers)).status_code == 200
    claims = (await a.client.get("/claims", headers=bearer(reader["key"]))).json()
    assert claims["type"] == "api_key" and claims["scope"] == "reports:read"
    assert claims["client_id"] == reader["id"]


async def test_x_api_key_is_read_only_when_configured(make_app: Any) -> None:
    plain = await app_with_routes(make_app)
    _, headers = await signed_in(plain)
    key = (await new_key(plain, headers))["key"]
    ignored = await plain.client.get("/whoami", headers={"X-API-Key": key})
    assert (ignored.status_code, ignored.json()) == (401, NOT_AUTHENTICATED_BODY)

    a = await app_with_routes(make_app, authz={"api_key_header": "X-API-Key"})  # the same database
    _, headers = await signed_in(a, BOB)
    key = (await new_key(a, headers))["key"]
    assert (await a.client.get("/whoami", headers={"X-API-Key": key})).json()["kind"] == "api_key"
    assert (await a.client.get("/whoami", headers={"x-api-key": key})).json()["kind"] == "api_key"
    assert (await a.client.get("/whoami", headers=bearer(key))).json()["kind"] == "api_key"
    # An Authorization header wins: a token there with a key beside it acts as the person.
    both = await a.client.get("/whoami", headers={**headers, "X-API-Key": key})
    assert both.json()["kind"] == "user"
    bad = await a.client.get("/whoami", headers={"X-API-Key": key[:-1] + ("A" if key[-1] != "A" else "B")})
    assert (bad.status_code, bad.json()) == (401, INVALID_TOKEN_BODY)


async def test_with_api_keys_disabled_there_are_no_routes_and_no_key_is_accepted(make_app: Any) -> None:
    on = await app_with_routes(make_app)
    _, headers = await signed_in(on)
    key = (await new_key(on, headers))["key"]
    off = await app_with_routes(make_app, authz={"api_keys_enabled": False})
    _, off_headers = await signed_in(off, BOB)
    for method in ("GET", "POST"):
        answer = await off.client.request(method, ROUTE, json={"name": "k"}, headers=off_headers)
        assert (answer.status_code, answer.json()) == (404, {"detail": "Not Found"})
    assert (await off.client.delete(f"{ROUTE}/anything", headers=off_headers)).status_code == 404
    assert_invalid_token(await off.client.get("/whoami", headers=bearer(key)))
    paths = off.app.openapi()["paths"]
    assert ROUTE not in paths and ROUTE in on.app.openapi()["paths"]


async def test_each_key_has_its_own_rate_limit(make_app: Any) -> None:
    a = await app_with_routes(make_app, rate_limit_enabled=True, authz={"api_key_rate_limit": "3/minute"})
    _, headers = await signed_in(a)
    first = (await new_key(a, headers))["key"]
    second = (await new_key(a, headers))["key"]
    for _ in range(3):
        assert (await a.client.get("/whoami", headers=bearer(first))).status_code == 200
    limited = await a.client.get("/whoami", headers=bearer(first))
    assert (limited.status_code, limited.json()) == (
        429,
        {"detail": "Too many attempts; try again later", "code": "rate_limited"},
    )
    assert 1 <= int(limited.headers["retry-after"]) <= 60
    assert (await a.client.get("/whoami", headers=bearer(second))).status_code == 200
    assert (await a.client.get("/whoami", headers=headers)).status_code == 200  # the person's token


class CountingStore:
    """The real store, every call counted by method name (a thin wrapper the key checks go through)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.calls: Counter[str] = Counter()
        self.touched: list[dict[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if not callable(attr):
            return attr

        def counted(*args: Any, **kwargs: Any) -> Awaitable[Any]:
            self.calls[name] += 1
            if name == "touch_api_keys":
                self.touched.append(dict(args[0]))
            result: Awaitable[Any] = attr(*args, **kwargs)
            return result

        return counted


def counting(a: Any) -> CountingStore:
    keys = a.auth.service.api_keys
    store = CountingStore(keys.store)
    keys.store = store
    return store


async def test_the_last_use_is_written_once_per_interval_never_per_request(
    make_app: Any, clock: Clock
) -> None:
    a = await app_with_routes(make_app, clock=clock)
    _, headers = await signed_in(a)
    made = await new_key(a, headers)
    store = counting(a)
    flush: Callable[[], Awaitable[None]] = a.auth.service.api_keys.flush
    interval = a.auth.service.api_keys.touch_interval
    assert interval == 60

    async def use(times: int) -> None:
        for _ in range(times):
            assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200

    def last_used() -> Awaitable[Any]:
        return a.client.get(ROUTE, headers=headers)

    await use(20)
    assert store.calls["touch_api_keys"] == 0  # nothing written by the requests themselves
    assert store.calls["get_api_key_by_hash"] == 1  # and the key was read once, then cached
    await flush()
    start = int(clock())
    assert store.touched == [{made["id"]: start}]
    assert (await last_used()).json()[0]["last_used_at"] == at(start)

    clock.advance(interval - 1)
    await use(20)
    await flush()
    assert store.calls["touch_api_keys"] == 1  # within the interval: nothing more to write

    clock.advance(1)
    await use(20)
    await flush()
    await flush()
    assert store.touched == [{made["id"]: start}, {made["id"]: start + interval}]
    assert (await last_used()).json()[0]["last_used_at"] == at(start + interval)


async def test_a_failed_flush_keeps_the_uses_for_the_next_one(make_app: Any, clock: Clock) -> None:
    a = await app_with_routes(make_app, clock=clock)
    _, headers = await signed_in(a)
    made = await new_key(a, headers)
    keys = a.auth.service.api_keys
    real = keys.store

    class Down(CountingStore):
        def __getattr__(self, name: str) -> Any:
            if name == "touch_api_keys":

                async def refused(used: Any) -> None:
                    raise ConnectionError("database down")

                return refused
            return getattr(real, name)

    keys.store = Down(real)
    assert (await a.client.get("/whoami", headers=bearer(made["key"]))).status_code == 200
    with pytest.raises(ConnectionError):
        await keys.flush()
    keys.store = real
    await keys.flush()
    listed = (await a.client.get(ROUTE, headers=headers)).json()
    assert listed[0]["last_used_at"] == at(clock())
