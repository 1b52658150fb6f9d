"""CSRF for cookie-authenticated requests: signed double-submit tokens and the cross-site sign-in check.

A token is `nonce.HMAC(key, sid.nonce)`: bound to the session, so a token planted by an attacker for
their own session is worthless in the victim's. The browser sends it twice, in the readable
`csrf_token` cookie and in the `X-CSRF-Token` header; only same-origin script can copy one to the other.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.requests import Request

from fastauth.errors import CrossSiteSignin, CsrfFailed

__all__ = ["CSRF_HEADER", "CsrfTokens", "refuse_cross_site", "sign_in_origins"]

CSRF_HEADER = "x-csrf-token"


class CsrfTokens:
    """Signed double-submit tokens bound to a session: `nonce.HMAC(key, sid.nonce)`."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"fastauth csrf v1", hashlib.sha256).digest()

    def _mac(self, session_id: str, nonce: str) -> str:
        digest = hmac.new(self._key, f"{session_id}.{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, session_id: str) -> str:
        """A new token for the session."""
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac(session_id, nonce)}"

    def check(self, session_id: str, header: str | None, cookie: str | None) -> bool:
        """Header and cookie equal, and a valid token of this session (constant-time compares)."""
        if not header or not cookie or len(header) > 200:
            return False
        if not hmac.compare_digest(header.encode(), cookie.encode()):
            return False
        nonce, _, mac = header.partition(".")
        return bool(nonce) and hmac.compare_digest(mac.encode(), self._mac(session_id, nonce).encode())

    def require(self, request: Request, session_id: str, cookie: str | None) -> None:
        """`CsrfFailed` unless the request carries this session's token in header and cookie."""
        if not self.check(session_id, request.headers.get(CSRF_HEADER), cookie):
            raise CsrfFailed("CSRF token missing or invalid")


def sign_in_origins(origins: Iterable[str]) -> frozenset[str]:
    """The origins (`scheme://host[:port]`) of URLs or origins, for `refuse_cross_site`."""
    found: set[str] = set()
    for entry in origins:
        parts = urlsplit(entry)
        if parts.scheme and parts.netloc:
            found.add(f"{parts.scheme}://{parts.netloc}".lower())
    return frozenset(found)


def refuse_cross_site(request: Request, trusted: frozenset[str] = frozenset()) -> None:
    """Login CSRF: another site's page must not sign a browser into someone else's account.

    Called only when the answer would set cookies: bearer-token (JSON) answers are unreadable
    cross-site and need no such check. Browsers say where a request comes from (Fetch Metadata):
    `same-origin` passes; `cross-site` and a sandboxed page's `Origin: null` are refused; a
    `same-site` page (a sibling subdomain, which may be someone else's) passes only when its `Origin`
    is `trusted`. A browser without Fetch Metadata is judged by its `Origin` alone: this server's own
    host or a trusted origin. A request with neither header is no browser's form, and passes.
    """
    site = request.headers.get("sec-fetch-site")
    origin = request.headers.get("origin")
    if site == "cross-site" or origin == "null":
        raise CrossSiteSignin("cross-site sign-in refused")
    if site == "same-origin" or origin is None:
        return
    if origin.lower() in trusted:
        return
    if site is None and urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower():
        return
    raise CrossSiteSignin("sign-in from another site's page refused")
