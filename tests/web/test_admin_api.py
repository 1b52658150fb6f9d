"""The admin API (`/auth/admin/users...`, `/auth/admin/roles...`) on SQLite and PostgreSQL: who may call
it (a superuser, or a role holding `fastauth:admin`; everyone else 403 on every route, whatever the id;
no credentials 401), keyset pagination with signed cursors, the escalation rules (grant only what one
holds, superusers only by superusers, nobody deactivates or demotes themselves), what a change does to
the user's tokens, roles from the configuration, and the audit of every act with its `actor_id`.

Tests that only read, or whose every request must be refused, share one app per database (`shared`,
marked `SHARED`); the others get a fresh one (`cast(make_app)`)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
import pytest_asyncio
from pydantic import Field

from fastauth.authz import ADMIN
from fastauth.fields import SetOnce, UserFields, Writable
from support.admin import PASSWORD, UA, Cast, cast, shared_app
from support.forge import claims
from support.http import INVALID_TOKEN_BODY, bearer, login, post_refresh

PEER = "127.0.0.1"
DENIED = {"detail": "Not enough permissions", "code": "permission_denied"}
NO_USER = {"detail": "No such user", "code": "user_not_found"}
BAD_CURSOR = {"detail": "Invalid pagination cursor", "code": "invalid_cursor"}
USERS = "/auth/admin/users"
ROLES = "/auth/admin/roles"
#: The shared app's tests run in its event loop.
SHARED = pytest.mark.asyncio(loop_scope="module")
#: A role the shared app's configuration declares.
CONFIGURED = {"support": ["tickets:read"]}


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cast]:
    """The cast on one app for the module (per database), with a configured role and one more
    address (`a_b@example.com`: an underscore, which LIKE would read as a wildcard)."""
    async with shared_app(request, tmp_path_factory, authz={"roles": CONFIGURED}) as c:
        await c.service.create_user("a_b@example.com", PASSWORD)
        yield c


async def audit_of(c: Cast, user_id: str | None = None) -> list[tuple[Any, ...]]:
    """(event, user_id, actor_id, ip, user_agent, detail) of the records, newest first."""
    return [
        (r.event, r.user_id, r.actor_id, r.ip, r.user_agent, r.detail)
        for r in await c.service.audit.read(user_id=user_id)
    ]


# who may call it

#: (method, path, body) of every admin route; `{id}` and `{role}` exist or not (the answer is the same).
ROUTES = [
    ("GET", USERS, None),
    ("GET", USERS + "/{id}", None),
    ("PATCH", USERS + "/{id}", {"is_active": False}),
    ("DELETE", USERS + "/{id}", None),
    ("DELETE", USERS + "/{id}/sessions", None),
    ("GET", ROLES, None),
    ("POST", ROLES, {"name": "sneaky", "permissions": []}),
    ("GET", ROLES + "/{role}", None),
    ("PATCH", ROLES + "/{role}", {"description": "mine now"}),
    ("DELETE", ROLES + "/{role}", None),
]
ROUTE_IDS = [f"{method} {path}" for method, path, _ in ROUTES]


@pytest.mark.parametrize(("method", "path", "payload"), ROUTES, ids=ROUTE_IDS)
@SHARED
async def test_a_user_without_fastauth_admin_gets_403_on_every_route(
    shared: Cast, method: str, path: str, payload: Any
) -> None:
    c = shared
    before = [(r.name, r.permissions, r.description) for r in await c.service.roles.list()]
    # bob holds a role (no fastauth:admin), alice none. An id that exists (alice's, a role) and one
    # that does not are answered alike.
    for who in ("bob", "alice"):
        for user_id, role in ((c.alice.id, "writer"), ("nobody", "nothing")):
            url = path.format(id=user_id, role=role)
            answer = await c.client.request(method, url, json=payload, headers=c.as_(who))
            assert (answer.status_code, answer.json()) == (403, DENIED), (who, url)
    url = path.format(id=c.alice.id, role="writer")
    anonymous = await c.client.request(method, url, json=payload)
    assert (anonymous.status_code, anonymous.json()) == (
        401,
        {"detail": "Not authenticated", "code": "not_authenticated"},
    )
    assert anonymous.headers["www-authenticate"] == "Bearer"
    forged = await c.client.request(method, url, json=payload, headers=bearer("not.a.token"))
    assert (forged.status_code, forged.json()) == (401, INVALID_TOKEN_BODY)
    # Nothing changed: alice is active and signed in, the roles are as they were.
    assert (await c.client.get("/auth/me", headers=c.as_("alice"))).status_code == 200
    assert [(r.name, r.permissions, r.description) for r in await c.service.roles.list()] == before


async def test_taking_fastauth_admin_away_works_at_once(make_app: Any) -> None:
    c = await cast(make_app)
    assert (await c.client.get(USERS, headers=c.as_("mod"))).status_code == 200
    await c.service.accounts.update(c.mod.id, roles=("writer",))  # behind the admin API's back
    # The token still says `moderator`, but the admin API reads the user now.
    assert claims(c.tokens["mod"]["access_token"])["roles"] == ["moderator"]
    answer = await c.client.get(USERS, headers=c.as_("mod"))
    assert (answer.status_code, answer.json()) == (403, DENIED)
    # Deactivated behind its back too (the sessions live on): an inactive account is nobody's admin.
    await c.service.accounts.update(c.mod.id, roles=("moderator",), is_active=False)
    inactive = await c.client.get(USERS, headers=c.as_("mod"))
    assert (inactive.status_code, inactive.json()) == (403, DENIED)


async def test_an_api_key_with_fastauth_admin_acts_within_its_scopes(make_app: Any) -> None:
    c = await cast(make_app)
    sid = claims(c.tokens["mod"]["access_token"])["sid"]
    key, _ = await c.service.create_api_key(c.mod, sid, name="ops", scopes=[ADMIN], expires_in=3600)
    headers = {**bearer(key), "User-Agent": UA}
    assert (await c.client.get(USERS, headers=headers)).status_code == 200
    # The key holds fastauth:admin only, not its owner's posts:write: it grants no writer role.
    refused = await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": ["writer"]}, headers=headers)
    assert (refused.status_code, refused.json()) == (403, DENIED)
    done = await c.client.patch(f"{USERS}/{c.alice.id}", json={"is_active": False}, headers=headers)
    assert (done.status_code, done.json()["is_active"]) == (200, False)
    assert (await audit_of(c, c.alice.id))[0] == (
        "user_changed",
        c.alice.id,
        c.mod.id,
        PEER,
        UA,
        "is_active=False",
    )
    plain, _ = await c.service.create_api_key(c.mod, sid, name="bot", scopes=["posts:write"], expires_in=3600)
    answer = await c.client.get(USERS, headers=bearer(plain))
    assert (answer.status_code, answer.json()) == (403, DENIED)


async def test_a_superusers_api_key_acts_with_its_scopes_never_as_a_superuser(make_app: Any) -> None:
    """A key is a standing credential: even a superuser's, holding fastauth:admin, never makes a
    superuser nor touches one (that takes the superuser's own sign-in)."""
    c = await cast(make_app)
    sid = claims(c.tokens["root"]["access_token"])["sid"]
    key, _ = await c.service.create_api_key(c.root, sid, name="ops", scopes=[ADMIN], expires_in=3600)
    headers = bearer(key)
    assert (await c.client.get(USERS, headers=headers)).status_code == 200
    promote = await c.client.patch(f"{USERS}/{c.alice.id}", json={"is_superuser": True}, headers=headers)
    assert (promote.status_code, promote.json()) == (403, DENIED)
    for method in ("PATCH", "DELETE"):
        touch = await c.client.request(
            method,
            f"{USERS}/{c.root.id}",
            json={"is_verified": True} if method == "PATCH" else None,
            headers=headers,
        )
        assert (touch.status_code, touch.json()) == (403, DENIED), method
    sessions = await c.client.delete(f"{USERS}/{c.root.id}/sessions", headers=headers)
    assert (sessions.status_code, sessions.json()) == (403, DENIED)
    # The key grants no role beyond its own scopes either (writer gives posts:write).
    grant = await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": ["writer"]}, headers=headers)
    assert (grant.status_code, grant.json()) == (403, DENIED)
    alice = await c.service.store.get_user(c.alice.id)
    assert alice is not None and not alice.is_superuser and alice.roles == ()
    # The superuser's own access token still may.
    done = await c.client.patch(f"{USERS}/{c.alice.id}", json={"is_superuser": True}, headers=c.as_("root"))
    assert (done.status_code, done.json()["is_superuser"]) == (200, True)


@SHARED
async def test_the_audit_log_stays_for_superusers(shared: Cast) -> None:
    c = shared
    answer = await c.client.get("/auth/admin/audit", headers=c.as_("mod"))
    assert (answer.status_code, answer.json()) == (403, DENIED)
    assert (await c.client.get("/auth/admin/audit", headers=c.as_("root"))).status_code == 200


# listing


def emails(answer: httpx.Response) -> list[str]:
    assert answer.status_code == 200, answer.text
    return [item["email"] for item in answer.json()["items"]]


async def test_pages_by_cursor_have_no_gaps_or_duplicates_and_stay_stable_under_inserts(
    make_app: Any,
) -> None:
    c = await cast(make_app)
    # Same length, told apart by letters and digits only: the order is the same under any collation.
    made = [f"user{n:02d}a@example.com" for n in range(23)]
    for email in made:
        await c.service.create_user(email, PASSWORD)
    first = await c.client.get(USERS, params={"query": "user", "limit": 5}, headers=c.as_("mod"))
    assert first.headers["cache-control"] == "no-store"
    body = first.json()
    assert emails(first) == made[:5]
    assert body["items"][0] == {
        "id": body["items"][0]["id"],
        "email": "user00a@example.com",
        "is_active": True,
        "is_verified": False,
        "is_superuser": False,
        "roles": [],
        "created_at": body["items"][0]["created_at"],
        "has_password": True,
    }
    seen, cursor, pages = emails(first), body["next_cursor"], 1
    # Between pages: one address sorts before where the listing is (not shown: the cursor is past
    # it), one after (shown once, in its place), and one listed already is deleted.
    await c.service.create_user("user00b@example.com", PASSWORD)
    await c.service.create_user("user21b@example.com", PASSWORD)
    await c.service.accounts.delete((await c.service.account_by_email(made[1])).id)
    while cursor is not None:
        answer = await c.client.get(
            USERS, params={"query": "user", "limit": 5, "cursor": cursor}, headers=c.as_("mod")
        )
        seen += emails(answer)
        cursor, pages = answer.json()["next_cursor"], pages + 1
    expected = sorted([*made, "user21b@example.com"])
    assert seen == expected and len(set(seen)) == len(seen)
    assert pages == 5  # 24 addresses by 5: the last page holds 4, and says so (no empty sixth page)
    everyone = await c.client.get(USERS, params={"limit": 200}, headers=c.as_("root"))
    assert emails(everyone)[:4] == [
        "alice@example.com",
        "bob@example.com",
        "mod@example.com",
        "root@example.com",
    ]
    assert everyone.json()["next_cursor"] is None
    assert len(emails(everyone)) == 4 + 23 + 2 - 1


@SHARED
async def test_an_exact_page_has_no_next_cursor(shared: Cast) -> None:
    c = shared
    everyone = [
        "a_b@example.com",
        "alice@example.com",
        "bob@example.com",
        "mod@example.com",
        "root@example.com",
    ]
    answer = await c.client.get(USERS, params={"limit": 5}, headers=c.as_("root"))
    assert (emails(answer), answer.json()["next_cursor"]) == (everyone, None)
    three = await c.client.get(USERS, params={"limit": 3}, headers=c.as_("root"))
    assert emails(three) == everyone[:3]
    rest = await c.client.get(
        USERS, params={"limit": 3, "cursor": three.json()["next_cursor"]}, headers=c.as_("root")
    )
    assert (emails(rest), rest.json()["next_cursor"]) == (everyone[3:], None)


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("ALICE", ["alice@example.com"]),  # addresses are stored lower-case
        ("  mo  ", ["mod@example.com"]),
        ("r", ["root@example.com"]),
        ("%", []),  # LIKE's wildcards are plain characters here
        ("_", []),
        ("a_", ["a_b@example.com"]),
        ("a%", []),
        ("a", ["a_b@example.com", "alice@example.com"]),
        ("nobody", []),
        ("\x00", []),  # PostgreSQL refuses NUL in text: never sent as is
        ("\U0010ffff", []),  # the last code point: SQLite's range has no successor for it
        ("é", []),
    ],
    ids=[
        "case",
        "spaces",
        "r",
        "percent",
        "underscore",
        "a-underscore",
        "a-percent",
        "a",
        "none",
        "nul",
        "last-code-point",
        "e-acute",
    ],
)
@SHARED
async def test_the_query_is_a_prefix_of_the_address(shared: Cast, query: str, found: list[str]) -> None:
    c = shared
    answer = await c.client.get(USERS, params={"query": query}, headers=c.as_("mod"))
    assert emails(answer) == found


