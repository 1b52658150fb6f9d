"""A provider sign-in from start to callback: the state bound to the browser, PKCE, the nonce, and
where the browser may go back to.

- `start` makes a random `state` (256 bits), a PKCE verifier and a nonce, stores them server-side
  under the state's SHA-256 (`fastauth_oauth_states`, so every process can finish what another began),
  and hands the state back for a short-lived HttpOnly cookie: the callback must present the same
  state in its query *and* in that cookie (a login CSRF, CVE-2025-68481, has the victim's browser
  bring the attacker's state without the attacker's cookie).
- `finish` checks the two states agree (constant time), consumes the record once (of two callbacks
  exactly one gets it), and has the provider prove the identity with the code and the verifier.
- `redirect_to` must be on the allow-list (default: `public_url`'s origin); anything else is refused,
  never followed: relative paths resolve against `public_url`, and scheme-relative URLs (`//evil`),
  backslashes, user-info (`https://good@evil`) and control characters are refused outright.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Mapping
from urllib.parse import unquote, urlsplit

from fastauth.config import FastAuthConfig
from fastauth.errors import OAuthError, OAuthStateInvalid, RedirectNotAllowed, UnknownProvider
from fastauth.oauth.providers import Provider, ProviderIdentity
from fastauth.storage.base import OAuthStateRecord, OAuthStateStore

__all__ = ["MAX_STATE", "OAuthFlows", "state_id"]

#: The longest `state` looked at; issued ones are 43 characters.
MAX_STATE = 128
_MAX_REDIRECT = 2048
#: Seconds between two deletions of expired sign-ins (done by the next start after that).
PRUNE_EVERY = 3600


def state_id(state: str) -> str:
    """The id a state is stored under (its hex SHA-256): the store never holds the state itself."""
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time equality of two states (any text: a lone surrogate is replaced, not an error)."""
    return hmac.compare_digest(a.encode("utf-8", "replace"), b.encode("utf-8", "replace"))


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    port = parts.port
    default = {"https": 443, "http": 80}.get(parts.scheme)
    return parts.scheme, (parts.hostname or "").lower(), None if port == default else port


