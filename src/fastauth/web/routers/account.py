"""`GET /me` and `POST /change-password`: the signed-in user's own account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response

from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.requests import client_ip, read_model
from fastauth.web.schemas import ChangePasswordIn, UserOut

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The account routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    @router.get("/me", response_model=UserOut)
    async def me(user: User = Depends(auth.get_current_user)) -> UserOut:
        """The signed-in user (never the password hash)."""
        return UserOut.of(user)

    @router.post("/change-password", status_code=204)
    async def change_password(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Needs the current password; every other session of the user is revoked."""
        body = await read_model(request, ChangePasswordIn)
        await service.change_password(
            user, body.current_password, body.new_password, ip=client_ip(request),
            keep_session=request.state.fastauth_token.sid,
        )  # fmt: skip
        return Response(status_code=204)

    return router