@SHARED
async def test_a_cursor_is_bound_to_its_query(shared: Cast) -> None:
    c = shared
    first = await c.client.get(USERS, params={"limit": 1}, headers=c.as_("root"))
    cursor = first.json()["next_cursor"]
    other = await c.client.get(USERS, params={"query": "r", "cursor": cursor}, headers=c.as_("root"))
    assert (other.status_code, other.json()) == (400, BAD_CURSOR)


def _tampered_cursors(real: str) -> list[tuple[str, str]]:
    payload, mac = real.split(".")
    forged = base64.urlsafe_b64encode(json.dumps(["", "a"]).encode()).decode().rstrip("=")
    flipped = mac[:-1] + ("0" if mac[-1] != "0" else "1")
    not_json = base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("=")
    return [
        ("mac-flipped", f"{payload}.{flipped}"),
        ("payload-swapped", f"{forged}.{mac}"),
        ("no-mac", payload),
        ("empty-mac", f"{payload}."),
        ("garbage", "garbage"),
        ("dots", "..."),
        ("not-base64", f"!!!.{mac}"),
        ("not-json", f"{not_json}.{mac}"),
        ("huge", "a" * 5000 + "." + mac),
        ("nul", "\x00." + mac),
        ("unicode", "é.é"),
    ]


