"""Where tokens travel: one `Transport` per delivery, chosen per request.

- `BearerTransport` ("json"): both tokens in the response body; the access token comes back in
  `Authorization: Bearer`, the refresh token in the body of `/refresh` and `/logout`.
- `CookieTransport` ("cookie"): both tokens in HTTP-only cookies, with a CSRF cookie.
- `RefreshCookieTransport` ("refresh_cookie"): the access token in the body, the refresh token in an
  HTTP-only cookie scoped to the auth routes.

Only the token text is extracted here; verification happens in the core. A token in the URL query is
never read. `Transports` picks one per request (`X-Fastauth-Delivery: cookie` with `cookie_opt_in`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, Protocol

from starlette.requests import Request
from starlette.responses import Response

from fastauth.sessions import TokenPair
from fastauth.web.csrf import CsrfTokens
from fastauth.web.schemas import TokenOut

__all__ = [
    "BAD_HEADER",
    "DELIVERY_HEADER",
    "NO_STORE",
    "SAFE_METHODS",
    "BearerTransport",
    "CookieJar",
    "CookieTransport",
    "Delivery",
    "RawToken",
    "RefreshCookieTransport",
    "Transport",
    "Transports",
    "bearer_token",
]

Delivery = Literal["json", "cookie", "refresh_cookie"]
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
#: With `cookie_opt_in`, `X-Fastauth-Delivery: cookie` asks for cookie delivery on this request.
DELIVERY_HEADER = "x-fastauth-delivery"


@dataclass(frozen=True, slots=True)
class RawToken:
    """A token's text and where it was found (a cookie-borne token needs CSRF on unsafe requests)."""

    value: str
    source: Literal["header", "cookie"]


#: Returned by `bearer_token` for a malformed bearer header: a token was given, and it is bad.
BAD_HEADER = RawToken("", "header")


def bearer_token(request: Request) -> RawToken | None:
    """The bearer token of the request, `BAD_HEADER` if the header is malformed, None if there is none.

    RFC 6750: scheme case-insensitive, one space, a token of the b64token alphabet; two
    Authorization headers are refused rather than guessed between. Reads the raw ASGI headers once.
    """
    found: bytes | None = None
    for name, raw in request.scope["headers"]:
        if name == b"authorization":
            if found is not None:
                return BAD_HEADER
            found = raw
    if found is None:
        return None
    value = found.decode("latin-1")
    if value[:6].lower() != "bearer" or value[6:7] not in ("", " ", "\t"):
        return None  # another scheme (Basic, ...) is not ours to judge
    token = value[7:]
    if value[6:7] != " " or not token or token != token.strip() or any(c in token for c in " \t,\"'"):
        return BAD_HEADER
    return RawToken(token, "header")


class CookieJar:
    """fastauth's cookie names and attributes; with `secure`, `__Host-`/`__Secure-` pin them down."""

    def __init__(self, *, secure: bool, refresh_path: str, domain: str | None = None) -> None:
        self.secure = secure
        self.domain = domain
        self.refresh_path = refresh_path
        host = "__Host-" if secure and domain is None else ""
        self.access_name = f"{host}fastauth_access"
        self.csrf_name = f"{host}csrf_token"
        self.refresh_name = f"{'__Secure-' if secure else ''}fastauth_refresh"
        self.names = (self.access_name, self.refresh_name, self.csrf_name)

    def access(self, request: Request) -> RawToken | None:
        """The access cookie's token, if any."""
        value = request.cookies.get(self.access_name)
        return RawToken(value, "cookie") if value else None

    def refresh(self, request: Request) -> str | None:
        """The refresh cookie's token, if any."""
        return request.cookies.get(self.refresh_name) or None

    def csrf(self, request: Request) -> str | None:
        """The CSRF cookie's value, if any."""
        return request.cookies.get(self.csrf_name)

    def set_access(self, response: Response, token: str, max_age: int | None) -> None:
        """Site-wide, HTTP-only, SameSite=Lax."""
        response.set_cookie(
            self.access_name, token, max_age=max_age, path="/", domain=self.domain,
            secure=self.secure, httponly=True, samesite="lax",
        )  # fmt: skip

    def set_refresh(self, response: Response, token: str, max_age: int | None) -> None:
        """Only for the auth routes, HTTP-only, SameSite=Strict."""
        response.set_cookie(
            self.refresh_name, token, max_age=max_age, path=self.refresh_path, domain=self.domain,
            secure=self.secure, httponly=True, samesite="strict",
        )  # fmt: skip

    def set_csrf(self, response: Response, token: str, max_age: int | None) -> None:
        """Readable by the page's script (it copies it into `X-CSRF-Token`)."""
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


class Transport(Protocol):
    """One way of delivering tokens: read them from a request, write a login or logout answer."""

    #: The `token_delivery` value this transport implements.
    name: Delivery
    #: Whether tokens it reads from cookies need the CSRF check (cookies travel without the page asking).
    needs_csrf: bool

    def read_access(self, request: Request) -> RawToken | None:
        """The access token presented with the request, if any."""
        ...

    def read_refresh(self, request: Request, body_token: str | None) -> RawToken | None:
        """The refresh token: from the body, else (for cookie transports) from its cookie."""
        ...

    def login_response(self, pair: TokenPair, status: int, now: int) -> Response:
        """The answer to a register, login or refresh that issued `pair`."""
        ...

    def logout_response(self, status: int = 204) -> Response:
        """The answer that ends the client's hold on its tokens."""
        ...


