"""Start-up refuses a Redis that may evict keys: an evicted revocation would let a revoked token back in.

Each test starts its own `redis-server` with the settings under test.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from fastauth.errors import ConfigError
from support import servers
from support.http import bearer

pytestmark = pytest.mark.redis


@pytest.fixture
def start_redis(redis_server: str) -> Iterator[Callable[..., str]]:
    """`start_redis(*options)` -> URL of a new redis-server, stopped after the test's apps are closed.

    Requested before `make_app` in each test, so it is torn down after it. `redis_server` is only
    there to skip (or fail, in CI) when redis-server is not installed.
    """
    with contextlib.ExitStack() as stack:
        yield lambda *options: stack.enter_context(servers.redis_server(*options))


async def _works(app: Any) -> None:
    tokens = await app.register()
    headers = bearer(tokens["access_token"])
    assert (await app.client.get("/private", headers=headers)).status_code == 200


@pytest.mark.parametrize("policy", ["allkeys-lru", "volatile-ttl", "volatile-lru", "allkeys-random"])
async def test_a_memory_limit_with_eviction_is_refused_at_start(
    policy: str, start_redis: Callable[..., str], make_app: Any
) -> None:
    url = start_redis("--maxmemory", "64mb", "--maxmemory-policy", policy)
    with pytest.raises(ConfigError) as info:
        await make_app(redis_url=url)
    message = str(info.value)
    assert f"maxmemory-policy {policy}" in message
    assert "Set `maxmemory-policy noeviction`" in message


async def test_noeviction_with_a_memory_limit_starts(start_redis: Callable[..., str], make_app: Any) -> None:
    await _works(
        await make_app(redis_url=start_redis("--maxmemory", "64mb", "--maxmemory-policy", "noeviction"))
    )


async def test_an_eviction_policy_without_a_memory_limit_starts(
    start_redis: Callable[..., str], make_app: Any
) -> None:
    # Without maxmemory Redis never evicts, whatever the policy says.
    await _works(
        await make_app(redis_url=start_redis("--maxmemory", "0", "--maxmemory-policy", "allkeys-lru"))
    )


async def test_config_disabled_starts_with_a_warning(
    start_redis: Callable[..., str], make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # Managed Redis services often rename or disable CONFIG: nothing to check, so say so and go on.
    url = start_redis("--rename-command", "CONFIG", "")
    with caplog.at_level(logging.WARNING, logger="fastauth.redis"):
        app = await make_app(redis_url=url)
    assert "maxmemory-policy noeviction" in caplog.text
    await _works(app)


async def test_an_acl_user_without_config_starts_with_a_warning(
    start_redis: Callable[..., str], make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # CONFIG refused by ACL (NOPERM), as on managed services: the settings cannot be read, so say so.
    url = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    from redis.asyncio import Redis

    admin = Redis.from_url(url)
    try:
        await admin.execute_command(
            "ACL", "SETUSER", "app", "on", ">app-password", "~*", "&*", "+@all", "-config"
        )
    finally:
        await admin.aclose()
    limited = url.replace("redis://", "redis://app:app-password@")
    with caplog.at_level(logging.WARNING, logger="fastauth.redis"):
        app = await make_app(redis_url=limited)
    assert "could not read the Redis eviction settings" in caplog.text
    assert "app-password" not in caplog.text
    await _works(app)


async def test_redis_unreachable_at_start_is_checked_when_it_answers(
    start_redis: Callable[..., str], make_app: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis down while fastauth starts (start order in compose or Kubernetes), then up with an evicting
    policy: the check runs on first contact, and the revocation list refuses to work (503, fail closed)."""
    server = servers.RedisServer("--maxmemory", "64mb", "--maxmemory-policy", "allkeys-lru")
    try:
        server.kill()
        with caplog.at_level(logging.WARNING):
            app = await make_app(redis_url=server.url)
        assert "Redis is unreachable at start-up" in caplog.text
        server.start()  # back on the same port, with the same (evicting) settings
        register = await app.client.post(
            "/auth/register", json={"email": "a@example.com", "password": "correct horse"}
        )
        assert register.status_code == 201  # decided by the database; no revocation is written yet
        headers = bearer(register.json()["access_token"])
        for _ in range(3):
            refused = await app.client.get("/private", headers=headers)
            assert refused.status_code == 503
        logout = await app.client.post("/auth/logout", headers=headers)
        assert logout.status_code == 503
        refusals = [r.getMessage() for r in caplog.records if "revocation list refused" in r.getMessage()]
        assert len(refusals) == 1, refusals  # said once, not per request
        assert "maxmemory-policy allkeys-lru" in refusals[0]
        await app.client.aclose()
        await app.auth.shutdown()
    finally:
        server.close()


async def test_redis_unreachable_at_start_then_safe_works(
    start_redis: Callable[..., str], make_app: Any
) -> None:
    server = servers.RedisServer("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    try:
        server.kill()
        app = await make_app(redis_url=server.url)
        server.start()
        await _works(app)
        await app.client.aclose()
        await app.auth.shutdown()
    finally:
        server.close()


async def test_after_a_reconnect_the_settings_are_checked_again(
    start_redis: Callable[..., str], make_app: Any
) -> None:
    """A reconnect may reach another server (a failover): its eviction settings are checked again."""
    from redis.asyncio import Redis

    url = start_redis("--maxmemory", "64mb", "--maxmemory-policy", "noeviction")
    app = await make_app(redis_url=url)
    tokens = await app.register()
    headers = bearer(tokens["access_token"])
    assert (await app.client.get("/private", headers=headers)).status_code == 200
    admin = Redis.from_url(url)
    try:
        await admin.config_set("maxmemory-policy", "allkeys-lru")
        await admin.execute_command("CLIENT", "KILL", "TYPE", "pubsub")  # the event listener reconnects
    finally:
        await admin.aclose()
    statuses = []
    for _ in range(50):
        statuses.append((await app.client.get("/private", headers=headers)).status_code)
        if statuses[-1] == 503:
            break
        await asyncio.sleep(0.1)
    assert statuses[-1] == 503, statuses
    assert set(statuses) <= {200, 503}
