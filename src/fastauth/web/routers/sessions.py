"""`GET /sessions`, `DELETE /sessions/{id}`, `DELETE /sessions`: the user's login sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response

from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import AUTH, answers, no_store
from fastauth.web.requests import client_ip
from fastauth.web.schemas import SessionOut

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The session routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    @router.get("/sessions", response_model=list[SessionOut], responses=answers(*AUTH))
    async def list_sessions(request: Request, user: User = Depends(auth.signed_in_user)) -> list[SessionOut]:
        """The user's live sessions; `current` marks the caller's."""
        current = request.state.fastauth_token.sid
        return [SessionOut.of(record, current) for record in await service.list_sessions(user)]

    @router.delete(
        "/sessions/{session_id}",
        status_code=204,
        responses=answers(*AUTH, "session_not_found", "invalid_body", extra={204: no_store("Revoked")}),
    )
    async def revoke_session(
        request: Request, session_id: str, user: User = Depends(auth.signed_in_user)
    ) -> Response:
        """Revoke one of the user's sessions (404 for anyone else's)."""
        await service.end_session(
            user, session_id, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        if session_id == request.state.fastauth_token.sid:
            return auth.transports.for_logout(request).logout_response()
        return Response(status_code=204)

    @router.delete(
        "/sessions", status_code=204, responses=answers(*AUTH, extra={204: no_store("Signed out everywhere")})
    )
    async def revoke_all_sessions(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Sign out everywhere, this session included."""
        await service.end_all_sessions(
            user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return auth.transports.for_logout(request).logout_response()

    return router
