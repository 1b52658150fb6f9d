"""`POST /forgot-password`, `POST /reset-password`: a new password through the mailed code (fastapi-users'
reset router)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request, Response

from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import BODY, answers, body, password_schema, with_properties
from fastauth.web.requests import client_ip, read_model
from fastauth.web.routers.verify import ACCEPTED, ACCEPTED_DOC
from fastauth.web.schemas import EmailIn, ResetPasswordIn

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]


def build(auth: FastAuth) -> APIRouter:
    """The password-reset routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    new_password = password_schema(auth.config.password_min_length, service.accounts.password_max_length)

    @router.post(
        "/forgot-password",
        status_code=202,
        response_model=None,
        openapi_extra=body(EmailIn),  # any text: answered alike
        responses=answers(*BODY, "rate_limited", "mail_off", "store_unavailable", extra={202: ACCEPTED_DOC}),
    )
    async def forgot_password(request: Request) -> Response:
        """Mail a reset link if the address has an account; the same 202, body and timing for any address."""
        await service.ensure_started()
        body = await read_model(request, EmailIn)
        await service.forgot_password(
            body.email, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(ACCEPTED, 202, media_type="application/json")

    @router.post(
        "/reset-password",
        response_model=None,
        openapi_extra=body(with_properties(ResetPasswordIn, password=new_password)),
        responses=answers(
            *BODY, "reset_password_bad_token", "password_policy", "rate_limited", "store_unavailable",
            extra={200: {**ACCEPTED_DOC, "description": "The password is changed; every session ended"}},
        ),
    )  # fmt: skip
    async def reset_password(request: Request) -> Response:
        """Set a new password with the mailed code; every session of the account ends (no sign-in)."""
        await service.ensure_started()
        body = await read_model(request, ResetPasswordIn)
        await service.reset_password(
            body.token, body.password, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(ACCEPTED, 200, media_type="application/json")

    if auth.config.ui_enabled:  # the mailed link's page: the path's GET beside the API's POST
        from fastapi.responses import HTMLResponse

        from fastauth.ui import reset_page

        page = reset_page(auth)
        html: dict[int | str, dict[str, Any]] = {
            200: {"content": {"text/html": {}}, "description": "The page (its form POSTs the code)"}
        }
        router.add_api_route(
            "/reset-password", page, methods=["GET"], response_class=HTMLResponse, responses=html
        )
        # HEAD too (a mail scanner's), spending nothing; not another operation in the document.
        router.add_api_route(
            "/reset-password", page, methods=["HEAD"], response_class=HTMLResponse, include_in_schema=False
        )

    return router
