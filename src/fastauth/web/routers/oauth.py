"""Sign in with a provider: `GET /oauth/providers`, `GET /oauth/{provider}/authorize`,
`GET /oauth/{provider}/callback`, `POST /oauth/token`, and the signed-in user's linked accounts
(`POST /oauth/{provider}/link`, `GET /oauth/accounts`, `DELETE /oauth/accounts/{id}`).

Every decision is the service's (`AuthService.oauth_*`); this module carries the state cookie, reads
the callback's query, and turns the outcome into a redirect: with cookie delivery (browsers) the
tokens go in cookies, otherwise the redirect carries a one-time `code` for `POST /oauth/token`.
Tokens never travel in a URL.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse, RedirectResponse
from pydantic import BaseModel

from fastauth.errors import FastAuthError, MFARequired
from fastauth.storage.base import IdentityRecord, User
from fastauth.web.csrf import refuse_cross_site
from fastauth.web.errors import AnsweringRoute, respond
from fastauth.web.openapi import (
    AUTH,
    BODY,
    OAUTH_AUTHORIZE,
    OAUTH_CALLBACK,
    OAUTH_EXCHANGE,
    REDIRECT_DOC,
    answers,
    body,
    no_store,
)
from fastauth.web.requests import client_ip, read_model
from fastauth.web.routers.mfa import mfa_answer, set_mfa_cookie
from fastauth.web.schemas import TokenOut, utc
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["AuthorizeOut", "ExchangeIn", "IdentityOut", "ProviderOut", "build", "with_query"]

#: The callback's URL holds a code: no page it leads to may send it on in a Referer.
_CALLBACK_HEADERS = {**NO_STORE, "Referrer-Policy": "no-referrer"}


class ProviderOut(BaseModel):
    """A configured provider, for a sign-in page's "Continue with ..." buttons."""

    name: str
    display_name: str
    authorize_url: str


class IdentityOut(BaseModel):
    """A provider account linked to the caller (never its tokens)."""

    id: str
    provider: str
    email: str | None
    created_at: datetime
    last_used_at: datetime

    @classmethod
    def of(cls, record: IdentityRecord) -> IdentityOut:
        """The public view of `record`."""
        return cls(
            id=record.id,
            provider=record.provider,
            email=record.email,
            created_at=utc(record.created_at),
            last_used_at=utc(record.last_used_at),
        )


class ExchangeIn(BaseModel):
    """`POST /oauth/token`: the one-time code the callback's redirect carried."""

    code: str


class AuthorizeOut(BaseModel):
    """For JavaScript clients: where to send the browser (the state cookie is set alongside)."""

    url: str


