"""`POST /register`, `/login`, `/refresh`, `/logout`: the routes that hand out and end token pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from fastauth.errors import MFARequired, NotAuthenticated, TokenError
from fastauth.tokens.engine import VerifiedToken
from fastauth.web.csrf import refuse_cross_site
from fastauth.web.errors import AnsweringRoute, respond
from fastauth.web.openapi import (
    AUTH,
    BODY,
    EMAIL,
    answers,
    body,
    no_store,
    password_schema,
    register_schema,
    with_properties,
)
from fastauth.web.requests import client_ip, read_body, read_model
from fastauth.web.routers.mfa import mfa_answer
from fastauth.web.schemas import Credentials, RefreshIn, TokenOut
from fastauth.web.security import SCHEME_NAME
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]

_OAUTH2_FORM = {
    "type": "object",
    "properties": {"username": {"type": "string"}, "password": {"type": "string", "format": "password"}},
    "required": ["username", "password"],
}
_LOGIN_BODY = body(
    Credentials, form=_OAUTH2_FORM, example={"email": "ada@example.com", "password": "correct horse"}
)
_REFRESH_BODY = body(RefreshIn, required=False, example={"refresh_token": "eyJ..."})
#: Every sign-in can be refused by the rate limits, the `allow_signin` hook, the store, or (cookies) as
#: a cross-site request.
_SIGN_IN = ("rate_limited", "signin_not_allowed", "cross_site_signin", "store_unavailable")


def build(auth: FastAuth) -> APIRouter:
    """The token routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    transports = auth.transports

    new_password = password_schema(auth.config.password_min_length, service.accounts.password_max_length)
    register_body = body(
        with_properties(
            register_schema(service.user_fields, Credentials), email=EMAIL, password=new_password
        ),
        example={"email": "ada@example.com", "password": "correct horse battery staple"},
    )

    @router.post(
        "/register",
        status_code=201,
        response_model=TokenOut,
        openapi_extra=register_body,
        responses=answers(
            *BODY, *_SIGN_IN, "email_taken", "field_taken", "invalid_user_fields", "invalid_email",
            "password_policy", extra={201: no_store("Signed in: the token pair (or cookies)")},
        ),
    )  # fmt: skip
    async def register(request: Request) -> Response:
        """Create an account and sign it in."""
        await service.ensure_started()
        transport = transports.for_request(request)
        if transport.name != "json":
            refuse_cross_site(request, auth.sign_in_origins)
        data = await read_body(request)
        creds = await read_model(request, Credentials, data)
        # The application's fields sit beside email and password (fastapi-users' `UserCreate`); other
        # keys (`is_superuser`...) are ignored, as there.
        chosen = {name: value for name, value in data.items() if name in service.field_specs}
        _, pair = await service.register(
            creds.email,
            creds.password,
            fields=chosen,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        return transport.login_response(pair, 201, service.now())

    @router.post(
        "/login",
        response_model=TokenOut,
        openapi_extra=_LOGIN_BODY,
        responses=answers(
            *BODY, *_SIGN_IN, "invalid_credentials", extra={200: no_store("The token pair (or cookies)")}
        ),
    )
    async def login(request: Request) -> Response:
        """Email and password, as JSON `{email, password}` or the OAuth2 form (`username`, `password`)."""
        await service.ensure_started()
        transport = transports.for_request(request)
        if transport.name != "json":
            refuse_cross_site(request, auth.sign_in_origins)
        data = await read_body(request)
        if "email" not in data and "username" in data:
            data["email"] = data["username"]
        creds = await read_model(request, Credentials, data)
        try:
            _, pair = await service.sign_in(
                creds.email,
                creds.password,
                ip=client_ip(request),
                user_agent=request.headers.get("user-agent"),
            )
        except MFARequired as required:  # the password was right; the second factor comes next
            return mfa_answer(required)
        return transport.login_response(pair, 200, service.now())

    @router.post(
        "/refresh",
        response_model=TokenOut,
        openapi_extra=_REFRESH_BODY,
        responses=answers(
            *BODY, "not_authenticated", "invalid_token", "csrf_failed", "signin_not_allowed", "rate_limited",
            "store_unavailable", extra={200: no_store("The new token pair (or cookies)")},
        ),
    )  # fmt: skip
    async def refresh(request: Request) -> Response:
        """Rotate: a new pair for a refresh token (body or cookie); the old one is spent."""
        await service.ensure_started()
        body = await read_model(request, RefreshIn)
        transport = transports.for_request(request)
        raw = transport.read_refresh(request, body.refresh_token)
        if raw is None:
            raise NotAuthenticated("no refresh token")
        try:
            if raw.source == "cookie":
                auth.csrf.require(
                    request, (await service.verify_refresh(raw.value)).sid, auth.cookies.csrf(request)
                )
            _, pair = await service.refresh(
                raw.value, ip=client_ip(request), user_agent=request.headers.get("user-agent")
            )
        except TokenError as error:
            if raw.source != "cookie":
                raise
            # A dead refresh cookie is of no use to the browser: clear them all with the refusal.
            answer = respond(error, NO_STORE)
            auth.cookies.clear(answer)
            return answer
        return transport.login_response(pair, 200, service.now())

    @router.post(
        "/logout",
        status_code=204,
        # The access token is optional here (the refresh token may name the session alone): `{}`
        # in the list says "or no security at all" (OpenAPI 3.1 §4.8.10).
        openapi_extra={**_REFRESH_BODY, "security": [{SCHEME_NAME: []}, {}]},
        responses=answers(*BODY, *AUTH, extra={204: no_store("Signed out")}),
    )
    async def logout(request: Request) -> Response:
        """End the session of the access token and/or of the refresh token (body or cookie).

        An expired access token is fine as long as the refresh token identifies the session.
        """
        await service.ensure_started()
        body = await read_model(request, RefreshIn)
        access: VerifiedToken | None
        try:
            access = await auth.authenticate(request)
        except (TokenError, NotAuthenticated):
            access = None
        transport = transports.for_logout(request)
        raw = transport.read_refresh(request, body.refresh_token)
        refresh: VerifiedToken | None = None
        if raw is not None:
            try:
                refresh = await service.verify_refresh(raw.value)
            except TokenError:
                refresh = None
            if refresh is not None and raw.source == "cookie" and access is None:
                auth.csrf.require(request, refresh.sid, auth.cookies.csrf(request))
        presented = raw is not None or bool(request.headers.get("authorization"))
        await service.sign_out(
            access=access,
            refresh=refresh,
            presented=presented,
            ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
        )
        return transport.logout_response()

    return router