@pytest.mark.parametrize("kind", [name for name, _ in _tampered_cursors("p.m")])
@SHARED
async def test_a_cursor_not_ours_is_400(shared: Cast, kind: str) -> None:
    c = shared
    real = (await c.client.get(USERS, params={"limit": 1}, headers=c.as_("root"))).json()["next_cursor"]
    cursor = dict(_tampered_cursors(real))[kind]
    answer = await c.client.get(USERS, params={"limit": 1, "cursor": cursor}, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (400, BAD_CURSOR)


@SHARED
async def test_a_cursor_signed_with_another_secret_is_400(shared: Cast) -> None:
    c = shared
    payload = base64.urlsafe_b64encode(json.dumps(["", "alice@example.com"]).encode()).decode().rstrip("=")
    key = b"another-secret-" + b"y" * 40
    mac = hmac.new(key, b"fastauth-cursor:" + payload.encode(), hashlib.sha256).hexdigest()[:32]
    answer = await c.client.get(USERS, params={"cursor": f"{payload}.{mac}"}, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (400, BAD_CURSOR)


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "query.limit"),
        ({"limit": 201}, "query.limit"),
        ({"limit": "ten"}, "query.limit"),
        ({"query": "x" * 321}, "query.query"),
    ],
    ids=["limit-0", "limit-201", "limit-text", "query-too-long"],
)
@SHARED
async def test_bad_listing_parameters_are_422(shared: Cast, params: dict[str, Any], field: str) -> None:
    c = shared
    answer = await c.client.get(USERS, params=params, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (
        422,
        {"detail": f"Missing or invalid fields: {field}", "code": "invalid_body"},
    )


# one user


@SHARED
async def test_reading_one_user(shared: Cast) -> None:
    c = shared
    answer = await c.client.get(f"{USERS}/{c.mod.id}", headers=c.as_("mod"))
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert (answer.json()["email"], answer.json()["roles"]) == ("mod@example.com", ["moderator"])
    missing = await c.client.get(f"{USERS}/nobody", headers=c.as_("mod"))
    assert (missing.status_code, missing.json()) == (404, NO_USER)


async def test_a_superuser_changes_flags_and_roles_audited_with_the_actor(make_app: Any) -> None:
    c = await cast(make_app)
    answer = await c.client.patch(
        f"{USERS}/{c.alice.id}",
        json={"is_verified": True, "is_superuser": True, "roles": ["billing", "writer", "billing"]},
        headers=c.as_("root"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert (body["is_verified"], body["is_superuser"], body["roles"]) == (True, True, ["billing", "writer"])
    records = await audit_of(c, c.alice.id)
    assert records[:2] == [
        ("user_changed", c.alice.id, c.root.id, PEER, UA, "is_superuser=True is_verified=True"),
        ("roles_changed", c.alice.id, c.root.id, PEER, UA, "roles: billing writer"),
    ]
    # GET /admin/audit shows the actor too.
    log = await c.client.get("/auth/admin/audit", params={"user_id": c.alice.id}, headers=c.as_("root"))
    assert [(r["event"], r["actor_id"]) for r in log.json()][:2] == [
        ("user_changed", c.root.id),
        ("roles_changed", c.root.id),
    ]
    # A change to nothing new records nothing.
    same = await c.client.patch(f"{USERS}/{c.alice.id}", json={"is_verified": True}, headers=c.as_("root"))
    assert same.status_code == 200
    assert len(await audit_of(c, c.alice.id)) == len(records)


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        ({"email": "x@example.com"}, (422, "invalid_body", "Missing or invalid fields: email")),
        ({"is_active": "false"}, (422, "invalid_body", "Missing or invalid fields: is_active")),
        ({"is_active": 0}, (422, "invalid_body", "Missing or invalid fields: is_active")),
        ({"is_active": None}, (422, "invalid_body", "Missing or invalid fields: is_active")),
        ({"roles": None}, (422, "invalid_body", "Missing or invalid fields: roles")),
        ({"roles": "writer"}, (422, "invalid_body", "Missing or invalid fields: roles")),
        ({"roles": [1]}, (422, "invalid_body", "Missing or invalid fields: roles.0")),
        ({"end_sessions": None}, (422, "invalid_body", "Missing or invalid fields: end_sessions")),
        ({"fields": []}, (422, "invalid_body", "Missing or invalid fields: fields")),
        ({"roles": ["ghost"]}, (404, "role_not_found", "No such role: ghost")),
        ({"roles": ["bad role"]}, (422, "invalid_role", None)),
        ({"fields": {"nickname": "x"}}, (422, "invalid_user_fields", "not user fields: nickname")),
    ],
    ids=[
        "email",
        "flag-text",
        "flag-int",
        "flag-null",
        "roles-null",
        "roles-text",
        "roles-int",
        "end-null",
        "fields-list",
        "unknown-role",
        "bad-role-name",
        "unknown-field",
    ],
)
@SHARED
async def test_a_bad_change_is_refused_and_changes_nothing(
    shared: Cast, payload: dict[str, Any], answer: tuple[int, str, str | None]
) -> None:
    c = shared
    refused = await c.client.patch(f"{USERS}/{c.alice.id}", json=payload, headers=c.as_("root"))
    status, code, detail = answer
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    if detail is not None:
        assert refused.json()["detail"] == detail
    after = await c.service.admin_get_user(c.alice.id)
    assert (after.is_active, after.roles, after.email) == (True, (), "alice@example.com")
    assert [r[0] for r in await audit_of(c, c.alice.id)] == ["signin", "signup"]


@SHARED
async def test_a_patch_of_an_unknown_user_is_404(shared: Cast) -> None:
    c = shared
    answer = await c.client.patch(f"{USERS}/nobody", json={"is_verified": True}, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (404, NO_USER)


class Profile(UserFields):
    nickname: Annotated[str | None, Writable, Field(max_length=20)] = None
    tenant: Annotated[str | None, SetOnce, Field(max_length=20)] = None
    plan: Annotated[str, Field(max_length=10)] = "free"


async def test_an_administrator_sets_the_applications_fields_even_read_only_ones(make_app: Any) -> None:
    c = await cast(make_app, user_fields=Profile)
    answer = await c.client.patch(
        f"{USERS}/{c.alice.id}", json={"fields": {"plan": "pro", "nickname": "Al"}}, headers=c.as_("mod")
    )
    assert answer.status_code == 200, answer.text
    assert (answer.json()["plan"], answer.json()["nickname"]) == ("pro", "Al")
    listed = await c.client.get(USERS, params={"query": "alice"}, headers=c.as_("mod"))
    assert listed.json()["items"][0]["plan"] == "pro"
    assert (await audit_of(c, c.alice.id))[0][:3] == ("user_changed", c.alice.id, c.mod.id)
    assert (await audit_of(c, c.alice.id))[0][5] == "nickname plan"
    too_long = await c.client.patch(
        f"{USERS}/{c.alice.id}", json={"fields": {"plan": "x" * 11}}, headers=c.as_("mod")
    )
    assert (too_long.status_code, too_long.json()["code"]) == (422, "invalid_user_fields")


# escalation


async def test_a_role_administrator_grants_only_what_they_hold(make_app: Any) -> None:
    c = await cast(make_app)
    granted = await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": ["writer"]}, headers=c.as_("mod"))
    assert (granted.status_code, granted.json()["roles"]) == (200, ["writer"])
    assert (await audit_of(c, c.alice.id))[0] == (
        "roles_changed",
        c.alice.id,
        c.mod.id,
        PEER,
        UA,
        "roles: writer",
    )
    for roles in (["writer", "billing"], ["billing"]):  # billing:refund is not the moderator's
        refused = await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": roles}, headers=c.as_("mod"))
        assert (refused.status_code, refused.json()) == (403, DENIED)
    # Nor may they take away a role granting what they do not hold.
    await c.service.accounts.update(c.alice.id, roles=("writer", "billing"))
    taken = await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": ["writer"]}, headers=c.as_("mod"))
    assert (taken.status_code, taken.json()) == (403, DENIED)
    # A role administrator may make another one (they hold all `moderator` grants).
    peer = await c.client.patch(
        f"{USERS}/{c.alice.id}", json={"roles": ["writer", "billing", "moderator"]}, headers=c.as_("mod")
    )
    assert peer.status_code == 200
    assert (await c.service.admin_get_user(c.alice.id)).roles == ("writer", "billing", "moderator")


@pytest.mark.parametrize(
    "payload",
    [{"is_superuser": True}, {"is_superuser": False}],
    ids=["promote", "demote-flag-already-false"],
)
@SHARED
async def test_a_role_administrator_never_touches_is_superuser(shared: Cast, payload: dict[str, Any]) -> None:
    c = shared
    refused = await c.client.patch(f"{USERS}/{c.alice.id}", json=payload, headers=c.as_("mod"))
    assert (refused.status_code, refused.json()) == (403, DENIED)
    mine = await c.client.patch(f"{USERS}/{c.mod.id}", json=payload, headers=c.as_("mod"))
    assert (mine.status_code, mine.json()) == (403, DENIED)
    assert not (await c.service.admin_get_user(c.alice.id)).is_superuser
    assert not (await c.service.admin_get_user(c.mod.id)).is_superuser


@pytest.mark.parametrize(
    ("method", "suffix", "payload"),
    [
        ("PATCH", "", {"is_active": False}),
        ("PATCH", "", {"roles": ["writer"]}),
        ("PATCH", "", {"fields": {}}),
        ("DELETE", "", None),
        ("DELETE", "/sessions", None),
    ],
    ids=["deactivate", "roles", "fields", "delete", "end-sessions"],
)
@SHARED
async def test_a_role_administrator_cannot_act_on_a_superuser(
    shared: Cast, method: str, suffix: str, payload: Any
) -> None:
    c = shared
    answer = await c.client.request(
        method, f"{USERS}/{c.root.id}{suffix}", json=payload, headers=c.as_("mod")
    )
    assert (answer.status_code, answer.json()) == (403, DENIED)
    # root is untouched and still signed in.
    assert (await c.client.get("/auth/me", headers=c.as_("root"))).status_code == 200
    root = await c.service.admin_get_user(c.root.id)
    assert (root.is_active, root.roles) == (True, ())
    # ... and may read them.
    assert (await c.client.get(f"{USERS}/{c.root.id}", headers=c.as_("mod"))).status_code == 200


@pytest.mark.parametrize(
    ("who", "payload"),
    [
        ("root", {"is_active": False}),
        ("root", {"is_superuser": False}),
        ("mod", {"is_active": False}),
        ("mod", {"roles": ["writer"]}),  # their own fastauth:admin away
        ("mod", {"roles": []}),
    ],
    ids=["root-deactivates", "root-demotes", "mod-deactivates", "mod-drops-admin-role", "mod-drops-all"],
)
@SHARED
async def test_nobody_deactivates_or_demotes_themselves(
    shared: Cast, who: str, payload: dict[str, Any]
) -> None:
    c = shared
    me = getattr(c, who)
    answer = await c.client.patch(f"{USERS}/{me.id}", json=payload, headers=c.as_(who))
    assert (answer.status_code, answer.json()) == (403, DENIED)
    deleted = await c.client.delete(f"{USERS}/{me.id}", headers=c.as_(who))
    assert (deleted.status_code, deleted.json()) == (403, DENIED)
    assert (await c.client.get("/auth/me", headers=c.as_(who))).status_code == 200
    after = await c.service.admin_get_user(me.id)
    assert (after.is_active, after.is_superuser, after.roles) == (me.is_active, me.is_superuser, me.roles)


async def test_an_administrator_may_change_their_own_harmless_things(make_app: Any) -> None:
    c = await cast(make_app)
    mine = await c.client.patch(
        f"{USERS}/{c.mod.id}",
        json={"roles": ["moderator", "writer"], "is_verified": True},
        headers=c.as_("mod"),
    )
    assert (mine.status_code, mine.json()["roles"]) == (200, ["moderator", "writer"])
    root = await c.client.patch(
        f"{USERS}/{c.root.id}", json={"is_superuser": True, "roles": ["billing"]}, headers=c.as_("root")
    )
    assert root.status_code == 200


# what a change does to the tokens


async def test_deactivation_ends_the_sessions_at_once(make_app: Any) -> None:
    c = await cast(make_app)
    assert (await c.client.get("/auth/me", headers=c.as_("alice"))).status_code == 200
    answer = await c.client.patch(f"{USERS}/{c.alice.id}", json={"is_active": False}, headers=c.as_("mod"))
    assert (answer.status_code, answer.json()["is_active"]) == (200, False)
    refused = await c.client.get("/auth/me", headers=c.as_("alice"))
    assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN_BODY)
    assert (await post_refresh(c.app, c.tokens["alice"]["refresh_token"])).status_code == 401
    bad_login = await c.client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert bad_login.status_code in (401, 403)
    assert (await audit_of(c, c.alice.id))[0] == (
        "user_changed",
        c.alice.id,
        c.mod.id,
        PEER,
        UA,
        "is_active=False",
    )


async def test_a_change_of_roles_reaches_the_token_at_the_next_refresh(make_app: Any) -> None:
    c = await cast(make_app)
    before = claims(c.tokens["alice"]["access_token"])
    assert (before["roles"], "scope" in before) == ([], False)
    await c.client.patch(f"{USERS}/{c.alice.id}", json={"roles": ["writer"]}, headers=c.as_("mod"))
    # The access token in hand still says what it said, and keeps working until it expires.
    assert (await c.client.get("/auth/me", headers=c.as_("alice"))).status_code == 200
    refreshed = await post_refresh(c.app, c.tokens["alice"]["refresh_token"])
    assert refreshed.status_code == 200
    after = claims(refreshed.json()["access_token"])
    assert (after["roles"], after["scope"]) == (["writer"], "posts:write")


async def test_end_sessions_makes_a_change_of_roles_reach_at_once(make_app: Any) -> None:
    c = await cast(make_app)
    await c.service.accounts.update(c.alice.id, roles=("writer",))
    answer = await c.client.patch(
        f"{USERS}/{c.alice.id}", json={"roles": [], "end_sessions": True}, headers=c.as_("mod")
    )
    assert (answer.status_code, answer.json()["roles"]) == (200, [])
    refused = await c.client.get("/auth/me", headers=c.as_("alice"))
    assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN_BODY)
    assert (await post_refresh(c.app, c.tokens["alice"]["refresh_token"])).status_code == 401
    fresh = await login(c.client, "alice@example.com")
    assert claims(fresh["access_token"])["roles"] == []
    events = [(r[0], r[2], r[5]) for r in await audit_of(c, c.alice.id)]
    assert events[1:3] == [("sessions_ended", c.mod.id, "1 sessions"), ("roles_changed", c.mod.id, "roles: ")]


