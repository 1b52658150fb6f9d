"""`POST /register`, `/login`, `/refresh`, `/logout`: the routes that hand out and end token pairs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response

from fastauth.errors import NotAuthenticated, TokenError
from fastauth.tokens.engine import VerifiedToken
from fastauth.web.csrf import refuse_cross_site
from fastauth.web.errors import AnsweringRoute, respond
from fastauth.web.requests import client_ip, read_body, read_model
from fastauth.web.schemas import Credentials, RefreshIn, TokenOut
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["build"]

_LOGIN_BODY = {
    "requestBody": {
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
                    "required": ["username", "password"],
                }
            },
            "application/json": {"schema": Credentials.model_json_schema()},
        },
        "required": True,
    }
}


def build(auth: FastAuth) -> APIRouter:
    """The token routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    transports = auth.transports

    @router.post("/register", status_code=201, response_model=TokenOut)
    async def register(request: Request) -> Response:
        """Create an account and sign it in."""
        await service.ensure_started()
        transport = transports.for_request(request)
        if transport.name != "json":
            refuse_cross_site(request)
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

    @router.post("/login", response_model=TokenOut, openapi_extra=_LOGIN_BODY)
    async def login(request: Request) -> Response:
        """Email and password, as JSON `{email, password}` or the OAuth2 form (`username`, `password`)."""
        await service.ensure_started()
        transport = transports.for_request(request)
        if transport.name != "json":
            refuse_cross_site(request)
        data = await read_body(request)
        if "email" not in data and "username" in data:
            data["email"] = data["username"]
        creds = await read_model(request, Credentials, data)
        _, pair = await service.sign_in(
            creds.email, creds.password, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return transport.login_response(pair, 200, service.now())

    @router.post("/refresh", response_model=TokenOut)
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

    @router.post("/logout", status_code=204)
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
