"""fastauth's HTTP routes, one module per concern; `build_auth_router` gathers those under `route_prefix`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastauth.web.errors import AnsweringRoute
from fastauth.web.routers import (
    account,
    admin,
    oauth,
    reset,
    revocations,
    sessions,
    token_endpoint,
    tokens,
    verify,
)
from fastauth.web.routing import PrefixRouter

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build_auth_router"]


def build_auth_router(auth: FastAuth) -> PrefixRouter:
    """Register, login, refresh, logout, me, sessions, change-password, verification, password reset, the
    audit log, sign-in providers (and the revocation list)."""
    prefix = auth.config.route_prefix
    router = PrefixRouter(prefixes=(prefix + "/",), prefix=prefix, tags=["auth"], route_class=AnsweringRoute)
    router.include_router(tokens.build(auth))
    router.include_router(token_endpoint.build(auth))
    router.include_router(account.build(auth))
    router.include_router(sessions.build(auth))
    router.include_router(verify.build(auth))
    router.include_router(reset.build(auth))
    router.include_router(admin.build(auth))
    router.include_router(oauth.build(auth))
    if auth.config.revocation_list_enabled:
        router.include_router(revocations.build(auth))
    return router
