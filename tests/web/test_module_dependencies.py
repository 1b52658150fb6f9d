"""`fastauth.dependencies`: the module-level get_current_user, get_current_superuser, get_optional_user and
get_current_claims answer exactly as the instance's dependencies do (same status, body and challenge),
bound to the FastAuth that `auth.mount(app)` recorded on the app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi import Depends, FastAPI

from fastauth import FastAuth, User
from fastauth.dependencies import (
    get_current_claims,
    get_current_superuser,
    get_current_user,
    get_fastauth,
    get_optional_user,
)
from fastauth.errors import ConfigError
from support.clock import Clock
from support.forge import alg_none, claims, resign, tampered
from support.http import assert_invalid_token, assert_not_authenticated, bearer, set_user

#: module-level route -> the instance-dependency route of `support.app.build_app` it must mirror
MIRRORS = {
    "/m/private": "/private",
    "/m/claims": "/claims",
    "/m/admin": "/admin",
    "/m/optional": "/optional",
}


def add_module_routes(app: FastAPI) -> None:
    """The same routes as `build_app`'s, on the module-level dependencies."""

    @app.get("/m/private")
    async def private(user: User = Depends(get_current_user)) -> dict[str, Any]:
        return {"id": user.id, "email": user.email}

    @app.post("/m/private")
    async def private_post(user: User = Depends(get_current_user)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/m/claims")
    async def claims_route(token: dict[str, Any] = Depends(get_current_claims)) -> dict[str, Any]:
        return token

    @app.get("/m/admin")
    async def admin(user: User = Depends(get_current_superuser)) -> dict[str, Any]:
        return {"id": user.id}

    @app.get("/m/optional")
    async def optional(user: User | None = Depends(get_optional_user)) -> dict[str, Any]:
        return {"user": user.id if user else None}


@pytest.fixture(autouse=True)
def _default_token_url() -> Any:
    """`set_token_url` is process-wide (a docs page calls it too): start and end at the default."""
    from fastauth.dependencies import set_token_url

    set_token_url("auth/token")
    yield
    set_token_url("auth/token")


@pytest.fixture
def make_module_app(make_app: Any) -> Any:
    async def factory(**kwargs: Any) -> Any:
        a = await make_app(**kwargs)
        add_module_routes(a.app)
        return a

    return factory


async def assert_mirrors(client: httpx.AsyncClient, headers: Any = None) -> list[httpx.Response]:
    """Each module-level route answers exactly as its instance-dependency twin."""
    answers = []
    for module_path, instance_path in MIRRORS.items():
        mine = await client.get(module_path, headers=headers)
        theirs = await client.get(instance_path, headers=headers)
        assert (mine.status_code, mine.json()) == (theirs.status_code, theirs.json()), module_path
        assert mine.headers.get_list("www-authenticate") == theirs.headers.get_list("www-authenticate")
        answers.append(mine)
    return answers


async def test_valid_token(make_module_app: Any) -> None:
    a = await make_module_app()
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    private, claims_, admin, optional = await assert_mirrors(a.client, h)
    assert private.status_code == 200 and private.json()["email"] == "alice@example.com"
    assert claims_.status_code == 200 and claims_.json()["sub"] == private.json()["id"]
    assert admin.status_code == 403 and admin.json() == {
        "detail": "Not enough permissions",
        "code": "permission_denied",
    }
    assert optional.json() == {"user": private.json()["id"]}
    assert (await a.client.post("/m/private", headers=h)).status_code == 200

    await set_user(a.auth, "alice@example.com", is_superuser=True)
    admin = (await assert_mirrors(a.client, h))[2]
    assert admin.status_code == 200


async def test_no_token(make_module_app: Any) -> None:
    a = await make_module_app()
    private, claims_, admin, optional = await assert_mirrors(a.client)
    for response in (private, claims_, admin):
        assert_not_authenticated(response)
    assert optional.status_code == 200 and optional.json() == {"user": None}


async def test_bad_tokens(make_module_app: Any) -> None:
    a = await make_module_app()
    tokens = await a.register("alice@example.com")
    access = tokens["access_token"]
    bad = {
        "garbage": "garbage",
        "tampered sub": tampered(access, sub="somebody-else"),
        "tampered exp": tampered(access, exp=claims(access)["exp"] + 3600),
        "refresh token": tokens["refresh_token"],
        "another secret": resign(access, "another-secret-" + "y" * 40),
        "alg none": alg_none(access),
    }
    for kind, token in bad.items():
        private, claims_, admin, optional = await assert_mirrors(a.client, bearer(token))
        for response in (private, claims_, admin):
            assert response.status_code == 401, kind
            assert_invalid_token(response)
        assert optional.json() == {"user": None}, kind
    # malformed header and two headers: invalid_token too
    for headers in (
        {"Authorization": "Bearer  two-spaces"},
        [("Authorization", "Bearer a"), ("Authorization", "Bearer b")],
    ):
        private, *_, optional = await assert_mirrors(a.client, headers)
        assert_invalid_token(private)
        assert optional.json() == {"user": None}


async def test_expired_revoked_and_inactive(make_module_app: Any, clock: Clock) -> None:
    a = await make_module_app(clock=clock)
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])

    clock.advance(900 + 5)
    private, *_, optional = await assert_mirrors(a.client, h)
    assert_invalid_token(private)
    assert optional.json() == {"user": None}

    fresh = bearer(
        (await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})).json()[
            "access_token"
        ]
    )
    assert (await a.client.get("/m/private", headers=fresh)).status_code == 200
    assert (await a.client.post("/auth/logout", headers=fresh)).status_code == 204
    private, *_, optional = await assert_mirrors(a.client, fresh)
    assert_invalid_token(private)
    assert optional.json() == {"user": None}

    other = bearer((await a.register("bob@example.com"))["access_token"])
    await set_user(a.auth, "bob@example.com", is_active=False)
    private, claims_, admin, optional = await assert_mirrors(a.client, other)
    assert_invalid_token(private)
    assert_invalid_token(admin)
    assert claims_.status_code == 200  # claims need no user, as with auth.get_current_claims
    assert optional.json() == {"user": None}


