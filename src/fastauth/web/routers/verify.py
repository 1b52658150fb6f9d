"""`POST /request-verify-token`, `POST /verify`: proving the email address (fastapi-users' verify router)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import BODY, answers, body
from fastauth.web.requests import client_ip, read_model
from fastauth.web.schemas import EmailIn, TokenIn, UserOut, user_read_model

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["ACCEPTED", "ACCEPTED_DOC", "build"]

#: The answer to a request that mails a code: the same for every address (fastapi-users' `null`).
ACCEPTED = b"null"
#: How the document shows that answer.
ACCEPTED_DOC = {
    "description": "Accepted: the same answer for any address",
    "content": {"application/json": {"schema": {"type": "null"}, "example": None}},
}


def build(auth: FastAuth) -> APIRouter:
    """The verification routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    @router.post(
        "/request-verify-token",
        status_code=202,
        response_model=None,
        openapi_extra=body(EmailIn),  # any text: answered alike
        responses=answers(*BODY, "rate_limited", "mail_off", "store_unavailable", extra={202: ACCEPTED_DOC}),
    )
    async def request_verify_token(request: Request) -> Response:
        """Mail a verification link to the address if it has an unverified account; 202 for any address."""
        await service.ensure_started()
        body = await read_model(request, EmailIn)
        await service.request_verification(
            body.email, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(ACCEPTED, 202, media_type="application/json")

    read = user_read_model(service.user_fields)

    @router.post(
        "/verify",
        response_model=read,
        openapi_extra=body(TokenIn),
        responses=answers(
            *BODY,
            "verify_user_bad_token",
            "verify_user_already_verified",
            "rate_limited",
            "store_unavailable",
        ),
    )
    async def verify(request: Request) -> UserOut:
        """Use the mailed code: the account's address is verified (400 `VERIFY_USER_BAD_TOKEN` otherwise)."""
        await service.ensure_started()
        body = await read_model(request, TokenIn)
        verified = await service.verify_email(
            body.token, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return read.of(verified)

    return router
