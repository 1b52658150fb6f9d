"""POST /register and POST /login: the token pair, the password policy, email rules, generic failures."""

from __future__ import annotations

import re
from typing import Any

from fastauth.passwords import Argon2Params, PasswordHasher
from support.forge import claims
from support.http import BAD_LOGIN_BODY, PASSWORD, bearer, login, set_user

CUID2 = re.compile(r"^[a-z][a-z0-9]{24}$")
PAIR_KEYS = {"access_token", "refresh_token", "token_type", "expires_in"}
USER_KEYS = {"id", "email", "is_active", "is_verified", "is_superuser", "roles", "created_at", "has_password"}


async def _register(a: Any, email: str, password: str = PASSWORD) -> Any:
    return await a.client.post("/auth/register", json={"email": email, "password": password})


# register


async def test_register_returns_a_working_token_pair(make_app: Any) -> None:
    a = await make_app()
    r = await _register(a, "alice@example.com")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) == PAIR_KEYS
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    assert claims(body["access_token"])["type"] == "access"
    assert claims(body["refresh_token"])["type"] == "refresh"
    me = await a.client.get("/auth/me", headers=bearer(body["access_token"]))
    assert me.status_code == 200
    assert me.json()["email"] == "alice@example.com"
    again = await a.client.post("/auth/refresh", json={"refresh_token": body["refresh_token"]})
    assert again.status_code == 200


async def test_register_refuses_invalid_email(make_app: Any) -> None:
    a = await make_app()
    for email in [
        "not-an-email",
        "alice@",
        "@example.com",
        "alice@example",
        "alice smith@example.com",
        "",
        "a@b@c.com",
        "alice@exa\u00admple.com",
    ]:
        r = await _register(a, email)
        assert r.status_code == 422, email
        assert r.json()["detail"].startswith("Invalid email address: "), email
        assert "access_token" not in r.text


async def test_register_refuses_missing_fields(make_app: Any) -> None:
    a = await make_app()
    for body in [
        {},
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        [1, 2],
        {"email": 1, "password": 2},
    ]:
        r = await a.client.post("/auth/register", json=body)
        assert r.status_code == 422, body
        assert r.json()["detail"].startswith(("Missing or invalid fields", "Request body must be")), body
    assert await a.auth.accounts.store.get_user_by_email("alice@example.com") is None


async def test_register_password_length_policy(make_app: Any) -> None:
    a = await make_app()
    short = await _register(a, "short@example.com", "seven77")
    assert short.status_code == 422
    assert short.json() == {
        "detail": "password must be at least 8 characters long",
        "code": "password_policy",
    }
    long = await _register(a, "long@example.com", "x" * 1025)
    assert long.status_code == 422
    assert long.json() == {
        "detail": "password must be at most 1024 characters long",
        "code": "password_policy",
    }
    # neither attempt left an account behind
    assert await a.auth.accounts.store.get_user_by_email("short@example.com") is None
    assert await a.auth.accounts.store.get_user_by_email("long@example.com") is None
    # the limits themselves are allowed
    assert (await _register(a, "eight@example.com", "eight888")).status_code == 201
    assert (await _register(a, "max@example.com", "y" * 1024)).status_code == 201
    await login(a.client, "max@example.com", "y" * 1024)


async def test_register_minimum_length_is_configurable(make_app: Any) -> None:
    a = await make_app(password_min_length=12)
    r = await _register(a, "alice@example.com", "elevenchars")
    assert r.status_code == 422
    assert r.json() == {"detail": "password must be at least 12 characters long", "code": "password_policy"}
    assert (await _register(a, "alice@example.com", "twelve chars")).status_code == 201


async def test_register_accepts_any_unicode_password_exactly_as_typed(make_app: Any) -> None:
    a = await make_app()
    passwords = [
        "pässwörd 密码 🔑",  # any Unicode
        "🔑" * 8,  # 8 code points
        " " * 8,  # spaces only: no composition rules
        "  spaces around  ",  # kept as typed, never stripped
        "åäö" * 100,
    ]
    for n, password in enumerate(passwords):
        email = f"user{n}@example.com"
        assert (await _register(a, email, password)).status_code == 201, repr(password)
        await login(a.client, email, password)
        for variant in {password.strip(), password + " ", password[:-1]} - {password}:
            r = await a.client.post("/auth/login", json={"email": email, "password": variant})
            assert r.status_code == 401, repr(variant)


