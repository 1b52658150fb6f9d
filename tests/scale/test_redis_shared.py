"""Two FastAuth instances (as two processes would be) sharing one database and one Redis."""

from __future__ import annotations

from typing import Any

import pytest

from support.http import bearer

pytestmark = pytest.mark.redis


async def _pair(make_app: Any, redis_url: str, **overrides: Any) -> tuple[Any, Any]:
    a = await make_app(redis_url=redis_url, **overrides)
    b = await make_app(redis_url=redis_url, **overrides)
    return a, b


async def test_logout_on_one_is_refused_by_the_other_at_once(make_app: Any, redis_url: str) -> None:
    a, b = await _pair(make_app, redis_url)
    tokens = await a.register()
    assert (await b.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204
    refused = await b.client.get("/private", headers=bearer(tokens["access_token"]))
    assert refused.status_code == 401
    assert (await b.client.get("/claims", headers=bearer(tokens["access_token"]))).status_code == 401


async def test_user_change_on_one_reaches_the_others_cache(make_app: Any, redis_url: str) -> None:
    import asyncio

    a, b = await _pair(make_app, redis_url)
    tokens = await a.register()
    assert (await b.client.get("/admin", headers=bearer(tokens["access_token"]))).status_code == 403  # cached
    user = await a.auth.accounts.get_user(
        (await a.client.get("/private", headers=bearer(tokens["access_token"]))).json()["id"]
    )
    user.is_superuser = True
    await a.auth.accounts.save(user)
    for _ in range(50):  # pub/sub delivery is asynchronous but prompt
        if (await b.client.get("/admin", headers=bearer(tokens["access_token"]))).status_code == 200:
            break
        await asyncio.sleep(0.02)
    assert (await b.client.get("/admin", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_deactivation_ends_every_session_everywhere(make_app: Any, redis_url: str) -> None:
    a, b = await _pair(make_app, redis_url)
    tokens = await a.register()
    user_id = (await a.client.get("/private", headers=bearer(tokens["access_token"]))).json()["id"]
    await a.auth.set_user_active(user_id, False)
    assert (await b.client.get("/claims", headers=bearer(tokens["access_token"]))).status_code == 401
    assert (
        await b.client.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    ).status_code == 401


async def test_rate_limits_count_across_instances(make_app: Any, redis_url: str) -> None:
    a, b = await _pair(make_app, redis_url, rate_limit_enabled=True, login_rate_limit_per_account="3/minute")
    await a.register()
    codes = []
    for app in (a, b, a, b):
        r = await app.client.post(
            "/auth/login", json={"email": "alice@example.com", "password": "wrong password"}
        )
        codes.append(r.status_code)
    assert codes == [401, 401, 401, 429]


async def test_redis_down_fails_closed_with_503(make_app: Any, redis_url: str) -> None:
    a = await make_app(redis_url="redis://127.0.0.1:1/0")  # nothing listens there
    # Registration needs no revocation check; a protected request does, and must not pass.
    tokens = await a.register()
    r = await a.client.get("/private", headers=bearer(tokens["access_token"]))
    assert r.status_code == 503
    assert r.json() == {
        "detail": "Authentication store unavailable; try again shortly",
        "code": "store_unavailable",
    }


async def test_fail_open_reads_is_an_opt_in_for_safe_methods_only(make_app: Any, redis_url: str) -> None:
    a = await make_app(redis_url="redis://127.0.0.1:1/0", redis_fail_open_reads=True)
    tokens = await a.register()
    assert (await a.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 200
    assert (await a.client.post("/private", headers=bearer(tokens["access_token"]))).status_code == 503
