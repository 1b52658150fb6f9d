"""Start-up refuses a Redis that may evict keys: an evicted revocation would let a revoked token back in.

Each test starts its own `redis-server` with the settings under test.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import servertools
from fastauth.errors import ConfigError

pytestmark = pytest.mark.redis


@pytest.fixture
def start_redis(redis_server: str) -> Iterator[Callable[..., str]]:
    """`start_redis(*options)` -> URL of a new redis-server, stopped after the test's apps are closed.

    Requested before `make_app` in each test, so it is torn down after it. `redis_server` is only
    there to skip (or fail, in CI) when redis-server is not installed.
    """
    with contextlib.ExitStack() as stack:
        yield lambda *options: stack.enter_context(servertools.redis_server(*options))


async def _works(app: Any) -> None:
    tokens = await app.register()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
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
