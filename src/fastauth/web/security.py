"""The dependencies `FastAuth` hands out: each one is itself the OpenAPI security scheme.

A dependency that *is* an `OAuth2PasswordBearer` shows Swagger's Authorize button and the route's
security requirement, and FastAPI solves one dependency per request instead of two nested ones (the
scheme, then the check). The token is read and verified by fastauth, never by the scheme's own code.
Errors are answered from the one table (`fastauth.web.errors`), as `HTTPException`s so they answer
the same on an application where `mount()` did not install the handler.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from fastapi.openapi.models import OAuth2 as OAuth2Model
from fastapi.openapi.models import SecurityBase as SecurityBaseModel
from fastapi.security import OAuth2PasswordBearer
from starlette.requests import Request

from fastauth.authz import Principal
from fastauth.errors import (
    EmailNotVerified,
    FastAuthError,
    InsufficientScope,
    PermissionDenied,
    RecentSignInRequired,
)
from fastauth.storage.base import User
from fastauth.web.errors import as_http

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = [
    "SCHEME_NAME",
    "AuthDependency",
    "claimed_roles_check",
    "claims",
    "current_superuser",
    "current_user",
    "current_verified_user",
    "optional_user",
    "password_scheme",
    "permissions_check",
    "principal",
    "recent_auth_check",
    "require_recent",
    "roles_check",
    "scope_check",
    "signed_in_user",
    "signed_in_verified_user",
]

#: One scheme name for every fastauth dependency, so the docs show one Authorize button.
SCHEME_NAME = "OAuth2PasswordBearer"


def password_scheme(token_url: str) -> OAuth2Model:
    """The OpenAPI model of the password flow posting to `token_url`."""
    return OAuth2PasswordBearer(tokenUrl=token_url, scheme_name=SCHEME_NAME, auto_error=False).model  # type: ignore[return-value]


class AuthDependency(OAuth2PasswordBearer):
    """`Depends(...)`-able: finds the request's `FastAuth`, runs `resolve`, answers errors from the table."""

    def __init__(
        self,
        resolve: Callable[[FastAuth, Request], Awaitable[Any]],
        *,
        model: SecurityBaseModel,
        find: Callable[[Request], FastAuth],
        name: str,
        doc: str,
    ) -> None:
        # The scheme's own reading of the header (`auto_error`) is never used: `__call__` replaces it.
        self.model = model
        self.scheme_name = SCHEME_NAME
        self.auto_error = False
        self._resolve = resolve
        self._find = find
        self.__name__ = name
        self.__doc__ = doc

    async def __call__(self, request: Request) -> Any:  # type: ignore[override]
        """What the dependency gives the route, or the table's HTTP answer for the refusal."""
        try:
            return await self._resolve(self._find(request), request)
        except FastAuthError as error:
            raise as_http(error) from None

    def __repr__(self) -> str:
        return f"<fastauth dependency {self.__name__}>"


async def claims(auth: FastAuth, request: Request) -> dict[str, Any]:
    """Verified claims, without a database read: for hot paths (an API key's: `sub`, `scope`, ...)."""
    if auth.api_key_of(request) is not None:
        return dict((await auth.authenticate_principal(request)).claims)
    return (await auth.authenticate(request)).claims


async def principal(auth: FastAuth, request: Request) -> Principal:
    """Who the request acts for: a person's access token or an API key; 401 otherwise."""
    return await auth.authenticate_principal(request)


async def current_user(auth: FastAuth, request: Request) -> User:
    """The active user of a valid, unrevoked access token (or the owner of a valid API key); 401
    otherwise."""
    if auth.api_key_of(request) is not None:
        await auth.authenticate_principal(request)
        owner: User = request.state.fastauth_key_owner
        return owner
    return await auth.service.user_of(await auth.authenticate(request))


async def signed_in_user(auth: FastAuth, request: Request) -> User:
    """The active user of a valid, unrevoked access token; an API key is refused (401)."""
    return await auth.service.user_of(await auth.authenticate(request))


async def signed_in_verified_user(auth: FastAuth, request: Request) -> User:
    """As `signed_in_user`, and 403 unless the email address is verified."""
    user = await signed_in_user(auth, request)
    if not user.is_verified:
        raise EmailNotVerified("email not verified")
    return user


async def current_verified_user(auth: FastAuth, request: Request) -> User:
    """As `current_user`, and 403 unless the user's email address is verified."""
    user = await current_user(auth, request)
    if not user.is_verified:
        raise EmailNotVerified("email not verified")
    return user