async def test_cookie_delivery_and_csrf(make_module_app: Any) -> None:
    a = await make_module_app(token_delivery="cookie", cookie_secure=False)
    await a.register("alice@example.com")
    assert (await a.client.get("/m/private")).status_code == 200  # the access cookie authenticates
    assert (await a.client.post("/m/private")).status_code == 403  # no CSRF header
    csrf = a.client.cookies["csrf_token"]
    assert (await a.client.post("/m/private", headers={"X-CSRF-Token": csrf})).status_code == 200


async def test_each_app_uses_its_own_fastauth(make_module_app: Any) -> None:
    first = await make_module_app()
    second = await make_module_app(secret="second-app-secret-" + "z" * 40)
    token = (await first.register("alice@example.com"))["access_token"]
    assert (await first.client.get("/m/private", headers=bearer(token))).status_code == 200
    assert_invalid_token(await second.client.get("/m/private", headers=bearer(token)))


async def test_without_mount_the_first_use_says_what_to_do() -> None:
    app = FastAPI()
    add_module_routes(app)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        with pytest.raises(ConfigError, match=r"auth\.mount\(app\)"):
            await client.get("/m/private")
        with pytest.raises(ConfigError, match=r"auth\.mount\(app\)"):
            await client.get("/m/optional")
        app.state.fastauth = "something else"
        with pytest.raises(ConfigError, match="not a FastAuth"):
            await client.get("/m/private")


async def test_get_fastauth_is_the_mounted_instance(make_module_app: Any) -> None:
    a = await make_module_app()

    @a.app.get("/which")
    async def which(auth: FastAuth = Depends(get_fastauth)) -> dict[str, bool]:
        return {"same": auth is a.auth}

    assert (await a.client.get("/which")).json() == {"same": True}


async def test_swagger_authorize_button(make_module_app: Any) -> None:
    """One OAuth2 password scheme in the OpenAPI document, required by the module-level routes."""
    a = await make_module_app()
    schema = (await a.client.get("/openapi.json")).json()
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["OAuth2PasswordBearer"]
    assert schemes["OAuth2PasswordBearer"]["type"] == "oauth2"
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] in ("auth/token", "/auth/token")
    for path in ("/m/private", "/m/claims", "/m/admin", "/m/optional"):
        assert schema["paths"][path]["get"]["security"] == [{"OAuth2PasswordBearer": []}], path


def test_module_scheme_token_url_is_relative() -> None:
    from fastauth.dependencies import oauth2_scheme

    assert oauth2_scheme.model.flows.password is not None
    assert oauth2_scheme.model.flows.password.tokenUrl == "auth/token"
    assert oauth2_scheme.auto_error is False


async def test_set_token_url_for_another_prefix(make_module_app: Any) -> None:
    from fastauth.dependencies import set_token_url

    a = await make_module_app(route_prefix="/api/v1/auth")
    try:
        set_token_url("/api/v1/auth/token")
        schema = (await a.client.get("/openapi.json")).json()
    finally:
        set_token_url("auth/token")
    schemes = schema["components"]["securitySchemes"]
    assert list(schemes) == ["OAuth2PasswordBearer"]
    assert schemes["OAuth2PasswordBearer"]["flows"]["password"]["tokenUrl"] == "/api/v1/auth/token"
    for bad in ("", "   ", None):
        with pytest.raises(ConfigError):
            set_token_url(bad)  # type: ignore[arg-type]
