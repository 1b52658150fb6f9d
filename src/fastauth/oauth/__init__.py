"""Sign in with Google, GitHub and any OpenID Connect provider.

`providers` speaks to the providers (authlib for the protocol; discovery, JWKS and ID-token checks
through joserfc), `flow` runs a sign-in from start to callback (state bound to the browser, PKCE,
nonce, the `redirect_to` allow-list), `linking` decides which account it reaches. The service
(`AuthService.oauth_*`) owns the rest: the session, the hooks, the audit.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fastauth.oauth.flow import OAuthFlows
from fastauth.oauth.linking import Decision, decide
from fastauth.oauth.providers import (
    GitHubProvider,
    OIDCProvider,
    Provider,
    ProviderIdentity,
    providers_from_config,
)
from fastauth.storage.base import User

if TYPE_CHECKING:
    from fastauth.sessions import TokenPair

__all__ = [
    "Decision",
    "GitHubProvider",
    "OAuthFlows",
    "OAuthOutcome",
    "OIDCProvider",
    "Provider",
    "ProviderIdentity",
    "decide",
    "providers_from_config",
]


@dataclass(frozen=True, slots=True)
class OAuthOutcome:
    """How a callback ends: `user` is signed in (`pair`, cookie delivery), has a one-time code to
    exchange (`exchange_code`, SPA and mobile delivery), or `linked` a provider to their account."""

    user: User
    redirect_to: str
    pair: TokenPair | None = None
    exchange_code: str | None = None
    linked: bool = False