async def current_superuser(auth: FastAuth, request: Request) -> User:
    """A superuser signed in with an access token: 403 for anyone else, 401 for an API key (a key
    of a superuser carries only its scopes, never the superuser's power)."""
    user = await signed_in_user(auth, request)
    if not user.is_superuser:
        raise PermissionDenied("not a superuser")
    return user


async def optional_user(auth: FastAuth, request: Request) -> User | None:
    """The user, or None for no or a bad token: never an error answer."""
    try:
        return await current_user(auth, request)
    except FastAuthError:
        return None


def roles_check(wanted: Sequence[str], any_of: bool) -> Callable[[FastAuth, Request], Awaitable[User]]:
    """The current user, `PermissionDenied` unless they hold every role in `wanted` (or one, `any_of`)."""

    async def check(auth: FastAuth, request: Request) -> User:
        user = await current_user(auth, request)
        held = set(user.roles)
        ok = any(r in held for r in wanted) if any_of else all(r in held for r in wanted)
        if not ok and not (user.is_superuser and auth.config.authz.superuser_bypass):
            raise PermissionDenied("missing role")
        return user

    return check


def permissions_check(
    wanted: Sequence[str], any_of: bool
) -> Callable[[FastAuth, Request], Awaitable[Principal]]:
    """The principal, `PermissionDenied` unless it holds the permissions (a superuser passes with
    `authz.superuser_bypass`, read from the user only when the claims fall short)."""

    async def check(auth: FastAuth, request: Request) -> Principal:
        found = await auth.authenticate_principal(request)
        if found.holds(wanted, any_of=any_of):
            return found
        if not found.is_api_key and await auth.service.may_bypass(found.user_id):
            return found
        raise PermissionDenied("missing permission")

    return check


def scope_check(wanted: Sequence[str]) -> Callable[[FastAuth, Request], Awaitable[Principal]]:
    """The principal, `InsufficientScope` (RFC 6750 §3.1) unless it holds every scope."""
    needed = " ".join(wanted)

    async def check(auth: FastAuth, request: Request) -> Principal:
        found = await auth.authenticate_principal(request)
        if not found.holds(wanted):
            raise InsufficientScope("missing scope", needed)
        return found

    return check


def claimed_roles_check(
    wanted: Sequence[str], any_of: bool
) -> Callable[[FastAuth, Request], Awaitable[Principal]]:
    """The principal, `PermissionDenied` unless its roles (the token's claim, or the user's for a
    token from before fastauth wrote it) include the roles; superusers pass with the bypass."""

    async def check(auth: FastAuth, request: Request) -> Principal:
        found = await auth.authenticate_principal(request)
        if found.has_roles(wanted, any_of=any_of):
            return found
        if not found.is_api_key and await auth.service.may_bypass(found.user_id):
            return found
        raise PermissionDenied("missing role")

    return check


def recent_auth_check(
    max_age: int, amr: Sequence[str] | None
) -> Callable[[FastAuth, Request], Awaitable[dict[str, Any]]]:
    """The verified claims, when the sign-in behind them is at most `max_age` seconds old and (with
    `amr`) used one of those methods; else `RecentSignInRequired`: 401 with
    `WWW-Authenticate: Bearer error="insufficient_user_authentication", max_age=..., acr_values=...`
    (RFC 9470), so the client asks for a fresh (or stronger) sign-in. A token without `auth_time`
    (issued before fastauth said when) is never recent."""
    wanted = tuple(amr or ())

    async def check(auth: FastAuth, request: Request) -> dict[str, Any]:
        claims = (await auth.authenticate(request)).claims
        require_recent(claims, auth.service.now(), max_age, wanted)
        return claims

    return check


def require_recent(claims: Mapping[str, Any], now: int, max_age: int, wanted: Sequence[str] = ()) -> None:
    """`RecentSignInRequired` unless the verified `claims` say a sign-in at most `max_age` seconds
    before `now` (and, with `wanted`, by one of those RFC 8176 methods)."""
    when = claims.get("auth_time")
    methods = claims.get("amr")
    recent = type(when) is int and now - when <= max_age
    strong = not wanted or (isinstance(methods, list) and any(m in methods for m in wanted))
    if not (recent and strong):
        raise RecentSignInRequired("a recent sign-in is needed", max_age, " ".join(wanted) or None)
