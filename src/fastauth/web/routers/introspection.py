"""`POST /introspect` (RFC 7662) and `POST /revoke` (RFC 7009): what other services ask about tokens.

Both take a form body (`application/x-www-form-urlencoded`, each parameter at most once, an empty one
counting as omitted): `token` and an optional `token_type_hint` (`access_token`, `refresh_token`; any
other value is ignored, and a hint only orders the tries). Other parameters are ignored (RFC 7662
§2.1). The caller authenticates first, with `Authorization: Bearer` (an API key, or for `/revoke` an
access token too), so nobody without credentials makes the server verify a token or read the body.

- `/introspect`: an API key holding `fastauth:introspect`, never an access token (a person's session
  does not read other people's tokens). 200 `{"active": true, ...}` for a live access token, refresh
  token or API key, exactly `{"active": false}` for anything else.
- `/revoke`: anyone signed in revokes their own access token or refresh token (both end the whole
  session) or their own API key; an API key holding `fastauth:revoke` revokes anyone's. 200 with an
  empty body whatever happened (unknown, invalid, not the caller's: no effect), so the answer tells
  nothing about the token. Every kind of token is revocable: `unsupported_token_type` never occurs.

Refusals have RFC 6749 §5.2 bodies, like `/token`: `{"error", "error_description"}`. The caller's
authentication failing is 401 with the RFC 6750 challenge: `invalid_client` without credentials,
`invalid_token` with bad ones (the challenge's error); a caller without the scope is 403
`insufficient_scope`; a bad body is 400 `invalid_request` (413 over the size cap); 429 `slow_down`
and 503 `temporarily_unavailable` carry `Retry-After`. Every answer carries `Cache-Control: no-store`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response
from starlette.responses import JSONResponse

from fastauth.authz.permissions import INTROSPECT
from fastauth.errors import FastAuthError, InsufficientScope
from fastauth.web.errors import AnsweringRoute, ErrorAnswer, as_http
from fastauth.web.requests import client_ip
from fastauth.web.routers.token_endpoint import form_parameters, oauth_answer
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.authz.permissions import Principal
    from fastauth.web.auth import FastAuth

__all__ = ["INTROSPECT_PATH", "REVOKE_PATH", "build"]

#: The endpoints' paths under `route_prefix`.
INTROSPECT_PATH = "/introspect"
REVOKE_PATH = "/revoke"
_FORM = "application/x-www-form-urlencoded"

#: The error table's codes as RFC 6749 / RFC 6750 errors; any other refusal is `invalid_request`.
_OAUTH_ERRORS = {
    "not_authenticated": "invalid_client",  # RFC 6749 §5.2: "no client authentication included"
    "invalid_token": "invalid_token",  # RFC 6750 §3.1, as the challenge says
    "insufficient_scope": "insufficient_scope",
    "rate_limited": "slow_down",
    "store_unavailable": "temporarily_unavailable",
    "hook_error": "server_error",
}


_answer = oauth_answer


def _refusal(error: FastAuthError) -> Response:
    """The RFC 6749 §5.2 answer for a core error: the error table's status, text and headers (the
    Bearer challenge, `Retry-After`); raises the error again when the table has no row for it."""
    http = as_http(error)
    if not isinstance(http, ErrorAnswer):
        raise error
    return _answer(
        http.status_code, _OAUTH_ERRORS.get(http.code, "invalid_request"), str(http.detail), http.headers
    )


async def _parameters(request: Request) -> dict[str, str] | Response:
    """The form's parameters (the token endpoint's rules), or the refusal; `token` is required."""
    params = await form_parameters(request)
    if isinstance(params, dict) and "token" not in params:
        return _answer(400, "invalid_request", "Missing parameter: token")
    return params


_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error"],
}
_STRING = {"type": "string"}
_HEADERS = {"Cache-Control": {"schema": _STRING, "description": "no-store"}}
_CHALLENGE = {
    **_HEADERS,
    "WWW-Authenticate": {
        "schema": _STRING,
        "description": 'The Bearer challenge, e.g. `Bearer error="invalid_token"`',
    },
}
_RETRY = {**_HEADERS, "Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait"}}


def _error(description: str, headers: dict[str, Any] = _HEADERS) -> dict[str, Any]:
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }


def _openapi(success: dict[str, Any], forbidden: str) -> dict[str, Any]:
    return {
        "security": [{"OAuth2PasswordBearer": []}],
        "requestBody": {
            "required": True,
            "content": {
                _FORM: {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "token": {"type": "string", "minLength": 1},
                            "token_type_hint": {
                                "type": "string",
                                "description": "`access_token` or `refresh_token`; others are ignored",
                                "examples": ["refresh_token"],
                            },
                        },
                        "required": ["token"],
                        # Other parameters are ignored (RFC 7662 §2.1), each still at most once.
                        "additionalProperties": {"type": "string"},
                    }
                }
            },
        },
        "responses": {
            "200": success,
            "400": _error("invalid_request: not a form, a repeated parameter, no `token`"),
            "401": _error("invalid_client (no credentials) or invalid_token (bad ones)", _CHALLENGE),
            "403": _error(forbidden, _CHALLENGE),
            "413": _error("invalid_request: the body is over the size cap"),
            "429": _error("slow_down: the calling API key's budget is spent", _RETRY),
            "503": _error("temporarily_unavailable", _RETRY),
        },
    }


_INTROSPECTION_SCHEMA = {
    "type": "object",
    "properties": {
        "active": {"type": "boolean"},
        "token_type": {
            "type": "string",
            "description": "`Bearer` (RFC 6749 §5.1); absent for a refresh token",
        },
        "token_use": {"type": "string", "enum": ["access_token", "refresh_token", "api_key"]},
        "scope": _STRING,
        "client_id": _STRING,
        "username": _STRING,
        "sub": _STRING,
        "aud": {},
        "iss": _STRING,
        "exp": {"type": "integer"},
        "iat": {"type": "integer"},
        "sid": _STRING,
        "jti": _STRING,
    },
    "required": ["active"],
}
_INTROSPECT_DOC = _openapi(
    {
        "description": 'RFC 7662 §2.2: what the token is, or exactly `{"active": false}`',
        "headers": _HEADERS,
        "content": {
            "application/json": {
                "schema": _INTROSPECTION_SCHEMA,
                "example": {
                    "active": True,
                    "token_type": "Bearer",
                    "token_use": "access_token",
                    "sub": "3f2a...",
                    "username": "alice@example.com",
                    "scope": "orders:read",
                    "exp": 1767225600,
                },
            }
        },
    },
    "insufficient_scope: the caller is no API key holding fastauth:introspect",
)
_REVOKE_DOC = _openapi(
    {"description": "RFC 7009 §2.2: done, or nothing to do (the same answer, no body)", "headers": _HEADERS},
    "insufficient_scope, or a CSRF check failed (an access token sent as a cookie)",
)


def build(auth: FastAuth) -> APIRouter:
    """The introspection and revocation endpoints of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    async def caller(request: Request) -> Principal | Response:
        await service.ensure_started()
        try:
            return await auth.authenticate_principal(request)
        except FastAuthError as error:
            return _refusal(error)

    @router.post(INTROSPECT_PATH, openapi_extra=_INTROSPECT_DOC, response_class=JSONResponse)
    async def introspect(request: Request) -> Response:
        """RFC 7662 token introspection, for an API key holding `fastauth:introspect`."""
        principal = await caller(request)
        if isinstance(principal, Response):
            return principal
        if not (principal.is_api_key and INTROSPECT in principal.scopes):
            return _refusal(InsufficientScope("introspection needs an API key", scope=INTROSPECT))
        params = await _parameters(request)
        if isinstance(params, Response):
            return params
        try:
            data = await service.introspect(params["token"], params.get("token_type_hint"))
        except FastAuthError as error:
            return _refusal(error)
        return JSONResponse(data, headers=NO_STORE)

    @router.post(REVOKE_PATH, openapi_extra=_REVOKE_DOC, response_class=Response)
    async def revoke(request: Request) -> Response:
        """RFC 7009 token revocation: one's own tokens, or anyone's with `fastauth:revoke`."""
        principal = await caller(request)
        if isinstance(principal, Response):
            return principal
        params = await _parameters(request)
        if isinstance(params, Response):
            return params
        try:
            await service.revoke_token(
                params["token"],
                params.get("token_type_hint"),
                principal,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
        except FastAuthError as error:
            return _refusal(error)
        return Response(status_code=200, headers=NO_STORE)

    return router