def with_query(url: str, **values: str) -> str:
    """`url` with `values` added to its query (an existing parameter of the same name is replaced)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in values]
    return urlunsplit(parts._replace(query=urlencode([*query, *values.items()])))


def build(auth: FastAuth) -> APIRouter:
    """The provider routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    cfg = auth.config
    secure = cfg.cookie_secure
    state_cookie = f"{'__Secure-' if secure else ''}fastauth_oauth_state"
    cookie_path = f"{cfg.route_prefix}/oauth"
    cookies_allowed = cfg.token_delivery == "cookie" or cfg.cookie_opt_in

    def set_state(response: Response, state: str) -> None:
        # Lax: the provider brings the browser back with a top-level GET from its own site.
        response.set_cookie(
            state_cookie, state, max_age=cfg.oauth_state_ttl, path=cookie_path, secure=secure,
            httponly=True, samesite="lax",
        )  # fmt: skip

    def clear_state(response: Response) -> None:
        response.delete_cookie(state_cookie, path=cookie_path, secure=secure, httponly=True, samesite="lax")

    def start_answer(request: Request, url: str, state: str) -> Response:
        wants_json = "application/json" in request.headers.get("accept", "")
        answer: Response = (
            JSONResponse({"url": url}, headers=NO_STORE)
            if wants_json
            else RedirectResponse(url, 302, NO_STORE)
        )
        set_state(answer, state)
        return answer

    @router.get("/oauth/providers", response_model=list[ProviderOut], responses=answers())
    async def providers() -> list[ProviderOut]:
        """The configured providers (empty when there are none)."""
        flows = service.oauth
        if flows is None:
            return []
        return [
            ProviderOut(
                name=name,
                display_name=provider.display_name,
                authorize_url=f"{cfg.route_prefix}/oauth/{name}/authorize",
            )
            for name, provider in flows.providers.items()
        ]

    @router.get(
        "/oauth/{provider}/authorize",
        response_model=AuthorizeOut,
        status_code=302,
        responses=answers(
            *OAUTH_AUTHORIZE,
            extra={
                200: {"model": AuthorizeOut, "description": "With `Accept: application/json`: `{url}`"},
                302: dict(REDIRECT_DOC),
            },
        ),
    )
    async def authorize(
        request: Request,
        provider: str,
        redirect_to: str | None = None,
        delivery: Literal["cookie", "code"] | None = None,
    ) -> Response:
        """Send the browser to the provider (302; `{url}` for `Accept: application/json`). `redirect_to`
        must be on the allow-list; `delivery=cookie` (browsers, where cookies are on) puts the tokens
        in cookies at the end, otherwise the end is a one-time `code` for `POST /oauth/token`."""
        await service.ensure_started()
        use_cookies = cfg.token_delivery == "cookie" or (delivery == "cookie" and cookies_allowed)
        url, state = await service.oauth_start(
            provider, redirect_to, delivery="cookie" if use_cookies else "code", ip=client_ip(request)
        )
        return start_answer(request, url, state)

    @router.get(
        "/oauth/{provider}/callback",
        status_code=302,
        response_class=RedirectResponse,
        responses=answers(*OAUTH_CALLBACK, extra={302: dict(REDIRECT_DOC)}),
    )
    async def callback(
        request: Request,
        provider: str,
        code: str | None = None,
        state: str | None = None,
        error: str | None = None,
    ) -> Response:
        """Where the provider sends the browser back: checked, then redirected to `redirect_to`, signed in
        (cookies) or with a one-time `code`; a refusal is the error table's answer."""
        await service.ensure_started()
        try:
            outcome = await service.oauth_callback(
                provider, state=state, cookie_state=request.cookies.get(state_cookie), code=code,
                error=error, ip=client_ip(request), user_agent=request.headers.get("user-agent"),
            )  # fmt: skip
        except MFARequired as required:
            # Cookie delivery (a browser): the MFA token in its own HttpOnly cookie, never in the URL;
            # the page back at redirect_to completes the sign-in with `POST /mfa/verify {code}`.
            back = required.redirect_to or f"{cfg.public_url}/"
            waiting = RedirectResponse(with_query(back, mfa_required="1"), 302, _CALLBACK_HEADERS)
            set_mfa_cookie(waiting, cfg, required.mfa_token)
            clear_state(waiting)
            return waiting
        except FastAuthError as refused:
            if cfg.ui_enabled and "text/html" in request.headers.get("accept", ""):
                # A browser on fastauth's own page: back to it, which says what went wrong.
                target = with_query(f"{cfg.public_url}/", oauth_error=refused.code)
                answer: Response = RedirectResponse(target, 302, _CALLBACK_HEADERS)
            else:
                answer = respond(refused, _CALLBACK_HEADERS)
            clear_state(answer)
            return answer
        if outcome.linked:
            target = with_query(outcome.redirect_to, linked=provider)
        elif outcome.exchange_code is not None:
            target = with_query(outcome.redirect_to, code=outcome.exchange_code)
        else:
            target = outcome.redirect_to
        answer = RedirectResponse(target, 302, _CALLBACK_HEADERS)
        if outcome.pair is not None:
            auth.transports.cookie.set_login_cookies(answer, outcome.pair, service.now())
        clear_state(answer)
        return answer

    @router.post(
        "/oauth/token",
        response_model=TokenOut,
        openapi_extra=body(ExchangeIn),
        responses=answers(*BODY, *OAUTH_EXCHANGE, extra={200: no_store("The token pair (or cookies)")}),
    )
    async def exchange(request: Request) -> Response:
        """Trade the callback's one-time `code` for tokens (SPAs, mobile apps); `400 invalid_code` for one
        unknown, spent or older than a minute."""
        await service.ensure_started()
        transport = auth.transports.for_request(request)
        if transport.name != "json":  # the answer sets sign-in cookies: no cross-site form may
            refuse_cross_site(request, auth.sign_in_origins)
        body = await read_model(request, ExchangeIn)
        try:
            _, pair = await service.oauth_exchange(
                body.code, ip=client_ip(request), user_agent=request.headers.get("user-agent")
            )
        except MFARequired as required:  # the provider's word is the first factor; a second follows
            return mfa_answer(required)
        return transport.login_response(pair, 200, service.now())

    @router.post(
        "/oauth/{provider}/link",
        response_model=AuthorizeOut,
        responses=answers(
            *AUTH, *OAUTH_AUTHORIZE, "email_not_verified", extra={200: no_store("Where to go")}
        ),
    )
    async def link(
        request: Request,
        provider: str,
        redirect_to: str | None = None,
        user: User = Depends(auth.signed_in_verified_user),
    ) -> Response:
        """Start linking a provider to the signed-in (verified) account: `{url}` to send the browser to;
        the flow is bound to this session, and ends back at `redirect_to` with `?linked=<provider>`."""
        url, state = await service.oauth_start(
            provider, redirect_to, link_user=user, link_session=request.state.fastauth_token.sid,
            ip=client_ip(request),
        )  # fmt: skip
        answer = JSONResponse({"url": url}, headers=NO_STORE)
        set_state(answer, state)
        return answer

    @router.get("/oauth/accounts", response_model=list[IdentityOut], responses=answers(*AUTH))
    async def accounts(user: User = Depends(auth.signed_in_user)) -> list[IdentityOut]:
        """The provider accounts linked to the caller, oldest first."""
        return [IdentityOut.of(record) for record in await service.list_identities(user)]

    @router.delete(
        "/oauth/accounts/{identity_id}",
        status_code=204,
        responses=answers(
            *AUTH, "identity_not_found", "last_sign_in_method", "recent_sign_in_required", "invalid_body"
        ),
    )
    async def unlink(
        request: Request, identity_id: str, user: User = Depends(auth.signed_in_user)
    ) -> Response:
        """Unlink one of the caller's provider accounts (404 for any other; 409 for the last way in)."""
        await service.unlink_identity(
            user, identity_id, ip=client_ip(request), user_agent=request.headers.get("user-agent")
        )
        return Response(status_code=204)

    return router
