"""`POST /auth/token`, the RFC 6749 token endpoint: §5.1 successes, §5.2 errors for every hostile request,
the same rate limits, hooks and reuse detection as `/auth/login` and `/auth/refresh`, and authlib's
`OAuth2Client` against it."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError

from fastauth import EventHooks
from support.forge import decode
from support.http import bearer
from support.servers import RedisServer, missing

PASSWORD = "correct horse"
EMAIL = "alice@example.com"
NO_STORE = {"cache-control": "no-store", "pragma": "no-cache"}


def _error(error: str, description: str) -> dict[str, str]:
    return {"error": error, "error_description": description}


def _assert_answer(r: httpx.Response, status: int, body: dict[str, Any]) -> None:
    assert (r.status_code, r.json()) == (status, body)
    assert r.headers["cache-control"] == "no-store"
    assert "www-authenticate" not in r.headers  # a grant refusal is no Bearer challenge


async def _token(a: Any, **form: str) -> httpx.Response:
    return await a.client.post("/auth/token", data=form)


# --- hostile requests: each its own case, with the exact answer ----------------------------------

GRANT = {"grant_type": "password", "username": EMAIL, "password": PASSWORD}

HOSTILE: dict[str, tuple[dict[str, Any], int, dict[str, str]]] = {
    "missing grant_type": (
        {"data": {"username": EMAIL, "password": PASSWORD}},
        400, _error("invalid_request", "grant_type is missing"),
    ),
    "empty grant_type": (
        {"data": {**GRANT, "grant_type": ""}}, 400, _error("invalid_request", "grant_type is missing"),
    ),
    "unknown grant_type": (
        {"data": {**GRANT, "grant_type": "client_credentials"}},
        400, _error("unsupported_grant_type", "Supported: password, refresh_token"),
    ),
    "authorization_code, which needs an authorization endpoint": (
        {"data": {"grant_type": "authorization_code", "code": "x", "redirect_uri": "https://a.example/cb"}},
        400, _error("unsupported_grant_type", "Supported: password, refresh_token"),
    ),
    "grant_type in another case": (
        {"data": {**GRANT, "grant_type": "PASSWORD"}},
        400, _error("unsupported_grant_type", "Supported: password, refresh_token"),
    ),
    "JSON body instead of the form": (
        {"json": GRANT},
        400, _error("invalid_request", "The body must be application/x-www-form-urlencoded (RFC 6749 §4.3.2)"),
    ),
    "multipart body": (
        {"data": GRANT, "files": {"x": ("x.txt", b"x")}},
        400, _error("invalid_request", "The body must be application/x-www-form-urlencoded (RFC 6749 §4.3.2)"),
    ),
    "parameters in the query string, no body": (
        {"params": GRANT},
        400, _error("invalid_request", "The body must be application/x-www-form-urlencoded (RFC 6749 §4.3.2)"),
    ),
    "grant_type repeated": (
        {"content": "grant_type=password&grant_type=refresh_token&username=a%40b.example&password=x",
         "headers": {"content-type": "application/x-www-form-urlencoded"}},
        400, _error("invalid_request", "Parameter 'grant_type' is repeated (RFC 6749 §3.2)"),
    ),
    "password repeated": (
        {"content": f"grant_type=password&username={EMAIL}&password=wrong&password={PASSWORD}",
         "headers": {"content-type": "application/x-www-form-urlencoded"}},
        400, _error("invalid_request", "Parameter 'password' is repeated (RFC 6749 §3.2)"),
    ),
    "password missing": (
        {"data": {"grant_type": "password", "username": EMAIL}},
        400, _error("invalid_request", "Missing parameter: password"),
    ),
    "password empty (counts as omitted)": (
        {"data": {**GRANT, "password": ""}}, 400, _error("invalid_request", "Missing parameter: password"),
    ),
    "username and password missing": (
        {"data": {"grant_type": "password"}},
        400, _error("invalid_request", "Missing parameter: username, password"),
    ),
    "refresh_token missing": (
        {"data": {"grant_type": "refresh_token"}},
        400, _error("invalid_request", "Missing parameter: refresh_token"),
    ),
    "wrong password": (
        {"data": {**GRANT, "password": "wrong horse"}},
        400, _error("invalid_grant", "Invalid email or password"),
    ),
    "unknown user": (
        {"data": {**GRANT, "username": "nobody@example.com"}},
        400, _error("invalid_grant", "Invalid email or password"),
    ),
    "another client_id": (
        {"data": {**GRANT, "client_id": "someone-else"}}, 401, _error("invalid_client", "Unknown client_id"),
    ),
    "refresh_token that is no token": (
        {"data": {"grant_type": "refresh_token", "refresh_token": "not-a-token"}},
        400, _error("invalid_grant", "Invalid or expired token"),
    ),
    "body over the size cap": (
        {"data": {**GRANT, "scope": "x" * 17_000}}, 413, _error("invalid_request", "Request body too large"),
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(HOSTILE))
async def test_hostile_requests_get_rfc6749_errors(make_app: Any, case: str) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    request, status, body = HOSTILE[case]
    r = await a.client.post("/auth/token", **request)
    _assert_answer(r, status, body)
    assert "access_token" not in r.text


async def test_an_access_token_is_no_refresh_token(make_app: Any) -> None:
    a = await make_app()
    pair = await a.register(EMAIL, PASSWORD)
    r = await _token(a, grant_type="refresh_token", refresh_token=pair["access_token"])
    _assert_answer(r, 400, _error("invalid_grant", "Invalid or expired token"))


async def test_a_refresh_token_is_no_access_token(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    pair = (await _token(a, **GRANT)).json()
    r = await a.client.get("/private", headers=bearer(pair["refresh_token"]))
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid or expired token", "code": "invalid_token"})


# --- successes -----------------------------------------------------------------------------------


async def test_password_grant_answers_rfc6749_5_1(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    r = await _token(a, **GRANT, client_id="fastauth", scope="ignored")
    assert r.status_code == 200
    assert {name: r.headers[name] for name in NO_STORE} == NO_STORE
    body = r.json()
    assert sorted(body) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert (body["token_type"], body["expires_in"]) == ("Bearer", 900)
    header, claims = decode(body["access_token"])
    assert header["typ"] == "at+jwt" and claims["client_id"] == "fastauth"
    assert (await a.client.get("/private", headers=bearer(body["access_token"]))).json()["email"] == EMAIL


async def test_client_id_is_the_configured_one(make_app: Any) -> None:
    a = await make_app(jwt={"client_id": "my-spa"})
    await a.register(EMAIL, PASSWORD)
    r = await _token(a, **GRANT, client_id="my-spa")
    assert decode(r.json()["access_token"])[1]["client_id"] == "my-spa"
    r = await _token(a, **GRANT, client_id="fastauth")
    _assert_answer(r, 401, _error("invalid_client", "Unknown client_id"))


async def test_refresh_grant_rotates_and_reuse_revokes_the_session(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    first = (await _token(a, **GRANT)).json()
    r = await _token(a, grant_type="refresh_token", refresh_token=first["refresh_token"])
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    second = r.json()
    assert sorted(second) == ["access_token", "expires_in", "refresh_token", "token_type"]
    assert second["refresh_token"] != first["refresh_token"]
    assert (await a.client.get("/private", headers=bearer(second["access_token"]))).status_code == 200

    reused = await _token(a, grant_type="refresh_token", refresh_token=first["refresh_token"])
    _assert_answer(reused, 400, _error("invalid_grant", "Invalid or expired token"))
    # Reuse revoked the whole session: the new refresh token and the new access token are dead too.
    after = await _token(a, grant_type="refresh_token", refresh_token=second["refresh_token"])
    _assert_answer(after, 400, _error("invalid_grant", "Invalid or expired token"))
    r = await a.client.get("/private", headers=bearer(second["access_token"]))
    assert (r.status_code, r.json()) == (401, {"detail": "Invalid or expired token", "code": "invalid_token"})


async def test_tokens_of_the_token_endpoint_refresh_at_auth_refresh_and_back(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    pair = (await _token(a, **GRANT)).json()
    r = await a.client.post("/auth/refresh", json={"refresh_token": pair["refresh_token"]})
    assert r.status_code == 200
    r = await _token(a, grant_type="refresh_token", refresh_token=r.json()["refresh_token"])
    assert r.status_code == 200


async def test_a_refused_sign_in_is_invalid_grant(make_app: Any) -> None:
    class Gate(EventHooks):
        async def allow_signin(self, user: Any) -> bool:
            return user.email != "gated@example.com"

    a = await make_app(hooks=Gate())
    await a.client.post("/auth/register", json={"email": "gated@example.com", "password": PASSWORD})
    r = await _token(a, grant_type="password", username="gated@example.com", password=PASSWORD)
    _assert_answer(r, 400, _error("invalid_grant", "Sign-in not allowed"))


async def test_a_failing_hook_is_server_error(make_app: Any) -> None:
    class Broken(EventHooks):
        async def on_signin(self, user: Any, **kwargs: Any) -> None:
            raise RuntimeError("application bug")

    a = await make_app(hooks=Broken())
    await a.client.post("/auth/register", json={"email": "other@example.com", "password": PASSWORD})
    r = await _token(a, grant_type="password", username="other@example.com", password=PASSWORD)
    _assert_answer(r, 500, _error("server_error", "Internal error in an authentication hook"))


# --- rate limits and outages ---------------------------------------------------------------------


async def test_rate_limits_are_the_logins_and_answer_429(make_app: Any) -> None:
    a = await make_app(rate_limit_enabled=True, login_rate_limit_per_account="2/minute")
    await a.register(EMAIL, PASSWORD)
    # One budget per account across /auth/login and /auth/token.
    assert (await a.client.post("/auth/login", json={"email": EMAIL, "password": "wrong"})).status_code == 401
    _assert_answer(
        await _token(a, **{**GRANT, "password": "wrong"}),
        400,
        _error("invalid_grant", "Invalid email or password"),
    )
    r = await _token(a, **GRANT)  # the right password, but the budget is spent
    _assert_answer(r, 429, _error("slow_down", "Too many attempts; try again later"))
    assert 0 < int(r.headers["retry-after"]) <= 60
    assert (
        await a.client.post("/auth/login", json={"email": EMAIL, "password": PASSWORD})
    ).status_code == 429


async def test_a_store_outage_is_503_temporarily_unavailable(make_app: Any) -> None:
    try:
        redis = RedisServer()
    except FileNotFoundError as error:
        missing(str(error))
    try:
        a = await make_app(redis_url=redis.url, rate_limit_enabled=True)
        await a.register(EMAIL, PASSWORD)
        assert (await _token(a, **GRANT)).status_code == 200
        redis.kill()
        r = await _token(a, **GRANT)
        _assert_answer(
            r, 503, _error("temporarily_unavailable", "Authentication store unavailable; try again shortly")
        )
        assert r.headers["retry-after"] == "1"
    finally:
        redis.close()


# --- the OpenAPI document and Swagger's Authorize ------------------------------------------------


async def test_swagger_authorize_posts_to_the_token_endpoint(make_app: Any) -> None:
    a = await make_app()
    schema = (await a.client.get("/openapi.json")).json()
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows == {"password": {"scopes": {}, "tokenUrl": "auth/token"}}
    operation = schema["paths"]["/auth/token"]["post"]
    form = operation["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form["required"] == ["grant_type"]
    assert form["properties"]["grant_type"]["enum"] == ["password", "refresh_token"]
    assert sorted(operation["responses"]) == ["200", "400", "401", "413", "429", "500", "503"]


async def test_swagger_shows_the_reason_for_a_refusal(make_app: Any) -> None:
    """Swagger UI's password flow posts this form (grant_type, username, password, an empty scope) and shows
    `error` and `error_description` of a refusal; a 401 with `{"detail"}` showed only "Unauthorized"."""
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    r = await a.client.post(
        "/auth/token",
        content=f"grant_type=password&username={EMAIL}&password=wrong&scope=",
        headers={"content-type": "application/x-www-form-urlencoded", "authorization": "Basic Og=="},
    )
    _assert_answer(r, 400, _error("invalid_grant", "Invalid email or password"))


# --- authlib's OAuth2Client ----------------------------------------------------------------------


def _oauth_client(a: Any) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id="fastauth",
        token_endpoint_auth_method="none",
        transport=httpx.ASGITransport(app=a.app),
        base_url="http://testserver",
    )


async def test_authlib_password_and_refresh_grants(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    async with _oauth_client(a) as client:
        token = await client.fetch_token("http://testserver/auth/token", username=EMAIL, password=PASSWORD)
        assert token["token_type"] == "Bearer" and token["expires_in"] == 900
        assert (await client.get("/private")).json()["email"] == EMAIL  # authlib sends the Bearer header
        refreshed = await client.refresh_token("http://testserver/auth/token")
        assert refreshed["refresh_token"] != token["refresh_token"]
        assert (await client.get("/private")).status_code == 200
        # The spent refresh token is refused: authlib raises instead of storing an error as a token.
        with pytest.raises(OAuthError) as raised:
            await client.refresh_token("http://testserver/auth/token", refresh_token=token["refresh_token"])
        assert raised.value.error == "invalid_grant"


async def test_authlib_raises_on_a_wrong_password(make_app: Any) -> None:
    a = await make_app()
    await a.register(EMAIL, PASSWORD)
    async with _oauth_client(a) as client:
        with pytest.raises(OAuthError) as raised:
            await client.fetch_token("http://testserver/auth/token", username=EMAIL, password="wrong horse")
        assert (raised.value.error, raised.value.description) == (
            "invalid_grant",
            "Invalid email or password",
        )
        assert client.token is None
