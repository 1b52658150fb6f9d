"""Where tokens travel: the `Authorization: Bearer` header and HTTP-only cookies, plus CSRF tokens.

Only the token text is extracted here; verification happens in the core. A token in the URL query is
never read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

__all__ = ["BAD_HEADER", "CookieTransport", "CsrfTokens", "RawToken", "bearer_token"]

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, slots=True)
class RawToken:
    value: str
    source: Literal["header", "cookie"]


#: Returned by `bearer_token` for a malformed bearer header: a token was given, and it is bad.
BAD_HEADER = RawToken("", "header")


def bearer_token(request: Request) -> RawToken | None:
    """The bearer token of the request, `BAD_HEADER` if the header is malformed, None if there is none.

    RFC 6750: scheme case-insensitive, one space, a token of the b64token alphabet; two
    Authorization headers are refused rather than guessed between.
    """
    values = request.headers.getlist("authorization")
    if not values:
        return None
    if len(values) > 1:
        return BAD_HEADER
    value = values[0]
    if value[:6].lower() != "bearer" or value[6:7] not in ("", " ", "\t"):
        return None  # another scheme (Basic, ...) is not ours to judge
    token = value[7:]
    if value[6:7] != " " or not token or token != token.strip() or any(c in token for c in " \t,\"'"):
        return BAD_HEADER
    return RawToken(token, "header")


class CsrfTokens:
    """Signed double-submit tokens bound to a session: `nonce.HMAC(key, sid.nonce)`."""

    def __init__(self, secret: str) -> None:
        self._key = hmac.new(secret.encode(), b"fastauth csrf v1", hashlib.sha256).digest()

    def _mac(self, session_id: str, nonce: str) -> str:
        digest = hmac.new(self._key, f"{session_id}.{nonce}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(self, session_id: str) -> str:
        nonce = secrets.token_urlsafe(16)
        return f"{nonce}.{self._mac(session_id, nonce)}"

    def check(self, session_id: str, header: str | None, cookie: str | None) -> bool:
        if not header or not cookie or len(header) > 200:
            return False
        if not hmac.compare_digest(header.encode(), cookie.encode()):
            return False
        nonce, _, mac = header.partition(".")
        return bool(nonce) and hmac.compare_digest(mac.encode(), self._mac(session_id, nonce).encode())


class CookieTransport:
    """Cookie names and attributes. With `secure`, the `__Host-`/`__Secure-` prefixes pin them down."""

    def __init__(self, *, secure: bool, refresh_path: str, domain: str | None = None) -> None:
        self.secure = secure
        self.domain = domain
        self.refresh_path = refresh_path
        host = "__Host-" if secure and domain is None else ""
        self.access_name = f"{host}fastauth_access"
        self.csrf_name = f"{host}csrf_token"
        self.refresh_name = f"{'__Secure-' if secure else ''}fastauth_refresh"

    def access(self, request: Request) -> RawToken | None:
        value = request.cookies.get(self.access_name)
        return RawToken(value, "cookie") if value else None

    def refresh(self, request: Request) -> str | None:
        return request.cookies.get(self.refresh_name) or None

    def csrf(self, request: Request) -> str | None:
        return request.cookies.get(self.csrf_name)

    def set_access(self, response: Response, token: str, max_age: int | None) -> None:
        response.set_cookie(
            self.access_name, token, max_age=max_age, path="/", domain=self.domain,
            secure=self.secure, httponly=True, samesite="lax",
        )  # fmt: skip

    def set_refresh(self, response: Response, token: str, max_age: int | None) -> None:
        response.set_cookie(
            self.refresh_name, token, max_age=max_age, path=self.refresh_path, domain=self.domain,
            secure=self.secure, httponly=True, samesite="strict",
        )  # fmt: skip

    def set_csrf(self, response: Response, token: str, max_age: int | None) -> None:
        response.set_cookie(
            self.csrf_name, token, max_age=max_age, path="/", domain=self.domain,
            secure=self.secure, httponly=False, samesite="lax",
        )  # fmt: skip

    def clear(self, response: Response) -> None:
        """Delete with the attributes they were set with, or browsers keep them."""
        for name, path, httponly, samesite in (
            (self.access_name, "/", True, "lax"),
            (self.refresh_name, self.refresh_path, True, "strict"),
            (self.csrf_name, "/", False, "lax"),
        ):
            response.delete_cookie(
                name, path=path, domain=self.domain, secure=self.secure, httponly=httponly,
                samesite=samesite,  # type: ignore[arg-type]
            )  # fmt: skip
