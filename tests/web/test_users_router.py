"""fastapi-users' users routes (`auth.users_router()`, mounted at `/users` as its docs mount
`get_users_router`) on SQLite and PostgreSQL: `GET/PATCH /users/me` for the caller, as fastauth's
`/auth/me`; `GET/PATCH/DELETE /users/{id}` for superusers only, 403 for anyone else (before any
lookup), 404 for an unknown id, 401 without an access token (an API key is no superuser). Changes are
audited with the superuser as `actor_id`; `email` and `password` are refused (fastauth changes them
only through the user's own confirmed routes)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any

import pytest
import pytest_asyncio
from pydantic import Field

from fastauth.authz import ADMIN
from fastauth.fields import SetOnce, UserFields, Writable
from support.admin import UA, Cast, cast, shared_app
from support.forge import claims
from support.http import INVALID_TOKEN_BODY, NOT_AUTHENTICATED_BODY, bearer, post_refresh

PEER = "127.0.0.1"
DENIED = {"detail": "Not enough permissions", "code": "permission_denied"}
NO_USER = {"detail": "No such user", "code": "user_not_found"}
SHARED = pytest.mark.asyncio(loop_scope="module")


class Profile(UserFields):
    nickname: Annotated[str | None, Writable, Field(max_length=20)] = None
    tenant: Annotated[str | None, SetOnce, Field(max_length=20)] = None
    plan: Annotated[str, Field(max_length=10)] = "free"


@pytest_asyncio.fixture(
    scope="module",
    loop_scope="module",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
async def shared(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Cast]:
    """The cast on one app for the module's tests that only read or are refused."""
    async with shared_app(request, tmp_path_factory, user_fields=Profile) as c:
        yield c


# the caller's own account


@SHARED
async def test_me_is_the_signed_in_user_as_at_auth_me(shared: Cast) -> None:
    c = shared
    mine = await c.client.get("/users/me", headers=c.as_("bob"))
    assert mine.status_code == 200
    assert mine.json() == (await c.client.get("/auth/me", headers=c.as_("bob"))).json()
    assert (mine.json()["email"], mine.json()["roles"], mine.json()["plan"]) == (
        "bob@example.com",
        ["writer"],
        "free",
    )
    anonymous = await c.client.get("/users/me")
    assert (anonymous.status_code, anonymous.json()) == (401, NOT_AUTHENTICATED_BODY)
    forged = await c.client.get("/users/me", headers=bearer("not.a.token"))
    assert (forged.status_code, forged.json()) == (401, INVALID_TOKEN_BODY)


async def test_patch_me_changes_the_writable_fields_only(make_app: Any) -> None:
    c = await cast(make_app, user_fields=Profile)
    changed = await c.client.patch("/users/me", json={"nickname": "Al"}, headers=c.as_("alice"))
    assert (changed.status_code, changed.json()["nickname"]) == (200, "Al")
    assert (await c.service.admin_get_user(c.alice.id)).fields.nickname == "Al"


@pytest.mark.parametrize(
    ("payload", "detail"),
    [
        ({"plan": "pro"}, "cannot be set by the user: plan"),
        ({"is_superuser": True}, "not user fields: is_superuser"),
        ({"is_active": False}, "not user fields: is_active"),
        ({"email": "new@example.com"}, "not user fields: email"),
        ({"password": "a new password"}, "not user fields: password"),
        ({"roles": ["moderator"]}, "not user fields: roles"),
    ],
    ids=["read-only-field", "is_superuser", "is_active", "email", "password", "roles"],
)
@SHARED
async def test_patch_me_refuses_what_the_user_may_not_change(
    shared: Cast, payload: dict[str, Any], detail: str
) -> None:
    c = shared
    refused = await c.client.patch("/users/me", json=payload, headers=c.as_("alice"))
    assert (refused.status_code, refused.json()) == (422, {"detail": detail, "code": "invalid_user_fields"})
    alice = await c.service.admin_get_user(c.alice.id)
    assert (alice.email, alice.is_superuser, alice.is_active, alice.roles, alice.fields.plan) == (
        "alice@example.com",
        False,
        True,
        (),
        "free",
    )


@SHARED
async def test_an_api_key_is_refused_at_me(shared: Cast) -> None:
    c = shared
    sid = claims(c.tokens["bob"]["access_token"])["sid"]
    key, _ = await c.service.create_api_key(c.bob, sid, name="ci", scopes=[], expires_in=3600)
    for method in ("GET", "PATCH"):
        answer = await c.client.request(method, "/users/me", json={}, headers=bearer(key))
        assert (answer.status_code, answer.json()) == (401, INVALID_TOKEN_BODY), method


