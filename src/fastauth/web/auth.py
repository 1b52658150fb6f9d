"""`FastAuth`: the object an application creates, mounts, and takes its dependencies from.

auth = FastAuth(FastAuthConfig())
auth.mount(app)

@app.get("/private")
async def private(user: User = Depends(auth.get_current_user)) -> dict: ...
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.security import OAuth2PasswordBearer

from fastauth.accounts import Accounts, UserCache
from fastauth.config import FastAuthConfig
from fastauth.errors import ConfigError, StoreUnavailable, TokenError
from fastauth.hooks import EventHooks
from fastauth.keys.manager import KeyManager
from fastauth.passwords import PasswordHasher
from fastauth.ratelimits import RateLimits
from fastauth.revocation import MemoryRevocationList, RevocationList
from fastauth.sessions import Sessions
from fastauth.storage.base import SessionStore, User, UserStore
from fastauth.storage.redis import RedisEvents, RedisRevocationList, check_no_eviction
from fastauth.tokens.engine import TokenEngine, VerifiedToken
from fastauth.tokens.keyring import KeyRing
from fastauth.web.transports import SAFE_METHODS, CookieTransport, CsrfTokens, RawToken, bearer_token

__all__ = ["FastAuth", "forbidden", "unauthorized", "unavailable"]

INVALID_TOKEN = "Invalid or expired token"
log = logging.getLogger("fastauth")


def unauthorized(token_given: bool) -> HTTPException:
    """401 with `WWW-Authenticate: Bearer` (RFC 6750 §3); one body for every kind of bad token."""
    if token_given:
        return HTTPException(401, INVALID_TOKEN, headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return HTTPException(401, "Not authenticated", headers={"WWW-Authenticate": "Bearer"})


def forbidden(detail: str = "Not enough permissions") -> HTTPException:
    return HTTPException(403, detail)


def unavailable() -> HTTPException:
    return HTTPException(
        503, "Authentication store unavailable; try again shortly", headers={"Retry-After": "1"}
    )


class FastAuth:
    """Configuration, storage, token engine and sessions wired together, plus the FastAPI parts."""

    def __init__(
        self,
        config: FastAuthConfig | None = None,
        *,
        adapter: Any = None,
        hooks: EventHooks | None = None,
        password_hasher: PasswordHasher | None = None,
        revocation: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config if config is not None else FastAuthConfig()
        cfg = self.config
        self.hooks = hooks if hooks is not None else EventHooks()
        self._owns_adapter = adapter is None
        if adapter is None:
            from fastauth.storage.sqlalchemy import SQLAlchemyAdapter

            pool: dict[str, Any] = {}
            if not cfg.database_url.startswith("sqlite"):
                pool = {"pool_size": cfg.database_pool_size, "max_overflow": cfg.database_max_overflow}
            adapter = SQLAlchemyAdapter(cfg.database_url, **pool)
        self.adapter = adapter
        users: UserStore = adapter
        session_store: SessionStore = adapter
        self.engine = TokenEngine.from_config(cfg, clock=clock)
        #: Shared, rotating keys in the database: for asymmetric algorithms without PEM keys.
        self.keys: KeyManager | None = None
        if self.engine.keyring is None:
            jwt = cfg.jwt
            longest = max(
                jwt.access_token_ttl or jwt.session_max_age, jwt.refresh_token_ttl or jwt.session_max_age
            )
            self.keys = KeyManager(
                adapter,
                secret=cfg.secret.get_secret_value(),
                algorithm=jwt.algorithm,
                token_lifetime=min(longest, jwt.session_max_age) + jwt.leeway,
                rotation_interval=jwt.key_rotation_interval,
                publish_ahead=jwt.jwks_cache_max_age,
                clock=clock,
                on_ring=self._use_ring,
            )
        self.accounts = Accounts(
            users,
            password_hasher if password_hasher is not None else PasswordHasher(),
            self.hooks,
            password_min_length=cfg.password_min_length,
            password_max_length=cfg.password_max_length,
            cache=UserCache(ttl=cfg.user_cache_ttl),
            clock=clock,
        )
        #: Shared state for many processes: revocation, rate limits and cache invalidation in Redis.
        self.redis: Any = None
        self.events: RedisEvents | None = None
        rate_limit_uri = cfg.rate_limit_storage_uri
        if cfg.redis_url:
            from fastauth.storage.redis import redis_client

            self.redis = redis_client(cfg.redis_url)
            if revocation is None:
                revocation = RedisRevocationList(self.redis)
            self.events = RedisEvents(self.redis)
            self.accounts.notify = self.events.publish
            if rate_limit_uri == "memory://":
                rate_limit_uri = cfg.redis_url
        self.sessions = Sessions(
            session_store,
            self.accounts,
            self.engine,
            revocation if revocation is not None else MemoryRevocationList(),
            self.hooks,
            session_max_age=cfg.jwt.session_max_age,
        )
        shared = self.sessions.revocation
        if isinstance(shared, RedisRevocationList) and shared.refill is None:
            # The database is the source of truth: Redis is filled from it whenever it lost the list.
            shared.refill = self.sessions.warm
        self.rate_limits = RateLimits(
            enabled=cfg.rate_limit_enabled,
            storage_uri=rate_limit_uri,
            login_per_account=cfg.login_rate_limit_per_account,
            login_per_ip=cfg.login_rate_limit_per_ip,
            register_per_ip=cfg.register_rate_limit_per_ip,
        )
        self.cookies = CookieTransport(
            secure=cfg.cookie_secure, refresh_path=cfg.route_prefix, domain=cfg.cookie_domain
        )
        self.csrf = CsrfTokens(cfg.secret.get_secret_value())
        #: Access cookies authenticate in cookie mode, and with the per-request opt-in (`cookie_opt_in`).
        self.access_from_cookie = cfg.token_delivery == "cookie" or cfg.cookie_opt_in
        self.sessions.keys = self.keys
        self.sessions.refresh_reuse_grace = cfg.jwt.refresh_reuse_grace
        self._started = False
        self._event_resets = 0
        self._start_lock = asyncio.Lock()
        self._key_task: asyncio.Task[None] | None = None
        # Relative, so Swagger finds the login route behind a proxy's root_path too.
        self._oauth2 = OAuth2PasswordBearer(
            tokenUrl=f"{cfg.route_prefix.lstrip('/')}/login", auto_error=False
        )
        self._make_dependencies()
        from fastauth.web.routes import build_router, build_wellknown_router

        self.router = build_router(self)
        self.wellknown_router = build_wellknown_router(self)

    # lifecycle

    async def startup(self) -> None:
        """Create tables (if configured), warm the revocation list, prune dead sessions. Idempotent."""
        async with self._start_lock:
            if self._started:
                return
            if self.config.auto_create_tables and hasattr(self.adapter, "create_tables"):
                await self.adapter.create_tables()
            if hasattr(self.adapter, "check_schema"):
                await self.adapter.check_schema(keys=self.keys is not None)
            revocation = self.sessions.revocation
            if self.redis is not None:
                try:
                    await check_no_eviction(self.redis)  # ConfigError: refuse to start
                except StoreUnavailable:
                    log.warning(
                        "Redis is unreachable at start-up: its eviction settings are checked when it answers"
                    )
                else:
                    if isinstance(revocation, RedisRevocationList):
                        revocation.eviction_checked = True
            await self.initialize_jwks()
            if isinstance(revocation, RedisRevocationList):
                try:  # shared: filled only when Redis does not hold the list yet (or lost it)
                    await revocation.fill()
                except StoreUnavailable as error:
                    log.warning("revocation list not filled (%s): protected requests get 503", error)
            else:
                await self.sessions.warm()
            await self.sessions.prune()
            if self.events is not None:
                self.events.start(self._on_event)
            self._started = True

    async def _on_event(self, message: str) -> None:
        """Another process changed something this one caches."""
        kind, _, value = message.partition(":")
        if kind == "user":
            self.accounts.cache.invalidate(value)
        elif kind == "keys" and self.keys is not None:
            await self.keys.refresh()
        elif kind == "reset":
            self.accounts.cache.clear()
            self._event_resets += 1
            revocation = self.sessions.revocation
            if self._event_resets > 1 and isinstance(revocation, RedisRevocationList):
                # Reconnected after an outage: a revocation stored meanwhile may have missed Redis.
                revocation.invalidate()
                try:
                    await revocation.fill()
                except StoreUnavailable as error:
                    log.warning("revocation list not refilled (%s); it is retried on the next check", error)
            if self.keys is not None and self._started:
                await self.keys.refresh()

    async def _publish(self, message: str) -> None:
        if self.events is not None:
            await self.events.publish(message)

    async def set_user_active(self, user_id: str, active: bool) -> User | None:
        """Activate or deactivate a user; deactivation ends every session of theirs at once."""
        user = await self.accounts.get_user(user_id, fresh=True)
        if user is None:
            return None
        user.is_active = active
        await self.accounts.save(user)
        if not active:
            await self.sessions.revoke_all(user.id)
        return user

    async def rotate_keys(self, *, immediately: bool = False) -> Any:
        """Publish a new signing key (see `KeyManager.rotate`) and tell the other processes."""
        if self.keys is None:
            raise ConfigError("keys come from the configuration (secret or PEM pair); nothing to rotate")
        record = await self.keys.rotate(immediately=immediately)
        await self._publish("keys")
        return record

    async def retire_key(self, kid: str) -> bool:
        """Emergency retirement; with Redis, every process refuses the key's tokens at once."""
        if self.keys is None:
            raise ConfigError("keys come from the configuration (secret or PEM pair); nothing to retire")
        done = await self.keys.retire(kid)
        await self._publish("keys")
        return done

    def _use_ring(self, ring: KeyRing) -> None:
        self.engine.keyring = ring

    async def initialize_jwks(self) -> None:
        """Load (or, on an empty database, create) the shared signing keys and start their rotation.

        Needed only for asymmetric algorithms without PEM keys; `startup()` calls it, and so does the
        lifespan that `mount()` installs. Idempotent.
        """
        if self.keys is None:
            return
        await self.keys.initialize()
        if self._key_task is None or self._key_task.done():
            self._key_task = asyncio.create_task(self._key_loop(), name="fastauth-key-rotation")

    async def _key_loop(self) -> None:
        """Background rotation: wake when a key changes state or the reload interval passes."""
        assert self.keys is not None
        keys = self.keys
        while True:
            await asyncio.sleep(min(60.0, max(0.2, keys.next_check - keys.clock())))
            try:
                await keys.maybe_refresh()
            except Exception as error:  # a database hiccup must not end rotation for good
                log.warning("key refresh failed: %s", type(error).__name__)

    async def shutdown(self) -> None:
        if self._key_task is not None:
            self._key_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._key_task
            self._key_task = None
        if self.events is not None:
            await self.events.stop()
        if self.redis is not None:
            with contextlib.suppress(Exception):
                await self.redis.aclose()
        if self._owns_adapter and hasattr(self.adapter, "dispose"):
            await self.adapter.dispose()
        self._started = False

    async def ensure_started(self) -> None:
        if not self._started:
            await self.startup()

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    def mount(self, app: FastAPI) -> None:
        """Add the routes (with `ui_enabled`, the sign-in page at `/` too) and run `startup`/`shutdown`
        inside the app's own lifespan."""
        app.include_router(self.router)
        if self.config.jwt.jwks_enabled:
            app.include_router(self.wellknown_router)
        if self.config.ui_enabled:
            from fastauth.ui import build_ui_router

            app.include_router(build_ui_router(self))
        app.state.fastauth = self  # how `fastauth.dependencies` finds this instance
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            async with self.lifespan(a), inner(a) as state:
                yield state

        app.router.lifespan_context = lifespan

    # dependencies

    async def authenticate(self, request: Request) -> VerifiedToken:
        """The verified, unrevoked access token of the request, or the right HTTPException."""
        if not self._started:
            await self.ensure_started()
        raw: RawToken | None = bearer_token(request)
        if raw is None and self.access_from_cookie:
            raw = self.cookies.access(request)
        if raw is None:
            raise unauthorized(False)
        try:
            token = await self.sessions.check_access(raw.value)
        except TokenError:
            raise unauthorized(True) from None
        except StoreUnavailable:
            if not (self.config.redis_fail_open_reads and request.method in SAFE_METHODS):
                raise unavailable() from None
            # Opt-in: reads go on without the revocation check while Redis is down.
            log.warning("revocation store unavailable; serving a read without the revocation check")
            try:
                token = self.engine.verify_access(raw.value)
            except TokenError:
                raise unauthorized(True) from None
        if raw.source == "cookie" and request.method not in SAFE_METHODS:
            self.check_csrf(request, token.sid)
        request.state.fastauth_token = token
        return token

    def check_csrf(self, request: Request, session_id: str) -> None:
        if not self.csrf.check(session_id, request.headers.get("x-csrf-token"), self.cookies.csrf(request)):
            raise forbidden("CSRF token missing or invalid")

    async def load_user(self, token: VerifiedToken) -> User:
        try:
            user = await self.accounts.get_user(token.sub)
        except StoreUnavailable:
            raise unavailable() from None
        if user is None or not user.is_active:
            raise unauthorized(True)
        return user

    def _make_dependencies(self) -> None:
        oauth2 = self._oauth2

        async def get_current_claims(request: Request, _: str | None = Security(oauth2)) -> dict[str, Any]:
            """Verified claims, without a database read: for hot paths."""
            return (await self.authenticate(request)).claims

        async def get_current_user(request: Request, _: str | None = Security(oauth2)) -> User:
            """The active user of a valid, unrevoked access token; 401 otherwise."""
            return await self.load_user(await self.authenticate(request))

        async def get_current_superuser(request: Request, _: str | None = Security(oauth2)) -> User:
            """As `get_current_user`, and 403 unless the user is a superuser."""
            user = await self.load_user(await self.authenticate(request))
            if not user.is_superuser:
                raise forbidden()
            return user

        async def get_optional_user(request: Request, _: str | None = Security(oauth2)) -> User | None:
            """The user, or None for no/bad token: never raises."""
            try:
                return await self.load_user(await self.authenticate(request))
            except HTTPException:
                return None

        self.get_current_claims: Callable[..., Awaitable[dict[str, Any]]] = get_current_claims
        self.get_current_user: Callable[..., Awaitable[User]] = get_current_user
        self.get_current_superuser: Callable[..., Awaitable[User]] = get_current_superuser
        self.get_optional_user: Callable[..., Awaitable[User | None]] = get_optional_user

    def require_roles(self, *roles: str, any_of: bool = False) -> Callable[..., Awaitable[User]]:
        """A dependency: the current user, 403 unless they hold every role (or one, with `any_of`)."""
        wanted: Sequence[str] = roles
        oauth2 = self._oauth2

        async def dependency(request: Request, _: str | None = Security(oauth2)) -> User:
            user = await self.load_user(await self.authenticate(request))
            held = set(user.roles)
            ok = any(r in held for r in wanted) if any_of else all(r in held for r in wanted)
            if not ok and not user.is_superuser:
                raise forbidden()
            return user

        return dependency
