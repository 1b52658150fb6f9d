"""`POST /forgot-password`, `POST /reset-password`: a new password through the mailed code (fastapi-users'
reset router)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from fastauth.web.errors import AnsweringRoute
from fastauth.web.requests import client_ip, read_model
from fastauth.web.routers.verify import ACCEPTED
from fastauth.web.schemas import EmailIn, ResetPasswordIn

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The password-reset routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    @router.post("/forgot-password", status_code=202, response_model=None)
    async def forgot_password(request: Request) -> Response:
        """Mail a reset link if the address has an account; the same 202, body and timing for any address."""
        await service.ensure_started()
        body = await read_model(request, EmailIn)
        await service.forgot_password(
            body.email, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(ACCEPTED, 202, media_type="application/json")

    @router.post("/reset-password", response_model=None)
    async def reset_password(request: Request) -> Response:
        """Set a new password with the mailed code; every session of the account ends (no sign-in)."""
        await service.ensure_started()
        body = await read_model(request, ResetPasswordIn)
        await service.reset_password(
            body.token, body.password, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(ACCEPTED, 200, media_type="application/json")

    return router
