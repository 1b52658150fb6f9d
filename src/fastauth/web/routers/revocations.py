"""`GET /revocations` (with `revocation_list_enabled`): what other services poll to refuse revoked tokens."""

from __future__ import annotations

import hmac
import json
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import SecretStr

from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import answers, no_store
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build", "may_read"]


def may_read(request: Request, token: SecretStr | None) -> bool:
    """Whether the request may read the revocation list: anyone without a token configured, else the
    bearer of exactly that token (compared in constant time)."""
    if token is None:
        return True
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    expected = token.get_secret_value().encode("utf-8")
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode("utf-8"), expected)


_LIST = {
    "type": "object",
    "properties": {
        "sessions": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"sid": {"type": "string"}, "until": {"type": "integer"}},
                "required": ["sid", "until"],
            },
        }
    },
    "required": ["sessions"],
}


def build(auth: FastAuth) -> APIRouter:
    """The revocation-list route of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    token = auth.config.revocation_list_token

    @router.get(
        "/revocations",
        responses=answers(
            "not_authenticated",
            "store_unavailable",
            extra={
                200: {**no_store("The revoked sessions"), "content": {"application/json": {"schema": _LIST}}}
            },
        ),
    )
    async def revocations(request: Request) -> Response:
        """Sessions revoked recently enough that their access tokens could still verify.

        `{"sessions": [{"sid": ..., "until": ...}]}`: refuse tokens of `sid` until `until` (epoch
        seconds). For other services verifying with `JWKSVerifier(revocation_url=...)`.
        """
        if not may_read(request, token):
            return JSONResponse(
                {"detail": "Not authenticated", "code": "not_authenticated"},
                401,
                headers={"WWW-Authenticate": "Bearer", **NO_STORE},
            )
        await service.ensure_started()
        sessions = [{"sid": sid, "until": until} for sid, until in await service.recently_revoked()]
        body = json.dumps({"sessions": sessions}, separators=(",", ":"))
        return Response(body, media_type="application/json", headers=NO_STORE)

    return router