async def test_ending_a_users_sessions(make_app: Any) -> None:
    c = await cast(make_app)
    second = await login(c.client, "alice@example.com")
    answer = await c.client.delete(f"{USERS}/{c.alice.id}/sessions", headers=c.as_("mod"))
    assert (answer.status_code, answer.json()) == (200, {"ended": 2})
    for token in (c.tokens["alice"], second):
        assert (await c.client.get("/auth/me", headers=bearer(token["access_token"]))).status_code == 401
    again = await c.client.delete(f"{USERS}/{c.alice.id}/sessions", headers=c.as_("mod"))
    assert again.json() == {"ended": 0}
    assert (await audit_of(c, c.alice.id))[:2] == [
        ("sessions_ended", c.alice.id, c.mod.id, PEER, UA, "0 sessions"),
        ("sessions_ended", c.alice.id, c.mod.id, PEER, UA, "2 sessions"),
    ]
    missing = await c.client.delete(f"{USERS}/nobody/sessions", headers=c.as_("mod"))
    assert (missing.status_code, missing.json()) == (404, NO_USER)


async def test_deleting_a_user(make_app: Any) -> None:
    c = await cast(make_app)
    answer = await c.client.delete(f"{USERS}/{c.alice.id}", headers=c.as_("mod"))
    assert (answer.status_code, answer.content) == (204, b"")
    assert (await c.client.get("/auth/me", headers=c.as_("alice"))).status_code == 401
    gone = await c.client.get(f"{USERS}/{c.alice.id}", headers=c.as_("mod"))
    assert (gone.status_code, gone.json()) == (404, NO_USER)
    again = await c.client.delete(f"{USERS}/{c.alice.id}", headers=c.as_("mod"))
    assert (again.status_code, again.json()) == (404, NO_USER)
    assert (await audit_of(c, c.alice.id))[0] == (
        "account_deleted",
        c.alice.id,
        c.mod.id,
        PEER,
        UA,
        "by an administrator",
    )
    # A superuser deletes a role administrator.
    assert (await c.client.delete(f"{USERS}/{c.mod.id}", headers=c.as_("root"))).status_code == 204