def _body(pair: TokenPair, *, access: bool, refresh: bool, status: int) -> Response:
    out = TokenOut(
        access_token=pair.access_token if access else None,
        refresh_token=pair.refresh_token if refresh else None,
        expires_in=pair.expires_in,
    )
    return Response(
        out.model_dump_json(exclude_none=True), status_code=status, media_type="application/json",
        headers=NO_STORE,
    )  # fmt: skip


class BearerTransport:
    """ "json": both tokens in the body; nothing stored in the browser by fastauth."""

    name: Delivery = "json"
    needs_csrf = False

    def read_access(self, request: Request) -> RawToken | None:
        """The `Authorization: Bearer` token."""
        return bearer_token(request)

    def read_refresh(self, request: Request, body_token: str | None) -> RawToken | None:
        """The body's `refresh_token`."""
        return RawToken(body_token, "header") if body_token else None

    def login_response(self, pair: TokenPair, status: int, now: int) -> Response:
        """Both tokens as JSON."""
        return _body(pair, access=True, refresh=True, status=status)

    def logout_response(self, status: int = 204) -> Response:
        """An empty answer."""
        return Response(status_code=status, headers=NO_STORE)


class CookieTransport:
    """ "cookie": both tokens in HTTP-only cookies, CSRF enforced on unsafe requests."""

    name: Delivery = "cookie"
    needs_csrf = True

    def __init__(self, jar: CookieJar, csrf: CsrfTokens) -> None:
        self.jar = jar
        self.csrf = csrf

    def read_access(self, request: Request) -> RawToken | None:
        """A bearer header (API clients) first, else the access cookie."""
        return bearer_token(request) or self.jar.access(request)

    def read_refresh(self, request: Request, body_token: str | None) -> RawToken | None:
        """The body's `refresh_token` (an empty one is none), else the refresh cookie."""
        if body_token is not None:
            return RawToken(body_token, "header") if body_token else None
        cookie = self.jar.refresh(request)
        return RawToken(cookie, "cookie") if cookie else None

    def _refresh_age(self, pair: TokenPair, now: int) -> int | None:
        if pair.refresh_expires_in is not None:
            return pair.refresh_expires_in
        return (pair.refresh_expires_at - now) if pair.refresh_expires_at else None

    def login_response(self, pair: TokenPair, status: int, now: int) -> Response:
        """Cookies for the tokens and the session's CSRF token; the body keeps only the lifetimes."""
        response = _body(pair, access=False, refresh=False, status=status)
        self.set_login_cookies(response, pair, now)
        return response

    def set_login_cookies(self, response: Response, pair: TokenPair, now: int) -> None:
        """Put the tokens and the session's CSRF token in cookies on `response` (any answer: a
        provider sign-in's redirect too)."""
        refresh_age = self._refresh_age(pair, now)
        self.jar.set_access(response, pair.access_token, pair.expires_in)
        self.jar.set_csrf(response, self.csrf.issue(pair.session_id), refresh_age)
        self.jar.set_refresh(response, pair.refresh_token, refresh_age)

    def logout_response(self, status: int = 204) -> Response:
        """Every fastauth cookie deleted."""
        response = Response(status_code=status, headers=NO_STORE)
        self.jar.clear(response)
        return response


class RefreshCookieTransport(CookieTransport):
    """ "refresh_cookie": the access token in the body (kept in memory by the page), the refresh token
    in an HTTP-only cookie."""

    name: Delivery = "refresh_cookie"

    def read_access(self, request: Request) -> RawToken | None:
        """The `Authorization: Bearer` token."""
        return bearer_token(request)

    def login_response(self, pair: TokenPair, status: int, now: int) -> Response:
        """The access token as JSON; the refresh token and the CSRF token as cookies."""
        response = _body(pair, access=True, refresh=False, status=status)
        refresh_age = self._refresh_age(pair, now)
        self.jar.set_refresh(response, pair.refresh_token, refresh_age)
        self.jar.set_csrf(response, self.csrf.issue(pair.session_id), refresh_age)
        return response


class Transports:
    """The three transports and the per-request choice between them."""

    def __init__(self, *, delivery: Delivery, cookie_opt_in: bool, jar: CookieJar, csrf: CsrfTokens) -> None:
        self.jar = jar
        self.csrf = csrf
        self.cookie_opt_in = cookie_opt_in
        cookie = CookieTransport(jar, csrf)
        self._by_name: dict[Delivery, Transport] = {
            "json": BearerTransport(),
            "cookie": cookie,
            "refresh_cookie": RefreshCookieTransport(jar, csrf),
        }
        self.default = self._by_name[delivery]
        self.cookie = cookie
        #: Who reads access tokens on protected routes: cookies count in cookie mode and with the opt-in.
        self.access_reader: Transport = cookie if delivery == "cookie" or cookie_opt_in else self.default

    def for_request(self, request: Request) -> Transport:
        """`token_delivery`, or cookie delivery for a request that opts in (`cookie_opt_in`)."""
        if self.cookie_opt_in and request.headers.get(DELIVERY_HEADER, "").strip().lower() == "cookie":
            return self.cookie
        return self.default

    def for_logout(self, request: Request) -> Transport:
        """Cookies may be in play: cookie delivery, or an opted-in request, or one carrying our cookies."""
        chosen = self.for_request(request)
        if chosen.name == "json" and self.cookie_opt_in and any(n in request.cookies for n in self.jar.names):
            return self.cookie
        return chosen
