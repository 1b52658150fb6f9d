"""`FastAuth`: the FastAPI face of an `AuthService`: routes, lifespan, dependencies, the error table.

    auth = FastAuth(FastAuthConfig())          # or FastAuth(AuthService.from_config(config, ...))
    auth.mount(app)

    @app.get("/private")
    async def private(user: User = Depends(auth.get_current_user)) -> dict: ...

It translates HTTP to service calls and the service's errors to answers (`fastauth.web.errors`); every
security decision is the service's or the core's.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.requests import Request

from fastauth.authz import Principal, looks_like_api_key
from fastauth.config import FastAuthConfig
from fastauth.errors import FastAuthError, NotAuthenticated
from fastauth.hooks import EventHooks
from fastauth.passwords import PasswordHasher
from fastauth.revocation import RevocationList
from fastauth.service import AuthService
from fastauth.storage.base import Store, User
from fastauth.tokens.engine import VerifiedToken
from fastauth.web import errors, security, transports
from fastauth.web.csrf import CsrfTokens, sign_in_origins
from fastauth.web.routing import PrefixRouter, include_guarded
from fastauth.web.transports import SAFE_METHODS, CookieJar, Transports

__all__ = ["FastAuth"]


class FastAuth:
    """An `AuthService` mounted on FastAPI: `mount(app)`, the dependencies, and the service's parts."""

    def __init__(
        self,
        config: FastAuthConfig | AuthService | None = None,
        *,
        adapter: Store | None = None,
        hooks: EventHooks | None = None,
        password_hasher: PasswordHasher | None = None,
        revocation: RevocationList | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if isinstance(config, AuthService):
            if any(part is not None for part in (adapter, hooks, password_hasher, revocation)):
                raise TypeError("FastAuth(service) takes no other arguments: give them to AuthService")
            self.service = config
        else:
            self.service = AuthService.from_config(
                config,
                store=adapter,
                hooks=hooks,
                password_hasher=password_hasher,
                revocation=revocation,
                clock=clock,
            )
        cfg = self.config = self.service.config
        self.cookies = CookieJar(
            secure=cfg.cookie_secure, refresh_path=cfg.route_prefix, domain=cfg.cookie_domain
        )
        self.csrf = CsrfTokens(cfg.secret.get_secret_value())
        self._api_keys_on = cfg.authz.api_keys_enabled
        self._api_key_header = cfg.authz.api_key_header
        #: Pages of other origins that may sign in with cookies (`refuse_cross_site`): the configured
        #: public URL, passkey origins, provider return addresses and `cookie_sign_in_origins`.
        self.sign_in_origins = sign_in_origins(
            [
                *([cfg.public_url] if cfg.public_url else []),
                *cfg.passkeys.origins,
                *cfg.oauth_redirect_allowlist,
                *cfg.cookie_sign_in_origins,
            ]
        )
        self.transports = Transports(
            delivery=cfg.token_delivery, cookie_opt_in=cfg.cookie_opt_in, jar=self.cookies, csrf=self.csrf
        )
        from fastauth.web.routers.token_endpoint import TOKEN_PATH

        # The RFC 6749 token endpoint; relative, so Swagger finds it behind a proxy's root_path too.
        model = security.password_scheme(f"{cfg.route_prefix.lstrip('/')}{TOKEN_PATH}")

        def dependency(resolve: Callable[[FastAuth, Request], Awaitable[Any]]) -> security.AuthDependency:
            return security.AuthDependency(
                resolve, model=model, find=lambda _: self, name=resolve.__name__, doc=resolve.__doc__ or ""
            )

        self._dependency = dependency
        #: `Depends(auth.get_current_claims)`: the verified claims, without a database read.
        self.get_current_claims = dependency(security.claims)
        #: `Depends(auth.get_current_user)`: the active user of a valid, unrevoked access token.
        self.get_current_user = dependency(security.current_user)
        #: `Depends(auth.get_current_verified_user)`: as `get_current_user`, 403 unless verified.
        self.get_current_verified_user = dependency(security.current_verified_user)
        #: `Depends(auth.get_current_superuser)`: as `get_current_user`, 403 unless a superuser.
        self.get_current_superuser = dependency(security.current_superuser)
        #: `Depends(auth.get_optional_user)`: the user, or None (never an error answer).
        self.get_optional_user = dependency(security.optional_user)
        #: `Depends(auth.get_current_principal)`: who the request acts for, a person (access token) or
        #: a machine (API key), with its roles and permissions, without a database read for a token.
        self.get_current_principal = dependency(security.principal)
        #: fastauth's own account routes: a person signed in with an access token; an API key is
        #: refused there (it must never change a password, an email, the factors or other keys).
        self.signed_in_user = dependency(security.signed_in_user)
        self.signed_in_verified_user = dependency(security.signed_in_verified_user)
        from fastauth.web.routers import build_auth_router

        #: The routes under `route_prefix` (`app.include_router(auth.router)` works without `mount`).
        self.router = build_auth_router(self)

    # the service's parts, for applications and tests that reach into them

    @property
    def accounts(self) -> Any:
        """The service's `Accounts`."""
        return self.service.accounts

    @property
    def sessions(self) -> Any:
        """The service's `Sessions`."""
        return self.service.sessions

    @property
    def engine(self) -> Any:
        """The service's `TokenEngine`."""
        return self.service.engine

    @property
    def keys(self) -> Any:
        """The shared key manager, or None when keys come from the configuration."""
        return self.service.keys

    @property
    def adapter(self) -> Store:
        """The store (the name fastauth 0.1 used)."""
        return self.service.store

    @property
    def hooks(self) -> EventHooks:
        """The application's `EventHooks`."""
        return self.service.events.hooks

    @property
    def rate_limits(self) -> Any:
        """The service's `RateLimits`."""
        return self.service.rate_limits

    # lifecycle

    async def startup(self) -> None:
        """`AuthService.startup`."""
        await self.service.startup()

    async def ensure_started(self) -> None:
        """`AuthService.ensure_started`."""
        await self.service.ensure_started()

    async def shutdown(self) -> None:
        """`AuthService.aclose`."""
        await self.service.aclose()

    async def initialize_jwks(self) -> None:
        """`AuthService.initialize_keys`."""
        await self.service.initialize_keys()

    async def set_user_active(self, user_id: str, active: bool) -> User | None:
        """`AuthService.set_user_active`."""
        return await self.service.set_user_active(user_id, active)

    async def rotate_keys(self, *, immediately: bool = False) -> Any:
        """`AuthService.rotate_keys`."""
        return await self.service.rotate_keys(immediately=immediately)

    async def retire_key(self, kid: str) -> bool:
        """`AuthService.retire_key`."""
        return await self.service.retire_key(kid)

    @asynccontextmanager
    async def lifespan(self, app: Any = None) -> AsyncIterator[None]:
        """Start the service, and close it at the end."""
        await self.startup()
        try:
            yield
        finally:
            await self.shutdown()

    def mount(self, app: FastAPI) -> None:
        """Add the routes (with `ui_enabled`, the sign-in page at `/` too), the error table, and run
        `startup`/`shutdown` inside the app's own lifespan.

        All of fastauth's routes sit behind one path-prefix check, so the application's own routes
        declared after `mount()` pay next to nothing for them.
        """
        cfg = self.config
        prefixes = [cfg.route_prefix + "/"]
        exact: list[str] = []
        group = PrefixRouter(prefixes=(), route_class=errors.AnsweringRoute)
        group.include_router(self.router)
        if cfg.jwt.jwks_enabled:
            from fastauth.web.routers.wellknown import WELL_KNOWN, build_wellknown_router

            group.include_router(build_wellknown_router(self))
            prefixes.append(WELL_KNOWN)
        if cfg.ui_enabled:
            from fastauth.ui import STATIC_PREFIX, build_ui_router

            group.include_router(build_ui_router(self))
            prefixes.append(STATIC_PREFIX + "/")
            exact.append("/")
        group.prefixes, group.exact = tuple(prefixes), frozenset(exact)
        include_guarded(app.router, group)
        app.add_exception_handler(FastAuthError, errors.handle)
        app.add_exception_handler(errors.ErrorAnswer, errors.handle_answer)
        app.state.fastauth = self  # how `fastauth.dependencies` finds this instance
        inner = app.router.lifespan_context

        @asynccontextmanager
        async def lifespan(a: Any) -> AsyncIterator[Any]:
            async with self.lifespan(a), inner(a) as state:
                yield state

        app.router.lifespan_context = lifespan

    # what the routes and the dependencies share

    async def authenticate(self, request: Request) -> VerifiedToken:
        """The request's verified, unrevoked access token (CSRF checked for an unsafe cookie request).

        Raises the core's errors: `NotAuthenticated`, `TokenError`, `CsrfFailed`, `StoreUnavailable`.
        """
        service = self.service
        if not service.started:
            await service.ensure_started()
        raw = self.transports.access_reader.read_access(request)
        if raw is None:
            raise NotAuthenticated("no token")
        safe = request.method in SAFE_METHODS
        token = await service.authenticate(raw.value, read_only=safe)
        if raw.source == "cookie" and not safe:
            self.csrf.require(request, token.sid, self.cookies.csrf(request))
        request.state.fastauth_token = token
        return token

    def require_recent_auth(
        self, max_age: int = 300, amr: Sequence[str] | None = None
    ) -> security.AuthDependency:
        """A dependency: the verified claims when the user signed in at most `max_age` seconds ago (and,
        with `amr`, with one of those methods, e.g. `["otp"]`); else 401 asking for a fresh sign-in
        (RFC 9470 step-up)."""
        return self._dependency(security.recent_auth_check(max_age, amr))

    def users_router(self) -> Any:
        """fastapi-users' `get_users_router` paths (`GET/PATCH /me`, `GET/PATCH/DELETE /{id}`), for
        `app.include_router(auth.users_router(), prefix="/users")` (docs/migrate/fastapi-users.md)."""
        from fastauth.web.routers import users

        return users.build(self)

    def api_key_of(self, request: Request) -> str | None:
        """The API key the request presents (`Authorization: Bearer fa_...`, or, without a bearer
        token, the configured `authz.api_key_header`), or None: then it presents a token or nothing.
        Only the prefix is looked at here (a byte compare on the raw header: this runs on every
        request of a token too); the key is checked by the service."""
        if not self._api_keys_on:
            return None
        for name, value in request.scope["headers"]:
            if name == b"authorization":
                if value[:7].lower() == b"bearer ":
                    if value[7:10] != b"fa_":
                        return None  # a token (or a malformed header, refused as one)
                    bearer = transports.bearer_token(request)
                    return bearer.value if bearer is not None and looks_like_api_key(bearer.value) else None
                break  # another scheme: not ours to judge, as for tokens
        if self._api_key_header is not None:
            return request.headers.get(self._api_key_header)
        return None

    async def authenticate_principal(self, request: Request) -> Principal:
        """Who the request acts for: an API key (`Authorization: Bearer fa_...`, or the configured
        `authz.api_key_header`) or a verified, unrevoked access token (as `authenticate`). Cached on
        the request, so several dependencies of one route check it once."""
        cached = getattr(request.state, "fastauth_principal", None)
        if isinstance(cached, Principal):
            return cached
        key = self.api_key_of(request)
        if key is not None:
            service = self.service
            if not service.started:
                await service.ensure_started()
            principal, owner = await service.authenticate_api_key(key)
            request.state.fastauth_key_owner = owner
        else:
            principal = await self.service.principal_of_token(await self.authenticate(request))
        request.state.fastauth_principal = principal
        return principal

    def require_permissions(self, *permissions: str, any_of: bool = False) -> security.AuthDependency:
        """A dependency: the `Principal`, 403 unless it holds every permission (or one, `any_of`),
        from the token's `scope` or the key's scopes: no database read (superusers pass too with
        `authz.superuser_bypass`)."""
        return self._dependency(security.permissions_check(permissions, any_of))

    def require_scope(self, *scopes: str) -> security.AuthDependency:
        """A dependency: the `Principal`, 403 with `WWW-Authenticate: Bearer error="insufficient_scope"`
        (RFC 6750 §3.1) unless the token or key holds every scope; no superuser bypass."""
        return self._dependency(security.scope_check(scopes))

    def require_roles(
        self, *roles: str, any_of: bool = False, fresh: bool = False
    ) -> security.AuthDependency:
        """A dependency: 403 unless the caller holds every role (or one, `any_of`). From the token's
        `roles` claim (no database read; a change reaches the token at its next refresh), giving the
        `Principal`; with `fresh=True` from the user as stored now (instant effect), giving the `User`."""
        if fresh:
            return self._dependency(security.roles_check(roles, any_of))
        return self._dependency(security.claimed_roles_check(roles, any_of))
