"""The dependencies: get_current_user, get_current_claims, get_current_superuser, get_optional_user,
require_roles; how the Authorization header is read and every bad token answered."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from fastauth.errors import StoreUnavailable
from support.clock import Clock
from support.forge import alg_none, claims, resign, tampered
from support.http import INVALID_TOKEN_BODY, assert_invalid_token, assert_not_authenticated, bearer, set_user

PROTECTED = ["/private", "/claims", "/admin", "/editor", "/auth/me", "/auth/sessions"]


async def test_missing_token_is_401_with_plain_challenge(make_app: Any) -> None:
    a = await make_app()
    for path in PROTECTED:
        assert_not_authenticated(await a.client.get(path))
    assert_not_authenticated(await a.client.post("/private"))
    assert_not_authenticated(await a.client.post("/auth/change-password", json={}))
    assert_not_authenticated(await a.client.delete("/auth/sessions"))


def _bad_tokens(access: str, refresh: str, foreign: str) -> dict[str, str]:
    header, payload, _ = access.split(".")
    return {
        "garbage": "garbage",
        "three dots of nothing": "a.b.c",
        "empty segments": "..",
        "long junk": "x" * 8000,
        "tampered sub": tampered(access, sub="somebody-else"),
        "tampered exp": tampered(access, exp=claims(access)["exp"] + 3600),
        "signature cut off": f"{header}.{payload}.",
        "signature of another token": f"{header}.{payload}.{refresh.split('.')[2]}",
        "refresh token as access token": refresh,
        "signed by another secret": resign(access, "another-secret-" + "y" * 40),
        "issued by another app": foreign,
        "alg none": alg_none(access),
        "alg none without kid": alg_none(access, keep_kid=False),
        "alg None": alg_none(access, alg="None"),
    }


async def _foreign_token(make_app: Any) -> str:
    other = await make_app(secret="other-app-secret-" + "z" * 40)
    return str((await other.register("mallory@example.com"))["access_token"])


async def test_every_bad_token_gets_the_same_401(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    foreign = await _foreign_token(make_app)
    bad = _bad_tokens(tokens["access_token"], tokens["refresh_token"], foreign)
    for kind, token in bad.items():
        for path in ("/private", "/claims", "/admin", "/editor"):
            r = await a.client.get(path, headers=bearer(token))
            assert r.status_code == 401, (kind, path, r.status_code, r.text)
            assert_invalid_token(r)
        post = await a.client.post("/private", headers=bearer(token))
        assert_invalid_token(post)
    # the genuine token still works: the refusals were about the tokens
    assert (await a.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_expired_token_is_refused_like_any_other(make_app: Any, clock: Clock) -> None:
    a = await make_app(clock=clock)
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    clock.advance(900 + 5 - 1)  # within the 5 s leeway
    assert (await a.client.get("/private", headers=h)).status_code == 200
    clock.advance(1)
    for path in ("/private", "/claims", "/admin", "/editor"):
        assert_invalid_token(await a.client.get(path, headers=h))
    opt = await a.client.get("/optional", headers=h)
    assert opt.status_code == 200 and opt.json() == {"user": None}


async def test_token_of_deleted_session_user_is_refused(make_app: Any) -> None:
    """A token whose user is now inactive: 401 invalid_token from the user-loading dependencies."""
    a = await make_app()
    tokens = await a.register("alice@example.com")
    await set_user(a.auth, "alice@example.com", is_active=False)
    for path in ("/private", "/admin", "/editor", "/auth/me"):
        assert_invalid_token(await a.client.get(path, headers=bearer(tokens["access_token"])))


async def test_token_in_the_url_is_ignored(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    for param in ("token", "access_token", "jwt", "authorization"):
        for path in ("/private", "/claims"):
            r = await a.client.get(path, params={param: tokens["access_token"]})
            assert_not_authenticated(r)
        r = await a.client.get("/optional", params={param: tokens["access_token"]})
        assert r.json() == {"user": None}
    r = await a.client.post("/auth/refresh", params={"refresh_token": tokens["refresh_token"]})
    assert_not_authenticated(r)


async def test_lower_case_scheme_is_accepted(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    for scheme in ("bearer", "BEARER", "BeArEr"):
        r = await a.client.get("/private", headers={"Authorization": f"{scheme} {tokens['access_token']}"})
        assert r.status_code == 200, scheme
        assert r.json()["email"] == "alice@example.com"


async def test_malformed_bearer_headers_are_invalid_token(make_app: Any) -> None:
    a = await make_app()
    token = (await a.register("alice@example.com"))["access_token"]
    malformed: list[Any] = [
        {"Authorization": f"Bearer  {token}"},  # two spaces
        {"Authorization": f"Bearer\t{token}"},  # tab
        {"Authorization": "Bearer"},  # scheme alone
        {"Authorization": "Bearer "},  # scheme and a space
        {"Authorization": f"Bearer {token},{token}"},  # comma
        {"Authorization": f"Bearer {token},"},
        {"Authorization": f'Bearer "{token}"'},  # quoted
        {"Authorization": f"Bearer {token} extra"},  # a second word
        [("Authorization", f"Bearer {token}"), ("Authorization", f"Bearer {token}")],  # two headers
        [("Authorization", f"Bearer {token}"), ("Authorization", "Basic dXNlcjpwYXNz")],
    ]
    for headers in malformed:
        for path in ("/private", "/claims"):
            r = await a.client.get(path, headers=headers)
            assert r.status_code == 401, (headers, r.text)
            assert_invalid_token(r)
        opt = await a.client.get("/optional", headers=headers)
        assert opt.json() == {"user": None}


async def test_other_schemes_are_not_ours(make_app: Any) -> None:
    a = await make_app()
    token = (await a.register("alice@example.com"))["access_token"]
    for value in ("Basic dXNlcjpwYXNz", f"Token {token}", f"JWT {token}", token):
        r = await a.client.get("/private", headers={"Authorization": value})
        assert_not_authenticated(r)


async def test_never_422_or_500_for_odd_headers(make_app: Any) -> None:
    a = await make_app()
    await a.register("alice@example.com")
    odd = [
        {"Authorization": ""},
        {"Authorization": "Bearer é".encode()},  # non-ASCII bytes
        {"Authorization": b"Bearer \xff\xfe.\x00.x"},
        {"Authorization": "Bearer " + "a" * 20000},
        {"Authorization": "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."},
        {"Authorization": "Bearer e30.e30.e30"},  # {} . {} . {}
        {"Authorization": "Bearer W10.W10.W10"},  # [] . [] . []
        {"Authorization": "Bearer bnVsbA.bnVsbA.bnVsbA"},  # null . null . null
    ]
    for headers in odd:
        r = await a.client.get("/private", headers=headers)
        assert r.status_code == 401, (headers, r.status_code, r.text)
        assert r.json() in ({"detail": "Not authenticated", "code": "not_authenticated"}, INVALID_TOKEN_BODY)


async def test_superuser_route(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    r = await a.client.get("/admin", headers=h)
    assert r.status_code == 403
    assert r.json() == {"detail": "Not enough permissions", "code": "permission_denied"}
    assert "www-authenticate" not in r.headers
    user = await set_user(a.auth, "alice@example.com", is_superuser=True)
    r = await a.client.get("/admin", headers=h)  # the same token: the flag is read from the user
    assert r.status_code == 200 and r.json() == {"id": user.id}
    me = await a.client.get("/auth/me", headers=h)
    assert me.json()["is_superuser"] is True
    await set_user(a.auth, "alice@example.com", is_superuser=False)
    assert (await a.client.get("/admin", headers=h)).status_code == 403


async def test_optional_user(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    user_id = claims(tokens["access_token"])["sub"]
    none = await a.client.get("/optional")
    assert none.status_code == 200 and none.json() == {"user": None}
    for headers in (bearer("garbage"), bearer(tokens["refresh_token"]), {"Authorization": "Basic eDp5"}):
        r = await a.client.get("/optional", headers=headers)
        assert r.status_code == 200 and r.json() == {"user": None}
    good = await a.client.get("/optional", headers=bearer(tokens["access_token"]))
    assert good.status_code == 200 and good.json() == {"user": user_id}
    # revoked and inactive fall back to None as well
    await set_user(a.auth, "alice@example.com", is_active=False)
    r = await a.client.get("/optional", headers=bearer(tokens["access_token"]))
    assert r.json() == {"user": None}
    await set_user(a.auth, "alice@example.com", is_active=True)
    assert (await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    r = await a.client.get("/optional", headers=bearer(tokens["access_token"]))
    assert r.json() == {"user": None}


async def test_optional_user_on_a_broken_store_is_none_not_500(make_app: Any, monkeypatch: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")

    async def down(user_id: str) -> None:
        raise StoreUnavailable("database down")

    monkeypatch.setattr(a.auth.accounts.store, "get_user", down)
    r = await a.client.get("/optional", headers=bearer(tokens["access_token"]))
    assert r.status_code == 200 and r.json() == {"user": None}
    r = await a.client.get("/private", headers=bearer(tokens["access_token"]))
    assert r.status_code == 503 and r.headers["retry-after"] == "1"


async def test_require_roles(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    r = await a.client.get("/editor", headers=h)
    assert r.status_code == 403 and r.json() == {
        "detail": "Not enough permissions",
        "code": "permission_denied",
    }
    await set_user(a.auth, "alice@example.com", roles=("viewer",))
    assert (await a.client.get("/editor", headers=h)).status_code == 403
    user = await set_user(a.auth, "alice@example.com", roles=("viewer", "editor"))
    r = await a.client.get("/editor", headers=h)
    assert r.status_code == 200 and r.json() == {"id": user.id}
    assert (await a.client.get("/auth/me", headers=h)).json()["roles"] == ["viewer", "editor"]
    await set_user(a.auth, "alice@example.com", roles=())
    assert (await a.client.get("/editor", headers=h)).status_code == 403


async def test_claims_without_database_and_user_cache_invalidation(make_app: Any, monkeypatch: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    user_id = claims(tokens["access_token"])["sub"]
    assert (await a.client.get("/private", headers=h)).status_code == 200  # loads (and caches) the user
    store = a.auth.accounts.store
    reads: list[str] = []

    async def broken_get_user(uid: str) -> None:
        reads.append(uid)
        raise StoreUnavailable("database down")

    with monkeypatch.context() as m:
        m.setattr(store, "get_user", broken_get_user)
        r = await a.client.get("/claims", headers=h)
        assert r.status_code == 200
        body = r.json()
        assert body["sub"] == user_id and body["type"] == "access"
        assert body["sid"] == claims(tokens["access_token"])["sid"]
        r = await a.client.get("/private", headers=h)  # from the cache
        assert r.status_code == 200 and r.json() == {"id": user_id, "email": "alice@example.com"}
        assert reads == []
        # the store really is down: once the cache entry goes, the user route fails closed
        a.auth.accounts.cache.invalidate(user_id)
        r = await a.client.get("/private", headers=h)
        assert r.status_code == 503
        assert reads == [user_id]
        assert (await a.client.get("/claims", headers=h)).status_code == 200
    # store back: cache again, then a change through accounts.save is seen at once
    assert (await a.client.get("/private", headers=h)).status_code == 200
    await set_user(a.auth, "alice@example.com", is_active=False)
    assert_invalid_token(await a.client.get("/private", headers=h))
    await set_user(a.auth, "alice@example.com", is_active=True)
    assert (await a.client.get("/private", headers=h)).status_code == 200


async def test_cached_user_sees_email_change_at_once(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    h = bearer(tokens["access_token"])
    assert (await a.client.get("/private", headers=h)).json()["email"] == "alice@example.com"
    await set_user(a.auth, "alice@example.com", email="alice@new.example.com")
    assert (await a.client.get("/private", headers=h)).json()["email"] == "alice@new.example.com"


def _no_exception_leak(response: httpx.Response, secret: str) -> None:
    assert "Traceback" not in response.text
    assert secret not in response.text


async def test_error_bodies_leak_nothing(make_app: Any) -> None:
    a = await make_app()
    tokens = await a.register("alice@example.com")
    secret = a.auth.config.secret.get_secret_value()
    checks: list[Callable[[], Any]] = [
        lambda: a.client.get("/private", headers=bearer(tampered(tokens["access_token"], sub="x"))),
        lambda: a.client.get("/private", headers=bearer(tokens["refresh_token"])),
        lambda: a.client.post("/auth/refresh", json={"refresh_token": tokens["access_token"]}),
    ]
    for check in checks:
        r = await check()
        assert r.status_code == 401
        _no_exception_leak(r, secret)
        assert "sub" not in r.text and "type" not in r.text