async def test_register_taken_email_is_409_whatever_the_spelling(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    for spelling in ["alice@example.com", "ALICE@Example.COM", "  alice@example.com  ", "Alice@EXAMPLE.com"]:
        r = await _register(a, spelling, "another password")
        assert r.status_code == 409, spelling
        assert r.json() == {"detail": "This email is already registered", "code": "email_taken"}
    # the original account is untouched
    await login(a.client, "alice@example.com")
    bad = await a.client.post(
        "/auth/login", json={"email": "alice@example.com", "password": "another password"}
    )
    assert bad.status_code == 401


async def test_stored_email_is_normalised(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("  Bob.Smith@EXAMPLE.com ")
    me = (await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))).json()
    assert me["email"] == "bob.smith@example.com"
    stored = await a.auth.accounts.store.get_user_by_email("bob.smith@example.com")
    assert stored is not None and stored.email == "bob.smith@example.com"
    await login(a.client, "BOB.SMITH@example.COM")


async def test_user_record_id_and_no_hash_anywhere(make_app: Any) -> None:
    a = await make_app()
    texts: list[str] = []
    reg = await _register(a, "alice@example.com")
    texts.append(reg.text)
    tokens = await login(a.client, "alice@example.com")
    me = await a.client.get("/auth/me", headers=bearer(tokens["access_token"]))
    texts.append(me.text)
    assert me.status_code == 200
    user = me.json()
    assert set(user) == USER_KEYS
    assert CUID2.match(user["id"]), user["id"]
    assert user["is_active"] is True and user["is_verified"] is False and user["is_superuser"] is False
    assert user["roles"] == [] and user["has_password"] is True
    assert claims(tokens["access_token"])["sub"] == user["id"]
    sessions = await a.client.get("/auth/sessions", headers=bearer(tokens["access_token"]))
    refreshed = await a.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    texts += [sessions.text, refreshed.text, str(claims(tokens["access_token"]))]
    stored = await a.auth.accounts.store.get_user(user["id"])
    assert stored.hashed_password.startswith("$argon2id$")
    for text in texts:
        assert "$argon2" not in text
        assert "hashed_password" not in text
        assert stored.hashed_password not in text


async def test_two_registrations_get_distinct_ids(make_app: Any) -> None:
    a = await make_app()
    one = claims((await a.register("one@example.com"))["access_token"])["sub"]
    two = claims((await a.register("two@example.com"))["access_token"])["sub"]
    assert one != two
    assert CUID2.match(one) and CUID2.match(two)


# login


