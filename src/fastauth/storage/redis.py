"""Redis: what several processes or machines must share.

- `RedisRevocationList`: revoked session ids, each key expiring when the last token it guards would
  (SET ... EXAT), so the list prunes itself. One round trip per check (MGET of the session's key and
  a "filled" marker); a Redis failure is `StoreUnavailable` (the HTTP layer answers 503: fail closed).
  The database stays the source of truth: when the marker is gone (Redis restarted without
  persistence, failed over, was flushed) or a write to Redis failed, the list is filled again from
  the database's recent revocations before it answers, so a revoked token never comes back to life.
- `RedisEvents`: pub/sub so every process drops a changed user from its cache and reloads the keys
  after an emergency retirement at once. Pub/sub is lossy across reconnects, so a reconnect drops the
  whole user cache, and `user_cache_ttl` bounds anything missed.

Install with `pip install fastauth[redis]`; configure with `FASTAUTH_REDIS_URL=redis://host:6379/0`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastauth.errors import ConfigError, StoreUnavailable

__all__ = ["RedisEvents", "RedisRevocationList", "check_no_eviction", "client_options", "redis_client"]

log = logging.getLogger("fastauth.redis")


#: Seconds of silence after which the pub/sub listener PINGs; no answer within as long again and it
#: reconnects (a connection can die without a word, e.g. when the Redis machine restarts).
LISTENER_PING_INTERVAL = 5.0


def client_options() -> dict[str, Any]:
    """The connection settings of every Redis client fastauth makes (its own, and the rate limits'
    through `limits`): see `redis_client`."""
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    # No `health_check_interval`: its PING would carry retries of its own inside the command's, and
    # double the time to refuse while Redis hangs; the retry alone replaces a dead connection.
    return {
        "socket_timeout": 2.0,
        "socket_connect_timeout": 1.0,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [RedisConnectionError, RedisTimeoutError],
    }


def redis_client(url: str) -> Any:
    """An asyncio redis-py client that retries a dead connection once and gives up quickly.

    A command that meets a connection error or a timeout is sent once more, at once, on a fresh
    connection (every command fastauth sends can safely be repeated), so a pooled connection that
    died with a restarted Redis costs no failed request. While Redis is down a refusal is immediate;
    an unresponsive one is given at most two tries of 1 s to connect and 2 s to answer.
    """
    try:
        from redis.asyncio import Redis
    except ImportError as error:  # pragma: no cover - depends on the install
        raise ConfigError("FASTAUTH_REDIS_URL needs redis-py: pip install 'fastauth[redis]'") from error
    return Redis.from_url(url, **client_options())


async def check_no_eviction(client: Any) -> None:
    """Raise `ConfigError` for a Redis that may evict keys: an evicted revocation lets a revoked token in.

    Eviction happens only with a `maxmemory` limit and a policy other than `noeviction`. When the
    settings cannot be read (`CONFIG` disabled or not permitted, as on many managed services, or an
    answer without them) this warns and returns. An unreachable Redis raises `StoreUnavailable`.
    """
    from redis.exceptions import ResponseError

    try:
        settings = await client.config_get("maxmemory*")
    except ResponseError:  # unknown (renamed) command, or NOPERM for an ACL user
        settings = {}
    except _errors() as error:
        raise StoreUnavailable(f"redis unavailable: {type(error).__name__}") from error
    values = {_text(name): _text(value) for name, value in settings.items()}
    policy, limit = values.get("maxmemory-policy"), values.get("maxmemory")
    if policy is None or limit is None:
        log.warning(
            "could not read the Redis eviction settings (CONFIG is disabled or not permitted): make sure "
            "the server runs with maxmemory-policy noeviction, or revoked sessions may come back under "
            "memory pressure"
        )
        return
    if limit != "0" and policy != "noeviction":
        raise ConfigError(
            f"Redis may evict keys (maxmemory {limit} bytes, maxmemory-policy {policy}); an evicted "
            "revocation would let a logged-out session back in. Set `maxmemory-policy noeviction` on "
            "that server (or remove the maxmemory limit), or give fastauth a Redis of its own."
        )


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _errors() -> tuple[type[BaseException], ...]:
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    return (RedisConnectionError, RedisTimeoutError, OSError, asyncio.TimeoutError)


class RedisRevocationList:
    """`RevocationList` shared by every process through Redis."""

    def __init__(
        self,
        client: Any,
        prefix: str = "fastauth:",
        refill: Callable[[], Awaitable[Iterable[tuple[str, int]] | None]] | None = None,
    ) -> None:
        self.client = client
        self.prefix = prefix
        #: The database's recent revocations as (session id, until), written into this list whenever
        #: Redis lost it (the service passes one built on its store).
        self.refill = refill
        self._filled_key = f"{prefix}revocations-filled"
        #: True when Redis may miss a revocation the database has (a write to Redis failed).
        self._stale = False
        self._lock = asyncio.Lock()
        self._errors = _errors()
        #: Whether `check_no_eviction` has passed for this Redis. Start-up runs it; when Redis was
        #: unreachable then, the first operation that reaches Redis runs it (see `_safe`).
        self.eviction_checked = False
        self._eviction_logged = float("-inf")

    async def _safe(self) -> None:
        """Refuse to use a Redis that may evict revocations: every answer is 503 until it is fixed."""
        try:
            await check_no_eviction(self.client)
        except ConfigError as error:
            now = time.monotonic()
            if now - self._eviction_logged > 60:  # say why at most once a minute, not per request
                self._eviction_logged = now
                log.error("revocation list refused: %s", error)
            raise StoreUnavailable("redis may evict revocations") from None
        self.eviction_checked = True

    def _key(self, session_id: str) -> str:
        return f"{self.prefix}revoked:{session_id}"

    def invalidate(self) -> None:
        """Redis may have missed revocations (e.g. after an outage): fill again before the next answer.

        It may also be another server now (a failover): check its eviction settings again too.
        """
        self._stale = True
        self.eviction_checked = False

    async def revoke(self, session_ids: Iterable[str], until: int) -> None:
        """Refuse these sessions' tokens until `until`, in every process (keys expire then)."""
        ids = list(session_ids)
        if not ids:
            return
        if not self.eviction_checked:
            await self._safe()
        try:
            async with self.client.pipeline(transaction=False) as pipe:
                for sid in ids:
                    pipe.set(self._key(sid), b"1", exat=until)
                await pipe.execute()
        except self._errors as error:
            self._stale = True  # the database has the revocation; Redis may not
            # Tell the other processes too: without the marker, their next check refills from the DB.
            with contextlib.suppress(Exception):  # best effort: Redis is failing right now
                await self.client.delete(self._filled_key)
            raise StoreUnavailable(f"redis unavailable: {type(error).__name__}") from error

    async def is_revoked(self, session_id: str, now: int) -> bool:
        """Whether the session is revoked: one round trip; refilled from the database first when needed."""
        if not self.eviction_checked:
            await self._safe()
        key = self._key(session_id)
        try:
            if not self._stale:
                revoked, filled = await self.client.mget(key, self._filled_key)
                if revoked is not None or filled is not None:
                    return revoked is not None
            # Redis lost the list (restart, failover, flush) or missed a write: fill it, then answer.
            await self._fill()
            return bool(await self.client.exists(key))
        except self._errors as error:
            raise StoreUnavailable(f"redis unavailable: {type(error).__name__}") from error

    async def fill(self) -> None:
        """Fill the list from the database unless Redis already holds it complete (start-up)."""
        if not self.eviction_checked:
            await self._safe()
        try:
            await self._fill()
        except self._errors as error:
            raise StoreUnavailable(f"redis unavailable: {type(error).__name__}") from error

    async def _fill(self) -> None:
        async with self._lock:
            if not self._stale and await self.client.exists(self._filled_key):
                return  # complete, or another request has just filled it
            self._stale = False
            try:
                if self.refill is not None:
                    for sid, until in await self.refill() or ():
                        await self.revoke([sid], until)
                await self.client.set(self._filled_key, b"1")
            except BaseException:
                self._stale = True
                raise
            log.info("revocation list filled from the database")


