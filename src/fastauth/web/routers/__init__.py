"""fastauth's HTTP routes, one module per concern; `build_auth_router` gathers those under `route_prefix`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastauth.web.errors import AnsweringRoute, share_allow
from fastauth.web.routers import (
    account,
    admin,
    api_keys,
    introspection,
    mfa,
    oauth,
    passkeys,
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
    admin API, sign-in providers, second factors, passkeys, API keys, RFC 7662 introspection and RFC
    7009 revocation (and the revocation list)."""
    prefix = auth.config.route_prefix
    router = PrefixRouter(prefixes=(prefix + "/",), prefix=prefix, tags=["auth"], route_class=AnsweringRoute)
    built = [
        tokens,
        token_endpoint,
        account,
        sessions,
        verify,
        reset,
        admin,
        oauth,
        mfa,
        passkeys,
        api_keys,
        introspection,
    ]
    if auth.config.revocation_list_enabled:
        built.append(revocations)
    for module in built:
        sub = module.build(auth)
        share_allow(sub.routes)  # a path's routes sit in one module: its 405 lists all their methods
        router.include_router(sub)
    return router