# superusers only


#: (method, path suffix, body) of the superuser routes.
SUPERUSER_ROUTES = [
    ("GET", None),
    ("PATCH", {"is_active": False}),
    ("DELETE", None),
]


@pytest.mark.parametrize(("method", "payload"), SUPERUSER_ROUTES, ids=["GET", "PATCH", "DELETE"])
@pytest.mark.parametrize("who", ["mod", "bob", "alice"])
@SHARED
async def test_anyone_but_a_superuser_gets_403_whatever_the_id(
    shared: Cast, method: str, payload: Any, who: str
) -> None:
    # mod holds fastauth:admin (the admin API's right): these are fastapi-users' superuser routes.
    c = shared
    for target in (c.alice.id, c.root.id, "nobody"):
        answer = await c.client.request(method, f"/users/{target}", json=payload, headers=c.as_(who))
        assert (answer.status_code, answer.json()) == (403, DENIED), target
    assert (await c.client.get("/auth/me", headers=c.as_("alice"))).status_code == 200


@pytest.mark.parametrize(("method", "payload"), SUPERUSER_ROUTES, ids=["GET", "PATCH", "DELETE"])
@SHARED
async def test_without_an_access_token_it_is_401(shared: Cast, method: str, payload: Any) -> None:
    c = shared
    url = f"/users/{c.alice.id}"
    anonymous = await c.client.request(method, url, json=payload)
    assert (anonymous.status_code, anonymous.json()) == (401, NOT_AUTHENTICATED_BODY)
    # A superuser's API key, even with fastauth:admin, is no superuser here.
    sid = claims(c.tokens["root"]["access_token"])["sid"]
    key, _ = await c.service.create_api_key(c.root, sid, name="ci", scopes=[ADMIN], expires_in=3600)
    keyed = await c.client.request(method, url, json=payload, headers=bearer(key))
    assert (keyed.status_code, keyed.json()) == (401, INVALID_TOKEN_BODY)
    assert (await c.service.admin_get_user(c.alice.id)).is_active


