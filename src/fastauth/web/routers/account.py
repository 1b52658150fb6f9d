"""`GET /me`, `PATCH /me`, `DELETE /me`, `POST /change-password`, `POST /change-email` (and its
`/confirm`): the signed-in user's own account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response

from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.requests import client_ip, read_body, read_model
from fastauth.web.routers.verify import ACCEPTED
from fastauth.web.schemas import (
    ChangeEmailIn,
    ChangePasswordIn,
    PasswordIn,
    TokenIn,
    UserOut,
    user_read_model,
)

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The account routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    read = user_read_model(service.user_fields)

    @router.get("/me", response_model=read)
    async def me(user: User = Depends(auth.get_current_user)) -> UserOut:
        """The signed-in user with the application's fields (never the password hash)."""
        return read.of(user)

    @router.patch("/me", response_model=read)
    async def update_me(request: Request, user: User = Depends(auth.get_current_user)) -> UserOut:
        """Change the application's `Writable` fields (only those given); anything else, such as the
        email or `is_superuser`, is refused with 422."""
        changed = await service.update_fields(user, await read_body(request), by_user=True)
        return read.of(changed)

    @router.post("/change-password", status_code=204)
    async def change_password(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Needs the current password; every other session of the user is revoked."""
        body = await read_model(request, ChangePasswordIn)
        await service.change_password(
            user, body.current_password, body.new_password, ip=client_ip(request),
            keep_session=request.state.fastauth_token.sid, user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        return Response(status_code=204)

    @router.delete("/me", status_code=204)
    async def delete_me(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Delete the account (the current password confirms it); every device is signed out."""
        body = await read_model(request, PasswordIn)
        await service.delete_account(
            user, body.password, session_id=request.state.fastauth_token.sid, ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        return auth.transports.for_logout(request).logout_response()

    @router.post("/change-email", status_code=202, response_model=None)
    async def change_email(request: Request, user: User = Depends(auth.get_current_user)) -> Response:
        """Mail a confirmation link to the new address; the address changes when it is used."""
        body = await read_model(request, ChangeEmailIn)
        await service.request_email_change(
            user,
            body.new_email,
            body.password,
            session_id=request.state.fastauth_token.sid,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        return Response(ACCEPTED, 202, media_type="application/json")

    @router.post("/change-email/confirm", response_model=read)
    async def confirm_email_change(request: Request, user: User = Depends(auth.get_current_user)) -> UserOut:
        """Use the mailed code, signed in as the account that asked: it moves to the new address
        (400 `CHANGE_EMAIL_BAD_TOKEN` otherwise)."""
        body = await read_model(request, TokenIn)
        moved = await service.confirm_email_change(
            body.token, owner=user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return read.of(moved)

    return router
