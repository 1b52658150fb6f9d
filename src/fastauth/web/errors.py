"""The one table from fastauth's errors to HTTP answers: status, headers and body, by the error's `code`.

`mount()` installs `handle` for every `FastAuthError`, so routes raise the core's errors and never
catch them to answer; the dependencies raise `as_http(error)` (the same table) so they answer the same
on an application where `mount()` did not run (a sub-application). Every token refusal gets one body;
login failures say nothing about which part was wrong. An error whose code is not in the table (a
`ConfigError` at request time) is not turned into an answer: it propagates as the server error it is.

Every answer's body is `{"detail": ..., "code": ...}`: `code` is the table's code of the error (every
token refusal says `invalid_token`, whichever check failed). The web layer's own refusals (a body too
large or unreadable, no JWKS) have rows here too and are raised as `web_error(code)`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute
from starlette.types import Receive, Scope, Send

from fastauth.errors import FastAuthError, InsufficientScope, RateLimited, RecentSignInRequired

__all__ = [
    "PUBLIC_CODE",
    "TABLE",
    "Answer",
    "AnsweringRoute",
    "ErrorAnswer",
    "answer_for",
    "answer_http",
    "as_http",
    "code_for",
    "handle",
    "handle_answer",
    "respond",
    "share_allow",
    "web_error",
]

log = logging.getLogger("fastauth")


@dataclass(frozen=True, slots=True)
class Answer:
    """How one error code is answered. `detail=None` shows the error's own message (policy texts)."""

    status: int
    detail: str | None
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Prefix for the error's own message (`detail=None`).
    prefix: str = ""