# roles


def role_body(answer: httpx.Response) -> dict[str, Any]:
    body = dict(answer.json())
    assert set(body) == {"name", "permissions", "description", "created_at", "updated_at", "in_config"}
    return {k: body[k] for k in ("name", "permissions", "description", "in_config")}


async def test_role_crud(make_app: Any) -> None:
    c = await cast(make_app)
    made = await c.client.post(
        ROLES,
        json={
            "name": "editor",
            "permissions": ["posts:write", "posts:edit", "posts:write"],
            "description": "Edits",
        },
        headers=c.as_("root"),
    )
    assert made.status_code == 201, made.text
    assert made.headers["cache-control"] == "no-store"
    assert role_body(made) == {
        "name": "editor",
        "permissions": ["posts:edit", "posts:write"],
        "description": "Edits",
        "in_config": False,
    }
    listed = await c.client.get(ROLES, headers=c.as_("mod"))
    assert [r["name"] for r in listed.json()] == ["billing", "editor", "moderator", "writer"]
    one = await c.client.get(f"{ROLES}/editor", headers=c.as_("mod"))
    assert role_body(one)["permissions"] == ["posts:edit", "posts:write"]
    changed = await c.client.patch(
        f"{ROLES}/editor", json={"permissions": ["posts:edit"]}, headers=c.as_("root")
    )
    assert role_body(changed) == {**role_body(made), "permissions": ["posts:edit"]}
    described = await c.client.patch(f"{ROLES}/editor", json={"description": ""}, headers=c.as_("root"))
    assert role_body(described) == {**role_body(changed), "description": ""}
    unchanged = await c.client.patch(f"{ROLES}/editor", headers=c.as_("root"))  # no body: no change
    assert role_body(unchanged) == role_body(described)
    deleted = await c.client.delete(f"{ROLES}/editor", headers=c.as_("root"))
    assert (deleted.status_code, deleted.content) == (204, b"")
    missing = await c.client.get(f"{ROLES}/editor", headers=c.as_("root"))
    assert (missing.status_code, missing.json()) == (
        404,
        {"detail": "No such role: editor", "code": "role_not_found"},
    )
    changed_record = ("role_changed", None, c.root.id, "role editor: posts:edit")
    assert [(r[0], r[1], r[2], r[5]) for r in await audit_of(c)][:5] == [
        ("role_deleted", None, c.root.id, "role editor (held by 0)"),
        changed_record,  # the empty PATCH: asked for, so recorded
        changed_record,
        changed_record,
        ("role_created", None, c.root.id, "role editor: posts:edit posts:write"),
    ]