@pytest.mark.parametrize(("method", "payload"), SUPERUSER_ROUTES, ids=["GET", "PATCH", "DELETE"])
@SHARED
async def test_an_unknown_id_is_404_for_a_superuser(shared: Cast, method: str, payload: Any) -> None:
    c = shared
    answer = await c.client.request(method, "/users/nobody", json=payload, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (404, NO_USER)


@SHARED
async def test_a_superuser_reads_a_user(shared: Cast) -> None:
    c = shared
    answer = await c.client.get(f"/users/{c.bob.id}", headers=c.as_("root"))
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    assert (
        answer.json() == (await c.client.get(f"/auth/admin/users/{c.bob.id}", headers=c.as_("root"))).json()
    )


async def test_a_superuser_sets_flags_and_fields_audited_with_the_actor(make_app: Any) -> None:
    c = await cast(make_app, user_fields=Profile)
    answer = await c.client.patch(
        f"/users/{c.alice.id}",
        json={"is_verified": True, "is_superuser": True, "plan": "pro", "tenant": "acme"},
        headers=c.as_("root"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["is_verified"], body["is_superuser"], body["plan"], body["tenant"]) == (
        True,
        True,
        "pro",
        "acme",
    )
    records = [
        (r.event, r.user_id, r.actor_id, r.ip, r.user_agent, r.detail)
        for r in await c.service.audit.read(user_id=c.alice.id)
    ]
    assert records[0] == (
        "user_changed",
        c.alice.id,
        c.root.id,
        PEER,
        UA,
        "is_superuser=True is_verified=True plan tenant",
    )


async def test_deactivation_by_a_superuser_ends_the_sessions_at_once(make_app: Any) -> None:
    c = await cast(make_app)
    answer = await c.client.patch(f"/users/{c.alice.id}", json={"is_active": False}, headers=c.as_("root"))
    assert (answer.status_code, answer.json()["is_active"]) == (200, False)
    refused = await c.client.get("/users/me", headers=c.as_("alice"))
    assert (refused.status_code, refused.json()) == (401, INVALID_TOKEN_BODY)
    assert (await post_refresh(c.app, c.tokens["alice"]["refresh_token"])).status_code == 401


@pytest.mark.parametrize(
    ("payload", "answer"),
    [
        ({"email": "new@example.com"}, (422, "invalid_body", "Not changeable here: email")),
        ({"password": "a new password"}, (422, "invalid_body", "Not changeable here: password")),
        (
            {"email": "x@example.com", "password": "p"},
            (422, "invalid_body", "Not changeable here: email, password"),
        ),
        ({"is_active": "false"}, (422, "invalid_body", "Missing or invalid fields: is_active")),
        ({"is_superuser": 1}, (422, "invalid_body", "Missing or invalid fields: is_superuser")),
        ({"is_verified": None}, (422, "invalid_body", "Missing or invalid fields: is_verified")),
        ({"roles": ["moderator"]}, (422, "invalid_user_fields", "not user fields: roles")),
        ({"nickname": "x" * 21}, (422, "invalid_user_fields", None)),
        ({"id": "other"}, (422, "invalid_user_fields", "not user fields: id")),
    ],
    ids=["email", "password", "both", "flag-text", "flag-int", "flag-null", "roles", "field-too-long", "id"],
)
@SHARED
async def test_a_superuser_patch_refuses(
    shared: Cast, payload: dict[str, Any], answer: tuple[int, str, str | None]
) -> None:
    c = shared
    refused = await c.client.patch(f"/users/{c.alice.id}", json=payload, headers=c.as_("root"))
    status, code, detail = answer
    assert (refused.status_code, refused.json()["code"]) == (status, code), refused.text
    if detail is not None:
        assert refused.json()["detail"] == detail
    alice = await c.service.admin_get_user(c.alice.id)
    assert (alice.email, alice.is_active, alice.is_superuser, alice.is_verified) == (
        "alice@example.com",
        True,
        False,
        False,
    )
    assert [r.event for r in await c.service.audit.read(user_id=c.alice.id)] == ["signin", "signup"]


@pytest.mark.parametrize(
    "payload", [{"is_active": False}, {"is_superuser": False}], ids=["deactivate", "demote"]
)
@SHARED
async def test_a_superuser_does_not_deactivate_demote_or_delete_themselves(
    shared: Cast, payload: dict[str, Any]
) -> None:
    c = shared
    answer = await c.client.patch(f"/users/{c.root.id}", json=payload, headers=c.as_("root"))
    assert (answer.status_code, answer.json()) == (403, DENIED)
    deleted = await c.client.delete(f"/users/{c.root.id}", headers=c.as_("root"))
    assert (deleted.status_code, deleted.json()) == (403, DENIED)
    root = await c.service.admin_get_user(c.root.id)
    assert (root.is_active, root.is_superuser) == (True, True)


async def test_a_superuser_deletes_a_user(make_app: Any) -> None:
    c = await cast(make_app)
    answer = await c.client.delete(f"/users/{c.alice.id}", headers=c.as_("root"))
    assert (answer.status_code, answer.content) == (204, b"")
    gone = await c.client.get(f"/users/{c.alice.id}", headers=c.as_("root"))
    assert (gone.status_code, gone.json()) == (404, NO_USER)
    assert (await c.client.get("/users/me", headers=c.as_("alice"))).status_code == 401
    record = (await c.service.audit.read(user_id=c.alice.id))[0]
    assert (record.event, record.actor_id, record.ip, record.user_agent) == (
        "account_deleted",
        c.root.id,
        PEER,
        UA,
    )


@SHARED
async def test_methods_and_the_document(shared: Cast) -> None:
    c = shared
    wrong = await c.client.put("/users/me", headers=c.as_("alice"))
    assert (wrong.status_code, wrong.headers["allow"], wrong.json()["code"]) == (
        405,
        "GET, PATCH",
        "method_not_allowed",
    )
    other = await c.client.post(f"/users/{c.alice.id}", headers=c.as_("root"))
    assert (other.status_code, other.headers["allow"]) == (405, "DELETE, GET, PATCH")
    doc = (await c.client.get("/openapi.json")).json()
    paths = doc["paths"]
    assert set(paths["/users/me"]) == {"get", "patch"}
    assert set(paths["/users/{id}"]) == {"get", "patch", "delete"}
    for method in ("get", "patch", "delete"):
        operation = paths["/users/{id}"][method]
        assert operation["security"] == [{"OAuth2PasswordBearer": []}]
        assert {"401", "403", "404", "503"} <= set(operation["responses"]), method
    schema = paths["/users/{id}"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {
        "is_active",
        "is_verified",
        "is_superuser",
        "nickname",
        "tenant",
        "plan",
    }
    me = paths["/users/me"]["patch"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(me["properties"]) == {"nickname"}
