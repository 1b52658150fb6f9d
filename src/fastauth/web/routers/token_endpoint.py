"""`POST /token`: the RFC 6749 token endpoint, for standard OAuth 2.0 clients and Swagger's Authorize.

A form body (`application/x-www-form-urlencoded`, each parameter at most once) with
`grant_type=password` (`username`, `password`) or `grant_type=refresh_token` (`refresh_token`). It calls
the same `AuthService.sign_in` and `AuthService.refresh` as `/login` and `/refresh`, so rate limits,
hooks, rotation and reuse detection are theirs. Tokens always travel in the body (never in cookies, and
a refresh token is never read from one). There is no client authentication: `client_id`, when sent, must
be `jwt.client_id`; `client_secret`, `scope` and an `Authorization` header are ignored.

Answers are RFC 6749's: §5.1 on success, §5.2 `{"error", "error_description"}` on a refusal (400
`invalid_request`, `invalid_grant`, `unsupported_grant_type`; 401 `invalid_client`). RFC 6749 has no
code for the rest: 429 `slow_down` (the token-endpoint code of RFC 8628) with `Retry-After`, 503
`temporarily_unavailable` with `Retry-After: 1`, 500 `server_error` for a failing hook. Every answer
carries `Cache-Control: no-store`. The descriptions are the error table's texts (`fastauth.web.errors`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, Request, Response
from starlette.responses import JSONResponse

from fastauth.errors import FastAuthError, RateLimited
from fastauth.web.errors import AnsweringRoute, answer_for
from fastauth.web.requests import client_ip, read_body
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.sessions import TokenPair
    from fastauth.web.auth import FastAuth

__all__ = ["TOKEN_PATH", "build", "form_parameters", "oauth_answer", "oauth_error"]

log = logging.getLogger("fastauth")

#: The endpoint's path under `route_prefix`.
TOKEN_PATH = "/token"
_FORM = "application/x-www-form-urlencoded"
_GRANTS = {"password": ("username", "password"), "refresh_token": ("refresh_token",)}

#: The core's codes RFC 6749 has no error for: (status, error). Every other 4xx of the table is the
#: grant failing (wrong password, bad or reused refresh token, sign-in refused): `invalid_grant`.
_OWN_STATUS = {
    "rate_limited": (429, "slow_down"),
    "store_unavailable": (503, "temporarily_unavailable"),
    "hook_error": (500, "server_error"),
}

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
    "required": ["error"],
}


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait", "schema": {"type": "integer"}}}
_NO_STORE_DOC = {"Cache-Control": {"schema": {"type": "string"}, "description": "no-store"}}


def _error_response(description: str, *, retry: bool = False) -> dict[str, Any]:
    headers = {**_NO_STORE_DOC, **(_RETRY_AFTER if retry else {})}
    return {
        "description": description,
        "headers": headers,
        "content": {"application/json": {"schema": _ERROR_SCHEMA}},
    }


_OPENAPI: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            _FORM: {
                "schema": {
                    "type": "object",
                    "properties": {
                        "grant_type": {"type": "string", "enum": sorted(_GRANTS)},
                        "username": {"type": "string"},
                        "password": {"type": "string", "format": "password"},
                        "refresh_token": {"type": "string"},
                        "client_id": {"type": "string"},
                        "scope": {"type": "string"},
                    },
                    "required": ["grant_type"],
                }
            }
        },
    },
    "responses": {
        "200": {
            "description": "RFC 6749 §5.1: the token pair",
            "headers": _NO_STORE_DOC,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "access_token": {"type": "string"},
                            "token_type": {"type": "string"},
                            "expires_in": {"type": "integer"},
                            "refresh_token": {"type": "string"},
                        },
                        "required": ["access_token", "token_type", "refresh_token"],
                    }
                }
            },
        },
        "400": _error_response("invalid_request, invalid_grant or unsupported_grant_type"),
        "401": _error_response("invalid_client: a client_id other than this server's"),
        "413": _error_response("invalid_request: the body is over the size cap"),
        "429": _error_response("slow_down, with Retry-After", retry=True),
        "500": _error_response("server_error: an authentication hook failed"),
        "503": _error_response("temporarily_unavailable, with Retry-After", retry=True),
    },
}


def oauth_answer(
    status: int, error: str, description: str, headers: Mapping[str, str] | None = None
) -> Response:
    """An RFC 6749 §5.2 error body (`error`, `error_description`), never cached."""
    return JSONResponse(
        {"error": error, "error_description": description}, status, headers={**NO_STORE, **(headers or {})}
    )


def oauth_error(error: FastAuthError) -> Response:
    """The RFC 6749 §5.2 answer for a core error (raises it again when the error table has no row)."""
    answer = answer_for(error)
    if answer is None:
        raise error
    description = answer.detail if answer.detail is not None else answer.prefix + str(error)
    status, code = _OWN_STATUS.get(error.code, (400, "invalid_grant"))
    headers = dict(answer.headers)
    headers.pop("WWW-Authenticate", None)  # a grant refusal is no Bearer challenge
    if isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.retry_after)
    if status == 500:
        log.error("answered 500 at the token endpoint for %s", error.code)
    return oauth_answer(status, code, description, headers)


def _success(pair: TokenPair) -> Response:
    body: dict[str, Any] = {"access_token": pair.access_token, "token_type": "Bearer"}
    if pair.expires_in is not None:
        body["expires_in"] = pair.expires_in
    body["refresh_token"] = pair.refresh_token
    return JSONResponse(body, 200, headers=NO_STORE)


async def form_parameters(request: Request, rule: str = "") -> dict[str, str] | Response:
    """An RFC 6749 form's parameters (an empty one counts as omitted, §3.1), or the refusal as an
    RFC 6749 §5.2 error body: not a form (`rule` names the section wanting one), too large, a
    parameter repeated (§3.2). Shared by the token, introspection and revocation endpoints."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != _FORM:
        return oauth_answer(400, "invalid_request", f"The body must be {_FORM}{rule}")
    try:
        await read_body(request)
    except HTTPException as error:  # 413: over the size cap
        return oauth_answer(error.status_code, "invalid_request", str(error.detail))
    params: dict[str, str] = {}
    for name, value in (await request.form()).multi_items():
        if not isinstance(value, str):  # pragma: no cover - a urlencoded form has no files
            return oauth_answer(400, "invalid_request", "File uploads are not parameters")
        if name in params:
            return oauth_answer(
                400, "invalid_request", f"Parameter {name[:40]!r} is repeated (RFC 6749 §3.2)"
            )
        params[name] = value
    return {name: value for name, value in params.items() if value}