@pytest.mark.parametrize(
    ("method", "path", "payload", "answer"),
    [
        (
            "POST",
            ROLES,
            {"name": "writer", "permissions": []},
            (409, "role_exists", "A role of this name exists: writer"),
        ),
        ("POST", ROLES, {"name": "bad name", "permissions": []}, (422, "invalid_role", None)),
        ("POST", ROLES, {"name": "x" * 65, "permissions": []}, (422, "invalid_role", None)),
        ("POST", ROLES, {"name": "ok", "permissions": ["has space"]}, (422, "invalid_role", None)),
        (
            "POST",
            ROLES,
            {"name": "ok", "permissions": "posts:write"},
            (422, "invalid_body", "Missing or invalid fields: permissions"),
        ),
        (
            "POST",
            ROLES,
            {"name": "ok", "admin": True},
            (422, "invalid_body", "Missing or invalid fields: admin"),
        ),
        ("POST", ROLES, {"permissions": []}, (422, "invalid_body", "Missing or invalid fields: name")),
        (
            "POST",
            ROLES,
            {"name": "ok", "description": "d" * 201},
            (422, "invalid_body", "Missing or invalid fields: description"),
        ),
        (
            "PATCH",
            ROLES + "/writer",
            {"name": "renamed"},
            (422, "invalid_body", "Missing or invalid fields: name"),
        ),
        (
            "PATCH",
            ROLES + "/writer",
            {"permissions": None},
            (422, "invalid_body", "Missing or invalid fields: permissions"),
        ),
        (
            "PATCH",
            ROLES + "/writer",
            {"description": None},
            (422, "invalid_body", "Missing or invalid fields: description"),
        ),
        ("PATCH", ROLES + "/ghost", {"description": "x"}, (404, "role_not_found", "No such role: ghost")),
        ("PATCH", ROLES + "/bad%20name", {"description": "x"}, (422, "invalid_role", None)),
        ("DELETE", ROLES + "/ghost", None, (404, "role_not_found", "No such role: ghost")),
        ("GET", ROLES + "/bad%20name", None, (422, "invalid_role", None)),
    ],
    ids=[
        "taken",
        "bad-name",
        "long-name",
        "bad-permission",
        "permissions-text",
        "unknown-key",
        "no-name",
        "long-description",
        "rename",
        "null-permissions",
        "null-description",
        "unknown-role",
        "bad-path-name",
        "delete-unknown",
        "get-bad-name",
    ],
)
@SHARED
async def test_a_bad_role_request_is_refused(
    shared: Cast, method: str, path: str, payload: Any, answer: tuple[int, str, str | None]
) -> None:
    c = shared
    before = [(r.name, r.permissions, r.description) for r in await c.service.roles.list()]
    refused = await c.client.request(method, path, json=payload, headers=c.as_("root"))
    status, code, detail = answer
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    if detail is not None:
        assert refused.json()["detail"] == detail
    assert [(r.name, r.permissions, r.description) for r in await c.service.roles.list()] == before


