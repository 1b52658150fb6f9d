"""The application's user fields over HTTP, on SQLite and PostgreSQL: registration with them,
`GET /auth/me` showing them, `PATCH /auth/me` changing only `Writable` ones (every other body refused
with nothing written), a taken username, sign-in with the username, and the OpenAPI document."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

import pytest
from pydantic import Field
from sqlalchemy import text

from fastauth import Indexed, SetOnce, Unique, UserFields, Writable
from fastauth.hooks import EventHooks
from support.http import (
    BAD_LOGIN_BODY,
    PASSWORD,
    assert_invalid_token,
    assert_not_authenticated,
    bearer,
    set_cookies,
)

USER_KEYS = {"id", "email", "is_active", "is_verified", "is_superuser", "roles", "created_at", "has_password"}


class Profile(UserFields):
    name: Annotated[str | None, Writable, Field(max_length=100)] = None
    username: Annotated[str, SetOnce, Unique, Field(min_length=3, max_length=30, pattern=r"^[a-z0-9_]+$")]
    tenant_id: Annotated[str, Indexed, Field(max_length=64)] = "default"
    plan: Literal["free", "pro"] = "free"


class Updates(EventHooks):
    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def on_after_update(self, user: Any, update_dict: dict[str, Any]) -> None:
        self.calls.append((user.id, update_dict))


async def app_with_fields(make_app: Any, **overrides: Any) -> Any:
    return await make_app(user_fields=Profile, username_field="username", **overrides)


async def register(a: Any, email: str = "ada@example.com", **fields: Any) -> Any:
    return await a.client.post("/auth/register", json={"email": email, "password": PASSWORD, **fields})


@pytest.fixture
async def ada(make_app: Any) -> tuple[Any, str]:
    """An app with `Profile` and Ada registered (name "Ada", username "ada"); her access token."""
    a = await app_with_fields(make_app)
    r = await register(a, name="Ada", username="ada")
    assert r.status_code == 201, r.text
    return a, r.json()["access_token"]


async def me(a: Any, token: str) -> dict[str, Any]:
    r = await a.client.get("/auth/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    return dict(r.json())


async def stored(a: Any, email: str = "ada@example.com") -> Any:
    return await a.auth.accounts.store.get_user_by_email(email)


# --- register and /auth/me -----------------------------------------------------------------------


async def test_register_with_fields_and_me_shows_them_beside_the_account(make_app: Any) -> None:
    a = await app_with_fields(make_app)
    r = await register(a, name="Ada Lovelace", username="ada", is_superuser=True, is_verified=True)
    assert r.status_code == 201, r.text

    body = await me(a, r.json()["access_token"])

    assert set(body) == USER_KEYS | {"name", "username", "tenant_id", "plan"}
    assert {k: body[k] for k in ("email", "is_active", "is_verified", "is_superuser", "roles")} == {
        "email": "ada@example.com",
        "is_active": True,
        "is_verified": False,  # unknown-to-the-fields keys are ignored, as in fastapi-users
        "is_superuser": False,
        "roles": [],
    }
    assert {k: body[k] for k in ("name", "username", "tenant_id", "plan")} == {
        "name": "Ada Lovelace",
        "username": "ada",
        "tenant_id": "default",
        "plan": "free",
    }
    user = await stored(a)
    assert user.fields == Profile(name="Ada Lovelace", username="ada")
    assert (user.is_superuser, user.is_verified) == (False, False)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        pytest.param({}, "invalid user fields: username: Field required", id="missing-username"),
        pytest.param(
            {"username": "ada", "tenant_id": "acme"},
            "cannot be set at registration: tenant_id",
            id="unmarked",
        ),
        pytest.param({"username": "ada", "plan": "pro"}, "cannot be set at registration: plan", id="literal"),
        pytest.param(
            {"username": "Ada Lovelace"},
            "invalid user fields: username: String should match pattern '^[a-z0-9_]+$'",
            id="pattern",
        ),
        pytest.param(
            {"username": "ada", "name": "n" * 101},
            "invalid user fields: name: String should have at most 100 characters",
            id="name-too-long",
        ),
        pytest.param(
            {"username": ["ada"]}, "invalid user fields: username: Input should be a valid string", id="array"
        ),
    ],
)
async def test_register_refuses_fields_and_creates_no_account(
    make_app: Any, fields: dict[str, Any], detail: str
) -> None:
    a = await app_with_fields(make_app)
    r = await register(a, **fields)
    assert (r.status_code, r.json()) == (422, {"detail": detail, "code": _code(422, detail)})
    assert await stored(a) is None


async def test_register_with_a_taken_username_is_409_and_creates_no_account(
    ada: tuple[Any, str],
) -> None:
    a, _ = ada
    r = await register(a, "bob@example.com", username="ada")
    assert (r.status_code, r.json()) == (409, {"detail": "username is already taken", "code": "field_taken"})
    assert await stored(a, "bob@example.com") is None
    retry = await register(a, "bob@example.com", username="bob")
    assert retry.status_code == 201, retry.text


async def test_register_with_a_taken_email_is_still_email_taken(ada: tuple[Any, str]) -> None:
    a, _ = ada
    r = await register(a, "ada@example.com", username="other")
    assert (r.status_code, r.json()) == (
        409,
        {"detail": "This email is already registered", "code": "email_taken"},
    )


# --- PATCH /auth/me ----------------------------------------------------------------------------


async def test_patch_me_changes_a_writable_field(ada: tuple[Any, str]) -> None:
    a, token = ada
    before = await me(a, token)

    r = await a.client.patch("/auth/me", json={"name": "Countess of Lovelace"}, headers=bearer(token))

    assert r.status_code == 200, r.text
    assert r.json() == {**before, "name": "Countess of Lovelace"}
    assert await me(a, token) == r.json()
    assert (await stored(a)).fields == Profile(name="Countess of Lovelace", username="ada")


async def test_patch_me_clears_a_nullable_field(ada: tuple[Any, str]) -> None:
    a, token = ada
    r = await a.client.patch("/auth/me", json={"name": None}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["name"] is None
    assert (await stored(a)).fields.name is None


async def test_patch_me_with_an_empty_object_changes_nothing(ada: tuple[Any, str]) -> None:
    a, token = ada
    before = await stored(a)
    r = await a.client.patch("/auth/me", json={}, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json() == await me(a, token)
    assert await stored(a) == before


def _json(body: Any) -> dict[str, Any]:
    return {"json": body}


def _raw(content: bytes, ctype: str = "application/json") -> dict[str, Any]:
    return {"content": content, "headers": {"content-type": ctype}}


HOSTILE = [
    pytest.param(_json({"email": "eve@example.com"}), 422, "not user fields: email", id="email"),
    pytest.param(_json({"is_superuser": True}), 422, "not user fields: is_superuser", id="is_superuser"),
    pytest.param(_json({"is_verified": True}), 422, "not user fields: is_verified", id="is_verified"),
    pytest.param(_json({"is_active": False}), 422, "not user fields: is_active", id="is_active"),
    pytest.param(_json({"roles": ["admin"]}), 422, "not user fields: roles", id="roles"),
    pytest.param(_json({"id": "x" * 25}), 422, "not user fields: id", id="id"),
    pytest.param(
        _json({"hashed_password": "$argon2id$x"}), 422, "not user fields: hashed_password", id="hash"
    ),
    pytest.param(_json({"password": "new password"}), 422, "not user fields: password", id="password"),
    pytest.param(_json({"created_at": 0}), 422, "not user fields: created_at", id="created_at"),
    pytest.param(_json({"username": "eve"}), 422, "cannot be set by the user: username", id="set-once"),
    pytest.param(_json({"tenant_id": "acme"}), 422, "cannot be set by the user: tenant_id", id="unmarked"),
    pytest.param(_json({"plan": "pro"}), 422, "cannot be set by the user: plan", id="unmarked-literal"),
    pytest.param(_json({"nickname": "x"}), 422, "not user fields: nickname", id="unknown-key"),
    pytest.param(
        _json({"name": "Mallory", "is_superuser": True}), 422, "not user fields: is_superuser", id="mixed"
    ),
    pytest.param(
        _json({"name": "Mallory", "tenant_id": "acme"}),
        422,
        "cannot be set by the user: tenant_id",
        id="mixed-unmarked",
    ),
    pytest.param(
        _json({"name": "n" * 101}),
        422,
        "invalid user fields: name: String should have at most 100 characters",
        id="name-too-long",
    ),
    pytest.param(
        _json({"name": 123}), 422, "invalid user fields: name: Input should be a valid string", id="name-int"
    ),
    pytest.param(
        _json({"name": {"$ne": None}}),
        422,
        "invalid user fields: name: Input should be a valid string",
        id="name-object",
    ),
    pytest.param(
        _json({"name": True}),
        422,
        "invalid user fields: name: Input should be a valid string",
        id="name-bool",
    ),
    pytest.param(_json([{"name": "Mallory"}]), 422, "Request body must be a JSON object", id="json-array"),
    pytest.param(_raw(b"null"), 422, "Request body must be a JSON object", id="json-null"),
    pytest.param(_raw(b'"name"'), 422, "Request body must be a JSON object", id="json-string"),
    pytest.param(_raw(b'{"name": "Mallory"'), 422, "Request body is not valid JSON", id="invalid-json"),
    pytest.param(_raw(b"[" * 8000 + b"]" * 8000), 422, "Request body is not valid JSON", id="deep-json"),
    pytest.param(_json({"name": "n" * (17 * 1024)}), 413, "Request body too large", id="oversized-body"),
    pytest.param(
        _raw(b"name=Mallory&is_superuser=true", "application/x-www-form-urlencoded"),
        422,
        "not user fields: is_superuser",
        id="form",
    ),
]


def _code(status: int, detail: str) -> str:
    """The error table's code of a refusal: the body's reading (the web layer's) or the fields' (the core's)."""
    if status == 413:
        return "body_too_large"
    if status == 409:
        return "field_taken"
    return (
        "invalid_body" if detail.startswith(("Request body", "Missing or invalid")) else "invalid_user_fields"
    )


@pytest.mark.parametrize(("request_kwargs", "status", "detail"), HOSTILE)
async def test_patch_me_refuses_and_writes_nothing(
    ada: tuple[Any, str], request_kwargs: dict[str, Any], status: int, detail: str
) -> None:
    a, token = ada
    before = await stored(a)
    shown = await me(a, token)
    sent = dict(request_kwargs)  # the parameter is shared by the SQLite and PostgreSQL runs
    headers = {**sent.pop("headers", {}), **bearer(token)}

    r = await a.client.patch("/auth/me", headers=headers, **sent)

    assert (r.status_code, r.json()) == (status, {"detail": detail, "code": _code(status, detail)})
    assert "Mallory" not in r.text and "nnnnn" not in r.text
    assert await stored(a) == before
    assert await me(a, token) == shown


async def test_patch_me_without_a_token_is_401(ada: tuple[Any, str]) -> None:
    a, _ = ada
    before = await stored(a)
    assert_not_authenticated(await a.client.patch("/auth/me", json={"name": "Mallory"}))
    assert_invalid_token(
        await a.client.patch("/auth/me", json={"name": "Mallory"}, headers=bearer("not.a.token"))
    )
    assert await stored(a) == before


async def test_patch_me_fires_on_after_update_with_the_change_only(make_app: Any) -> None:
    hooks = Updates()
    a = await app_with_fields(make_app, hooks=hooks)
    r = await register(a, username="ada")
    token = r.json()["access_token"]
    user_id = (await stored(a)).id

    await a.client.patch("/auth/me", json={"tenant_id": "acme"}, headers=bearer(token))  # refused
    await a.client.patch("/auth/me", json={}, headers=bearer(token))  # nothing to change
    ok = await a.client.patch("/auth/me", json={"name": "Ada"}, headers=bearer(token))

    assert ok.status_code == 200, ok.text
    assert hooks.calls == [(user_id, {"name": "Ada"})]


async def test_patch_me_with_the_cookie_needs_the_csrf_token(make_app: Any) -> None:
    a = await app_with_fields(make_app, token_delivery="cookie", cookie_secure=False)
    r = await register(a, username="ada")
    assert r.status_code == 201, r.text
    jar = {name: cookie.value for name, cookie in set_cookies(r).items()}
    a.client.cookies.clear()
    cookie = "; ".join(f"{name}={value}" for name, value in jar.items())

    refused = await a.client.patch("/auth/me", json={"name": "Mallory"}, headers={"Cookie": cookie})
    assert (refused.status_code, refused.json()) == (
        403,
        {"detail": "CSRF token missing or invalid", "code": "csrf_failed"},
    )
    assert (await stored(a)).fields.name is None

    ok = await a.client.patch(
        "/auth/me", json={"name": "Ada"}, headers={"Cookie": cookie, "X-CSRF-Token": jar["csrf_token"]}
    )
    assert ok.status_code == 200, ok.text
    assert (await stored(a)).fields.name == "Ada"


# --- a stored value the model now refuses ----------------------------------------------------------


async def test_me_shows_a_stored_value_the_model_now_refuses(ada: tuple[Any, str]) -> None:
    a, token = ada
    user = await stored(a)
    async with a.auth.accounts.store.engine.begin() as conn:
        await conn.execute(
            text("UPDATE fastauth_users SET username = :v WHERE id = :id"),
            {"v": "Ada Lovelace", "id": user.id},
        )
    a.auth.accounts.cache.invalidate(user.id)

    r = await a.client.get("/auth/me", headers=bearer(token))
    assert r.status_code == 200, r.text
    assert r.json()["username"] == "Ada Lovelace"


# --- sign-in with the username -----------------------------------------------------------------


async def test_login_with_the_username(ada: tuple[Any, str]) -> None:
    a, _ = ada
    user_id = (await stored(a)).id
    as_json = await a.client.post("/auth/login", json={"email": "ada", "password": PASSWORD})
    as_form = await a.client.post("/auth/login", data={"username": "ada", "password": PASSWORD})

    for r in (as_json, as_form):
        assert r.status_code == 200, r.text
        assert (await me(a, r.json()["access_token"]))["id"] == user_id


@pytest.mark.parametrize(
    ("login", "password"),
    [
        pytest.param("ada", "wrong password", id="wrong-password"),
        pytest.param("nobody", PASSWORD, id="unknown-username"),
        pytest.param("Ada", PASSWORD, id="not-a-username"),
        pytest.param("ada' OR '1'='1", PASSWORD, id="injection"),
        pytest.param("a" * 500, PASSWORD, id="long"),
        pytest.param("nobody@example.com", PASSWORD, id="unknown-email"),
    ],
)
async def test_a_failed_username_login_answers_as_for_an_email(
    ada: tuple[Any, str], login: str, password: str
) -> None:
    a, _ = ada
    r = await a.client.post("/auth/login", json={"email": login, "password": password})
    assert (r.status_code, r.json()) == (401, BAD_LOGIN_BODY)
    assert r.headers.get_list("www-authenticate") == ["Bearer"]


# --- OpenAPI ---------------------------------------------------------------------------------


def _schema(document: dict[str, Any], method: str) -> dict[str, Any]:
    answer = document["paths"]["/auth/me"][method]["responses"]["200"]["content"]["application/json"]
    name = answer["schema"]["$ref"].rsplit("/", 1)[-1]
    return dict(document["components"]["schemas"][name])


async def test_openapi_shows_the_fields_in_the_me_response(make_app: Any) -> None:
    a = await app_with_fields(make_app)
    r = await a.client.get("/openapi.json")
    assert r.status_code == 200
    document = r.json()

    for method in ("get", "patch"):
        schema = _schema(document, method)
        properties = schema["properties"]
        assert USER_KEYS | {"name", "username", "tenant_id", "plan"} <= set(properties), method
        assert properties["plan"]["enum"] == ["free", "pro"]
        assert properties["username"]["maxLength"] == 30
        assert properties["username"]["pattern"] == "^[a-z0-9_]+$"
        assert "hashed_password" not in json.dumps(schema)