async def test_login_with_json(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    r = await a.client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert set(body) == PAIR_KEYS
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    assert r.headers["cache-control"] == "no-store"
    assert (await a.client.get("/private", headers=bearer(body["access_token"]))).status_code == 200


async def test_login_with_oauth2_password_form(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    swagger_form = {
        "grant_type": "password",
        "username": "alice@example.com",
        "password": PASSWORD,
        "scope": "",
    }
    r = await a.client.post("/auth/login", data=swagger_form)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == PAIR_KEYS
    assert r.headers["cache-control"] == "no-store"
    assert (await a.client.get("/private", headers=bearer(body["access_token"]))).status_code == 200
    wrong = await a.client.post(
        "/auth/login", data={"username": "alice@example.com", "password": "nope nope"}
    )
    assert wrong.status_code == 401
    assert wrong.json() == BAD_LOGIN_BODY


async def test_login_failures_are_indistinguishable(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    await a.register("inactive@example.com")
    await set_user(a.auth, "inactive@example.com", is_active=False)
    attempts = {
        "wrong password": ("alice@example.com", "wrong password"),
        "unknown email": ("nobody@example.com", PASSWORD),
        "inactive user": ("inactive@example.com", PASSWORD),
        "not an email": ("not-an-email", PASSWORD),
        "too long password": ("alice@example.com", "z" * 5000),
    }
    seen = {}
    for kind, (email, password) in attempts.items():
        r = await a.client.post("/auth/login", json={"email": email, "password": password})
        seen[kind] = (
            r.status_code,
            r.json(),
            r.headers.get_list("www-authenticate"),
            "set-cookie" in r.headers,
        )
    assert len(seen) == len(attempts)
    for kind, answer in seen.items():
        assert answer == (401, BAD_LOGIN_BODY, ["Bearer"], False), kind


async def test_every_failed_login_costs_one_full_hash_check(make_app: Any, monkeypatch: Any) -> None:
    """Unknown users are checked against a dummy hash, so every refusal takes about as long."""
    a = await make_app()
    await a.register("alice@example.com")
    await a.register("inactive@example.com")
    await set_user(a.auth, "inactive@example.com", is_active=False)
    hasher = a.auth.accounts.hasher
    calls: list[bool] = []
    original = hasher.verify

    async def counting(password: str, hashed: str | None) -> Any:
        calls.append(hashed is None)
        return await original(password, hashed)

    monkeypatch.setattr(hasher, "verify", counting)
    for email, password, dummy in [
        ("alice@example.com", "wrong password", False),
        ("inactive@example.com", PASSWORD, False),
        ("nobody@example.com", PASSWORD, True),
        ("not-an-email", PASSWORD, True),
    ]:
        calls.clear()
        r = await a.client.post("/auth/login", json={"email": email, "password": password})
        assert r.status_code == 401
        assert calls == [dummy], email


async def test_login_rehashes_when_hasher_parameters_change(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    store = a.auth.accounts.store
    old = (await store.get_user_by_email("alice@example.com")).hashed_password
    assert "m=1024,t=1,p=1" in old
    a.auth.accounts.hasher = PasswordHasher(Argon2Params(time_cost=2, memory_cost=2048, parallelism=1))
    # a failed login never rewrites the hash
    r = await a.client.post("/auth/login", json={"email": "alice@example.com", "password": "wrong pass"})
    assert r.status_code == 401
    assert (await store.get_user_by_email("alice@example.com")).hashed_password == old
    await login(a.client, "alice@example.com")
    new = (await store.get_user_by_email("alice@example.com")).hashed_password
    assert new != old
    assert "m=2048,t=2,p=1" in new
    # the new hash verifies, and needs no further re-hash
    await login(a.client, "alice@example.com")
    assert (await store.get_user_by_email("alice@example.com")).hashed_password == new


async def test_every_login_starts_a_new_session(make_app: Any) -> None:
    a = await make_app()
    first = await a.register("alice@example.com")
    second = await login(a.client, "alice@example.com")
    third = await login(a.client, "alice@example.com")
    sids = [claims(t["access_token"])["sid"] for t in (first, second, third)]
    assert len(set(sids)) == 3
    for t in (first, second, third):
        assert claims(t["refresh_token"])["sid"] == claims(t["access_token"])["sid"]
    listed = await a.client.get("/auth/sessions", headers=bearer(third["access_token"]))
    assert sorted(s["id"] for s in listed.json()) == sorted(sids)
    # all three work independently
    for t in (first, second, third):
        assert (await a.client.get("/private", headers=bearer(t["access_token"]))).status_code == 200


async def test_login_missing_fields_and_bad_bodies_are_422(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    for body in [
        {},
        {"email": "alice@example.com"},
        {"password": PASSWORD},
        {"username": "alice@example.com"},
    ]:
        r = await a.client.post("/auth/login", json=body)
        assert r.status_code == 422, body
        assert "access_token" not in r.text
    r = await a.client.post("/auth/login", content=b"{not json", headers={"content-type": "application/json"})
    assert r.status_code == 422
    assert r.json() == {"detail": "Request body is not valid JSON", "code": "invalid_body"}


async def test_route_prefix_can_be_changed(make_app: Any) -> None:
    a = await make_app(route_prefix="/api/v1/auth")
    tokens = await a.register("alice@example.com")
    assert (
        await a.client.post("/auth/login", json={"email": "alice@example.com", "password": PASSWORD})
    ).status_code == 404
    fresh = await login(a.client, "alice@example.com", prefix="/api/v1/auth")
    me = await a.client.get("/api/v1/auth/me", headers=bearer(fresh["access_token"]))
    assert me.status_code == 200 and me.json()["email"] == "alice@example.com"
    r = await a.client.post("/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert r.status_code == 200
    sessions = await a.client.get("/api/v1/auth/sessions", headers=bearer(fresh["access_token"]))
    assert len(sessions.json()) == 2
    out = await a.client.post("/api/v1/auth/logout", headers=bearer(fresh["access_token"]))
    assert out.status_code == 204
    assert (await a.client.get("/private", headers=bearer(fresh["access_token"]))).status_code == 401
    # the OAuth2 scheme in the OpenAPI document points at the moved token endpoint
    schema = (await a.client.get("/openapi.json")).json()
    flows = schema["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]
    assert flows["password"]["tokenUrl"] == "api/v1/auth/token"  # relative: works behind a root_path too