async def test_a_role_administrator_makes_roles_only_of_what_they_hold(make_app: Any) -> None:
    c = await cast(make_app)
    ok = await c.client.post(
        ROLES, json={"name": "helper", "permissions": ["posts:write"]}, headers=c.as_("mod")
    )
    assert ok.status_code == 201
    for method, path, payload in [
        ("POST", ROLES, {"name": "refunder", "permissions": ["billing:refund"]}),
        ("PATCH", f"{ROLES}/helper", {"permissions": ["posts:write", "billing:refund"]}),
        ("PATCH", f"{ROLES}/billing", {"description": "mine now"}),  # a role granting what they lack
        ("PATCH", f"{ROLES}/billing", {"permissions": []}),
        ("DELETE", f"{ROLES}/billing", None),
    ]:
        answer = await c.client.request(method, path, json=payload, headers=c.as_("mod"))
        assert (answer.status_code, answer.json()) == (403, DENIED), (method, path, payload)
    assert (await c.service.roles.get("billing")).permissions == ("billing:refund",)
    assert (await c.service.roles.get("helper")).permissions == ("posts:write",)
    assert (await audit_of(c))[0][:3] == ("role_created", None, c.mod.id)


async def test_deleting_a_role_takes_it_from_its_holders(make_app: Any) -> None:
    c = await cast(make_app)
    await c.service.accounts.update(c.alice.id, roles=("writer", "billing"))
    answer = await c.client.delete(f"{ROLES}/writer", headers=c.as_("root"))
    assert answer.status_code == 204
    alice = await c.client.get(f"{USERS}/{c.alice.id}", headers=c.as_("root"))
    assert alice.json()["roles"] == ["billing"]
    refreshed = await post_refresh(c.app, c.tokens["alice"]["refresh_token"])
    after = claims(refreshed.json()["access_token"])
    assert (after["roles"], after["scope"]) == (["billing"], "billing:refund")
    assert (await c.service.admin_get_user(c.bob.id)).roles == ()
    assert (await audit_of(c))[0][5] == "role writer (held by 2)"  # alice and bob