class OAuthFlows:
    """Provider sign-ins under way, for one configuration: start, then finish at the callback."""

    def __init__(
        self,
        config: FastAuthConfig,
        store: OAuthStateStore,
        providers: Mapping[str, Provider],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.config = config
        self.store = store
        self.providers = dict(providers)
        self._clock = clock
        self._pruned = 0.0
        public = config.public_url or ""
        #: Where `redirect_to` may point: the allow-list, else the origin of `public_url`.
        self.allowed = tuple(config.oauth_redirect_allowlist) or ((public,) if public else ())
        #: Where the browser goes back to when the start names no `redirect_to`.
        self.default_redirect = public + "/"

    def provider(self, name: str) -> Provider:
        """The provider of this name; `UnknownProvider` for any other."""
        found = self.providers.get(name)
        if found is None:
            raise UnknownProvider("no such sign-in provider")
        return found

    def redirect_uri(self, name: str) -> str:
        """The callback registered at the provider: built from `public_url`, never from a request."""
        return f"{self.config.public_url}{self.config.route_prefix}/oauth/{name}/callback"

    def checked_redirect(self, redirect_to: str | None) -> str:
        """`redirect_to` as the absolute URL it names, when the allow-list allows it; else
        `RedirectNotAllowed`. None or empty: the default (`public_url` + `/`)."""
        if not redirect_to:
            return self.default_redirect
        if (
            len(redirect_to) > _MAX_REDIRECT
            or "\\" in redirect_to
            or any(ord(ch) < 0x21 or ord(ch) == 0x7F for ch in redirect_to)
        ):
            raise RedirectNotAllowed("redirect_to is not an allowed address")
        if redirect_to.startswith("/"):
            if redirect_to.startswith("//"):
                raise RedirectNotAllowed("redirect_to is not an allowed address")
            redirect_to = (self.config.public_url or "") + redirect_to
        try:
            parts = urlsplit(redirect_to)
            target = _origin(redirect_to)
        except ValueError:
            raise RedirectNotAllowed("redirect_to is not an allowed address") from None
        if parts.scheme not in ("https", "http") or not parts.hostname or "@" in parts.netloc:
            raise RedirectNotAllowed("redirect_to is not an allowed address")
        # A dot segment (`/app/../admin`, `/app/%2e%2e/admin`) would leave an allowed path prefix once
        # the browser resolves it.
        if any(segment in (".", "..") for segment in unquote(parts.path).split("/")):
            raise RedirectNotAllowed("redirect_to is not an allowed address")
        for entry in self.allowed:
            allowed = urlsplit(entry)
            if _origin(entry) != target:
                continue
            prefix = allowed.path.rstrip("/")
            if not prefix or parts.path == prefix or parts.path.startswith(prefix + "/"):
                return redirect_to
        raise RedirectNotAllowed("redirect_to is not an allowed address")

    async def start(
        self,
        name: str,
        redirect_to: str | None,
        *,
        delivery: str,
        link_user_id: str | None = None,
        link_session_id: str | None = None,
    ) -> tuple[str, str]:
        """(the provider's authorization URL, the state for the browser's cookie)."""
        provider = self.provider(name)
        target = self.checked_redirect(redirect_to)
        if self._clock() - self._pruned > PRUNE_EVERY:  # sign-ins abandoned at the provider
            self._pruned = self._clock()
            await self.prune()
        state, verifier, nonce = (
            secrets.token_urlsafe(32),
            secrets.token_urlsafe(48),
            secrets.token_urlsafe(24),
        )
        url = await provider.authorization_url(
            state=state, nonce=nonce, verifier=verifier, redirect_uri=self.redirect_uri(name)
        )
        now = int(self._clock())
        await self.store.insert_oauth_state(
            OAuthStateRecord(
                id=state_id(state),
                provider=name,
                verifier=verifier,
                nonce=nonce,
                redirect_to=target,
                delivery=delivery,
                created_at=now,
                expires_at=now + self.config.oauth_state_ttl,
                link_user_id=link_user_id,
                link_session_id=link_session_id,
            )
        )
        return url, state

    async def finish(
        self,
        name: str,
        *,
        state: str | None,
        cookie_state: str | None,
        code: str | None,
        error: str | None,
    ) -> tuple[OAuthStateRecord, ProviderIdentity]:
        """The flow's record and the identity the provider proved. `OAuthStateInvalid` unless the query
        and the cookie carry the same live state for this provider (spent at once, whatever follows);
        `OAuthError` when the provider refused or the code does not prove an identity."""
        provider = self.provider(name)
        if not state or not cookie_state or len(state) > MAX_STATE or not _same(state, cookie_state):
            raise OAuthStateInvalid("the state is missing or was started in another browser")
        # `state_id` hashes UTF-8: a lone surrogate (JSON's \ud800) is no state, not an error.
        record = await self.store.consume_oauth_state(
            state_id(state.encode("utf-8", "replace").decode("utf-8")), int(self._clock())
        )
        if record is None or record.provider != name:
            raise OAuthStateInvalid("the state is unknown, spent or expired")
        if error is not None:
            raise OAuthError(f"{name} refused the sign-in: {error[:64]!r}")
        if not code or len(code) > 2048:
            raise OAuthError(f"{name}: the callback has no code")
        identity = await provider.identity(
            code=code, verifier=record.verifier, nonce=record.nonce, redirect_uri=self.redirect_uri(name)
        )
        return record, identity

    async def aclose(self) -> None:
        """Close the HTTP client the providers share."""
        clients = {id(provider.http): provider.http for provider in self.providers.values()}
        for client in clients.values():
            await client.aclose()

    async def prune(self) -> int:
        """Delete the sign-ins under way that expired."""
        return await self.store.prune_oauth_states(int(self._clock()))