def build(auth: FastAuth) -> APIRouter:
    """The token endpoint of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    client_id = auth.config.jwt.client_id

    @router.post(TOKEN_PATH, openapi_extra=_OPENAPI, response_class=JSONResponse)
    async def token(request: Request) -> Response:
        """RFC 6749 token endpoint: `grant_type=password` or `refresh_token`, as a form; RFC 6749 answers."""
        await service.ensure_started()
        params = await form_parameters(request, " (RFC 6749 §4.3.2)")
        if isinstance(params, Response):
            return params
        grant = params.get("grant_type")
        if grant is None:
            return oauth_answer(400, "invalid_request", "grant_type is missing")
        if grant not in _GRANTS:
            return oauth_answer(400, "unsupported_grant_type", "Supported: password, refresh_token")
        missing = [name for name in _GRANTS[grant] if name not in params]
        if missing:
            return oauth_answer(400, "invalid_request", f"Missing parameter: {', '.join(missing)}")
        if params.get("client_id", client_id) != client_id:
            return oauth_answer(401, "invalid_client", "Unknown client_id")
        ip, agent = client_ip(request), request.headers.get("user-agent")
        try:
            if grant == "password":
                _, pair = await service.sign_in(
                    params["username"], params["password"], ip=ip, user_agent=agent
                )
            else:
                _, pair = await service.refresh(params["refresh_token"], ip=ip, user_agent=agent)
        except FastAuthError as error:
            return oauth_error(error)
        return _success(pair)

    return router