async def test_a_changed_role_reaches_its_holders_at_their_next_refresh(make_app: Any) -> None:
    c = await cast(make_app)
    await c.service.accounts.update(c.alice.id, roles=("writer",))
    first = await post_refresh(c.app, c.tokens["alice"]["refresh_token"])
    assert claims(first.json()["access_token"])["scope"] == "posts:write"
    await c.client.patch(
        f"{ROLES}/writer", json={"permissions": ["posts:write", "posts:edit"]}, headers=c.as_("root")
    )
    second = await post_refresh(c.app, first.json()["refresh_token"])
    assert claims(second.json()["access_token"])["scope"] == "posts:edit posts:write"


@SHARED
async def test_roles_from_the_configuration_are_read_only(shared: Cast) -> None:
    c = shared
    listed = await c.client.get(ROLES, headers=c.as_("root"))
    support = next(r for r in listed.json() if r["name"] == "support")
    assert (support["permissions"], support["in_config"]) == (["tickets:read"], True)
    assert all(not r["in_config"] for r in listed.json() if r["name"] != "support")
    conflict = {
        "detail": "This role is declared in the configuration (FASTAUTH_AUTHZ__ROLES); change it there: support",
        "code": "role_in_config",
    }
    for method, payload in (
        ("PATCH", {"description": "x"}),
        ("PATCH", {"permissions": []}),
        ("DELETE", None),
    ):
        answer = await c.client.request(method, f"{ROLES}/support", json=payload, headers=c.as_("root"))
        assert (answer.status_code, answer.json()) == (409, conflict)
    taken = await c.client.post(ROLES, json={"name": "support", "permissions": []}, headers=c.as_("root"))
    assert taken.status_code == 409 and taken.json()["code"] == "role_exists"
    assert (await c.service.roles.get("support")).permissions == ("tickets:read",)
    # It can still be given to users (and taken back: the app is shared).
    for roles in (["writer", "support"], ["writer"]):
        given = await c.client.patch(f"{USERS}/{c.bob.id}", json={"roles": roles}, headers=c.as_("root"))
        assert (given.status_code, given.json()["roles"]) == (200, roles)


# the document


@SHARED
async def test_the_routes_are_in_the_openapi_document(shared: Cast) -> None:
    doc = (await shared.client.get("/openapi.json")).json()
    paths = doc["paths"]
    for method, path, _ in ROUTES:
        template = path.replace("{id}", "{user_id}").replace("{role}", "{name}")
        operation = paths[template][method.lower()]
        assert operation["security"] == [{"OAuth2PasswordBearer": []}], template
        assert {"401", "403", "503"} <= set(operation["responses"]), template
    listing = paths[USERS]["get"]
    assert {p["name"] for p in listing["parameters"]} == {"query", "limit", "cursor"}
    limit = next(p for p in listing["parameters"] if p["name"] == "limit")["schema"]
    assert (limit["minimum"], limit["maximum"], limit["default"]) == (1, 200, 50)
    assert "400" in listing["responses"] and "Cache-Control" in listing["responses"]["200"]["headers"]
    page = doc["components"]["schemas"]["UserPage"]
    assert set(page["properties"]) == {"items", "next_cursor"}
    patch = paths[USERS + "/{user_id}"]["patch"]["requestBody"]
    assert patch["required"] is False
    assert set(patch["content"]["application/json"]["schema"]["properties"]) == {
        "is_active",
        "is_verified",
        "is_superuser",
        "roles",
        "fields",
        "end_sessions",
    }
    assert paths[ROLES]["post"]["requestBody"]["required"] is True
    assert "409" in paths[ROLES + "/{name}"]["patch"]["responses"]