class RedisEvents:
    """Cross-process invalidation over one pub/sub channel: `user:<id>`, `keys`, `reset`."""

    def __init__(self, client: Any, channel: str = "fastauth:events") -> None:
        self.client = client
        self.channel = channel
        self._task: asyncio.Task[None] | None = None
        self._errors = _errors()

    async def publish(self, message: str) -> None:
        """Tell every process that something it caches changed."""
        try:
            await self.client.publish(self.channel, message)
        except self._errors as error:
            # The change itself is stored; other processes catch up through their cache TTL.
            log.warning("could not publish %s: %s", message.split(":")[0], type(error).__name__)

    def start(self, handler: Callable[[str], Awaitable[None]]) -> None:
        """Listen in the background, calling `handler` for each message (and `reset` on reconnects)."""
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._listen(handler), name="fastauth-redis-events")

    async def _listen(self, handler: Callable[[str], Awaitable[None]]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            pubsub = self.client.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                heard = pinged = loop.time()
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    now = loop.time()
                    if message is None:
                        if now - heard > 2 * LISTENER_PING_INTERVAL:
                            raise TimeoutError("no answer to PING")
                        if now - max(heard, pinged) > LISTENER_PING_INTERVAL:
                            pinged = now
                            await pubsub.ping()  # a dead connection raises (or, mute, stays unheard)
                        continue
                    heard = now
                    data = message.get("data")
                    if message.get("type") == "subscribe":
                        # Subscribed, first or again after redis-py reconnected: anything published
                        # while we were away is lost, so start clean.
                        await handler("reset")
                    elif message.get("type") == "message" and isinstance(data, bytes):
                        await handler(data.decode("utf-8", "replace"))
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("redis events interrupted (%s); reconnecting", type(error).__name__)
                await asyncio.sleep(1.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()

    async def stop(self) -> None:
        """Stop listening."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
