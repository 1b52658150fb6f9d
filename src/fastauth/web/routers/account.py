"""`GET /me`, `PATCH /me`, `DELETE /me`, `POST /change-password`, `POST /change-email` (and its
`/confirm`): the signed-in user's own account."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Depends, Request, Response

from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import (
    AUTH,
    BODY,
    EMAIL,
    answers,
    body,
    password_schema,
    update_me_schema,
    with_properties,
)
from fastauth.web.requests import client_ip, read_body, read_model
from fastauth.web.routers.verify import ACCEPTED, ACCEPTED_DOC
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
    new_password = password_schema(auth.config.password_min_length, service.accounts.password_max_length)

    # A user may change their email and password only through their own routes; a changed email is
    # mailed (202), a wrong password refused (400), a sign-in too old (401 recent_sign_in_required).
    confirm = ("current_password_wrong", "recent_sign_in_required", "rate_limited")

    @router.get("/me", response_model=read, responses=answers(*AUTH))
    async def me(user: User = Depends(auth.signed_in_user)) -> UserOut:
        """The signed-in user with the application's fields (never the password hash)."""
        return read.of(user)

    @router.patch(
        "/me",
        response_model=read,
        openapi_extra=body(update_me_schema(service.user_fields), required=False),  # none: no change
        responses=answers(*AUTH, *BODY, "invalid_user_fields", "field_taken", "invalid_credentials"),
    )
    async def update_me(request: Request, user: User = Depends(auth.signed_in_user)) -> UserOut:
        """Change the application's `Writable` fields (only those given); anything else, such as the
        email or `is_superuser`, is refused with 422."""
        changed = await service.update_fields(user, await read_body(request), by_user=True)
        return read.of(changed)

    @router.post(
        "/change-password",
        status_code=204,
        openapi_extra=body(with_properties(ChangePasswordIn, new_password=new_password)),
        responses=answers(*AUTH, *BODY, *confirm, "password_policy"),
    )
    async def change_password(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Needs the current password; every other session of the user is revoked."""
        body = await read_model(request, ChangePasswordIn)
        await service.change_password(
            user, body.current_password, body.new_password, ip=client_ip(request),
            keep_session=request.state.fastauth_token.sid, user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        return Response(status_code=204)

    @router.delete(
        "/me",
        status_code=204,
        openapi_extra=body(PasswordIn, required=False),
        responses=answers(*AUTH, *BODY, *confirm),
    )
    async def delete_me(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Delete the account (the current password confirms it); every device is signed out."""
        body = await read_model(request, PasswordIn)
        await service.delete_account(
            user, body.password, session_id=request.state.fastauth_token.sid, ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )  # fmt: skip
        return auth.transports.for_logout(request).logout_response()

    @router.post(
        "/change-email",
        status_code=202,
        response_model=None,
        openapi_extra=body(with_properties(ChangeEmailIn, new_email=EMAIL)),
        responses=answers(*AUTH, *BODY, *confirm, "invalid_email", "mail_off", extra={202: ACCEPTED_DOC}),
    )
    async def change_email(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
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

    @router.post(
        "/change-email/confirm",
        response_model=read,
        openapi_extra=body(TokenIn),
        responses=answers(*AUTH, *BODY, "change_email_bad_token", "email_taken", "rate_limited"),
    )
    async def confirm_email_change(request: Request, user: User = Depends(auth.signed_in_user)) -> UserOut:
        """Use the mailed code, signed in as the account that asked: it moves to the new address
        (400 `CHANGE_EMAIL_BAD_TOKEN` otherwise)."""
        body = await read_model(request, TokenIn)
        moved = await service.confirm_email_change(
            body.token, owner=user, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return read.of(moved)

    return router