_INVALID_TOKEN = Answer(401, "Invalid or expired token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
#: Every token refusal answers alike: the subclass is for logs and tests, never for the client.
_TOKEN_CODES = (
    "invalid_token",
    "malformed_token",
    "unknown_key",
    "algorithm_mismatch",
    "invalid_signature",
    "expired_token",
    "invalid_claims",
    "wrong_token_type",
    "revoked_token",
    "invalid_api_key",
)
#: Every passkey refusal answers alike too: a suspected clone is for the audit log only.
_PASSKEY_CODES = ("invalid_passkey", "passkey_cloned")

TABLE: Mapping[str, Answer] = {
    "not_authenticated": Answer(401, "Not authenticated", {"WWW-Authenticate": "Bearer"}),
    **dict.fromkeys(_TOKEN_CODES, _INVALID_TOKEN),
    "invalid_credentials": Answer(401, "Invalid email or password", {"WWW-Authenticate": "Bearer"}),
    "current_password_wrong": Answer(400, "The current password is wrong"),
    "invalid_code": Answer(400, "Invalid or expired code"),
    "verify_user_bad_token": Answer(400, "VERIFY_USER_BAD_TOKEN"),
    "verify_user_already_verified": Answer(400, "VERIFY_USER_ALREADY_VERIFIED"),
    "reset_password_bad_token": Answer(400, "RESET_PASSWORD_BAD_TOKEN"),
    "change_email_bad_token": Answer(400, "CHANGE_EMAIL_BAD_TOKEN"),
    "email_not_verified": Answer(403, "Email not verified"),
    "mail_off": Answer(501, "This server sends no mail: email verification and password reset are off"),
    "signin_not_allowed": Answer(403, "Sign-in not allowed"),
    "permission_denied": Answer(403, "Not enough permissions"),
    "insufficient_scope": Answer(
        403, "The token lacks a scope this needs", {"WWW-Authenticate": 'Bearer error="insufficient_scope"'}
    ),
    "invalid_role": Answer(422, None),
    "role_not_found": Answer(404, None, prefix="No such role: "),
    "role_exists": Answer(409, None, prefix="A role of this name exists: "),
    "role_in_config": Answer(
        409,
        None,
        prefix="This role is declared in the configuration (FASTAUTH_AUTHZ__ROLES); change it there: ",
    ),
    "invalid_scope": Answer(400, None),
    "api_key_not_found": Answer(404, "No such API key"),
    "user_not_found": Answer(404, "No such user"),
    "invalid_cursor": Answer(400, "Invalid pagination cursor"),
    "csrf_failed": Answer(403, "CSRF token missing or invalid"),
    "cross_site_signin": Answer(403, "Cross-site sign-in refused"),
    "session_not_found": Answer(404, "No such session"),
    "email_taken": Answer(409, "This email is already registered"),
    "recent_sign_in_required": Answer(
        401,
        "Sign in again to confirm this",
        {"WWW-Authenticate": 'Bearer error="insufficient_user_authentication"'},
    ),
    "mfa_required": Answer(403, "A second factor is required to complete this sign-in"),
    "invalid_mfa_code": Answer(400, "Invalid or expired code"),
    "mfa_already_enabled": Answer(409, "Two-factor authentication is already on"),
    "mfa_not_enabled": Answer(404, "Two-factor authentication is not set up"),
    "passkeys_off": Answer(501, "Passkeys are not configured on this server"),
    **dict.fromkeys(_PASSKEY_CODES, Answer(400, "Passkey not accepted")),
    "passkey_not_found": Answer(404, "No such passkey"),
    "oauth_failed": Answer(400, "Sign-in with the provider failed"),
    "unknown_provider": Answer(404, "No such sign-in provider"),
    "redirect_not_allowed": Answer(400, "redirect_to is not an allowed address"),
    "oauth_state_invalid": Answer(
        400, "The sign-in with the provider expired or was started elsewhere; start again"
    ),
    "provider_unavailable": Answer(502, "The sign-in provider did not answer; try again shortly"),
    "provider_email_unverified": Answer(403, "The provider has not verified this email address"),
    "oauth_account_exists": Answer(
        409, "An account with this email exists: sign in as usual, then link the provider from your account"
    ),
    "identity_taken": Answer(409, "This provider account is linked to another account"),
    "identity_not_found": Answer(404, "No such linked account"),
    "last_sign_in_method": Answer(409, "This is the account's only way to sign in: set a password first"),
    "field_taken": Answer(409, None),
    "invalid_user_fields": Answer(422, None),
    "invalid_email": Answer(422, None, prefix="Invalid email address: "),
    "password_policy": Answer(422, None),
    "rate_limited": Answer(429, "Too many attempts; try again later"),
    "hook_error": Answer(500, "Internal error in an authentication hook"),
    "store_unavailable": Answer(
        503, "Authentication store unavailable; try again shortly", {"Retry-After": "1"}
    ),
    # The web layer's own refusals (no core error): raised as `web_error(code, message)`.
    "body_too_large": Answer(413, "Request body too large"),
    "invalid_body": Answer(422, None),
    "no_jwks": Answer(404, None),
    "method_not_allowed": Answer(405, "Method Not Allowed"),
}

#: The code an answer's body shows for each code of the table: a token (or passkey) refusal never says
#: which check.
PUBLIC_CODE: Mapping[str, str] = {
    code: "invalid_token" if code in _TOKEN_CODES else "invalid_passkey" if code in _PASSKEY_CODES else code
    for code in TABLE
}

_by_class: dict[type[FastAuthError], tuple[str, Answer] | None] = {}


def _row(error: FastAuthError) -> tuple[str, Answer] | None:
    kind = type(error)
    if kind not in _by_class:
        found: tuple[str, Answer] | None = None
        for cls in kind.__mro__:
            code = getattr(cls, "code", None)
            if isinstance(code, str) and code in TABLE:
                found = (PUBLIC_CODE[code], TABLE[code])
                break
        _by_class[kind] = found
    return _by_class[kind]


def answer_for(error: FastAuthError) -> Answer | None:
    """The table's row for the error's code, or for the nearest parent's code (a new token subclass
    is answered as a token error); None when nothing in its family is in the table."""
    row = _row(error)
    return row[1] if row is not None else None


def code_for(error: FastAuthError) -> str | None:
    """The `code` the answer's body shows for `error` (`invalid_token` for every token error)."""
    row = _row(error)
    return row[0] if row is not None else None


class ErrorAnswer(HTTPException):
    """An `HTTPException` that knows its table code: fastauth's routes and the handler `mount()` installs
    answer it as `{"detail", "code"}`; on an application without `mount()` FastAPI's own handler shows
    `{"detail"}` with the same status and headers."""

    def __init__(self, status: int, code: str, detail: str, headers: Mapping[str, str] | None = None):
        super().__init__(status, detail, headers=dict(headers) if headers else None)
        self.code = code


def web_error(code: str, message: str = "") -> ErrorAnswer:
    """The answer for one of the web layer's own codes (`body_too_large`, `invalid_body`, `no_jwks`);
    `message` is the detail of a row without a text of its own."""
    answer = TABLE[code]
    detail = answer.detail if answer.detail is not None else answer.prefix + message
    return ErrorAnswer(answer.status, code, detail, answer.headers)


def _parts(error: FastAuthError, answer: Answer) -> tuple[str, dict[str, str]]:
    detail = answer.detail if answer.detail is not None else answer.prefix + str(error)
    headers = dict(answer.headers)
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if isinstance(error, InsufficientScope) and error.scope:  # RFC 6750 §3: which scopes would do
        headers["WWW-Authenticate"] += f', scope="{error.scope}"'
    if isinstance(error, RecentSignInRequired):  # RFC 9470 §3: how recent a sign-in would do
        headers["WWW-Authenticate"] += f", max_age={error.max_age}"
        if error.acr_values:
            headers["WWW-Authenticate"] += f', acr_values="{error.acr_values}"'
    return detail, headers


def as_http(error: FastAuthError) -> Exception:
    """The `HTTPException` for `error` (for dependencies), or the error itself when it is no answer."""
    answer = answer_for(error)
    if answer is None:
        return error
    detail, headers = _parts(error, answer)
    return ErrorAnswer(answer.status, code_for(error) or error.code, detail, headers)


def respond(error: FastAuthError, extra_headers: Mapping[str, str] | None = None) -> Response:
    """The JSON answer for `error` (raises it again when the table has no row for it)."""
    answer = answer_for(error)
    if answer is None:
        raise error
    if answer.status >= 500 and answer.status != 503:
        log.error("answered %s for %s", answer.status, error.code)
    detail, headers = _parts(error, answer)
    if extra_headers:
        headers.update(extra_headers)
    return JSONResponse({"detail": detail, "code": code_for(error)}, answer.status, headers=headers or None)


def answer_http(error: ErrorAnswer) -> Response:
    """The JSON answer for an `ErrorAnswer`: `{"detail", "code"}`, its status and headers."""
    return JSONResponse(
        {"detail": error.detail, "code": error.code}, error.status_code, headers=error.headers
    )


async def handle(request: Request, error: Exception) -> Response:
    """Starlette exception handler for `FastAuthError` (installed by `FastAuth.mount`)."""
    assert isinstance(error, FastAuthError)
    return respond(error)


async def handle_answer(request: Request, error: Exception) -> Response:
    """Starlette exception handler for `ErrorAnswer` (installed by `FastAuth.mount`): the dependencies'
    refusals on the application's own routes answer with their `code` too."""
    assert isinstance(error, ErrorAnswer)
    return answer_http(error)


def _invalid_fields(error: RequestValidationError) -> ErrorAnswer:
    """FastAPI's refusal of a query or path parameter, as the table's `invalid_body` (names, never values)."""
    names = ", ".join(".".join(str(p) for p in e.get("loc", ())) or "request" for e in error.errors())
    return web_error("invalid_body", f"Missing or invalid fields: {names}")


class AnsweringRoute(APIRoute):
    """The route class of fastauth's routers: a `FastAuthError` from the endpoint is answered from the
    table here, so `app.include_router(auth.router)` without `mount()` answers the same.

    A method no route of the path has is answered 405 with `Allow` listing every method of the path
    (`share_allow` tells each route its siblings'), not only this route's (RFC 9110 §15.5.6)."""

    #: Every method of this route's path, across the routes of its router (set by `share_allow`).
    allow: frozenset[str] = frozenset()

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The route's handler; a 405 from the table, with the path's `Allow`, for another method."""
        if self.methods and scope["method"] not in self.methods:
            allow = ", ".join(sorted(self.allow | self.methods))
            refusal = web_error("method_not_allowed")
            answer = JSONResponse(
                {"detail": refusal.detail, "code": refusal.code},
                refusal.status_code,
                headers={"Allow": allow},
            )
            await answer(scope, receive, send)
            return
        await super().handle(scope, receive, send)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler, with the table in front of it."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            try:
                return await handler(request)
            except FastAuthError as error:
                return respond(error)
            except ErrorAnswer as error:
                return answer_http(error)
            except RequestValidationError as error:
                return answer_http(_invalid_fields(error))

        return answer


def share_allow(routes: Iterable[BaseRoute]) -> None:
    """Tell each `AnsweringRoute` among `routes` every method of its path (for its 405's `Allow`)."""
    answering = [route for route in routes if isinstance(route, AnsweringRoute)]
    by_path: dict[str, set[str]] = {}
    for route in answering:
        by_path.setdefault(route.path, set()).update(route.methods or ())
    for route in answering:
        route.allow = frozenset(by_path[route.path])
