"""Redis loses the revocation list (restart without persistence, failover, flush): the database refills it."""

from __future__ import annotations

from typing import Any

import pytest

from support.http import bearer

pytestmark = pytest.mark.redis


async def test_a_flushed_redis_is_refilled_before_it_answers(make_app: Any, redis_url: str) -> None:
    a = await make_app(redis_url=redis_url)
    b = await make_app(redis_url=redis_url)
    tokens = await a.register()
    other = (
        await a.client.post("/auth/login", json={"email": "alice@example.com", "password": "correct horse"})
    ).json()
    assert (await a.client.post("/auth/logout", headers=bearer(tokens["access_token"]))).status_code == 204

    from redis.asyncio import Redis

    client = Redis.from_url(redis_url)
    try:
        await client.flushall()  # what a restart without persistence leaves behind
        assert (await b.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 401
        assert await client.exists("fastauth:revocations-filled") == 1
        assert (await a.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 401
    finally:
        await client.aclose()
    assert (await b.client.get("/private", headers=bearer(other["access_token"]))).status_code == 200


async def test_a_revocation_that_missed_redis_is_written_before_the_next_answer(
    make_app: Any, redis_url: str
) -> None:
    a = await make_app(redis_url=redis_url)
    tokens = await a.register()
    sid = a.auth.engine.verify_access(tokens["access_token"]).sid
    revocation = a.auth.sessions.revocation
    real_client = revocation.client

    class Down:
        def pipeline(self, **_: Any) -> Any:
            raise ConnectionError("redis is away")

    revocation.client = Down()
    try:
        from fastauth.errors import StoreUnavailable

        with pytest.raises(StoreUnavailable):
            await a.auth.sessions.revoke(sid)  # stored in the database, not in Redis
    finally:
        revocation.client = real_client
    # Redis is back and still holds its "filled" marker, but this process knows it missed a write.
    assert (await a.client.get("/private", headers=bearer(tokens["access_token"]))).status_code == 401
