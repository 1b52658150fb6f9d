"""Second factors: `GET /mfa`, `POST /mfa/totp/setup`, `/mfa/totp/confirm`, `/mfa/totp/disable`,
`/mfa/recovery-codes`, and `POST /mfa/verify`, which completes a sign-in a first factor began.

A sign-in of an account with TOTP answers `{"mfa_required": true, "mfa_token", "methods"}` instead of
tokens (`mfa_answer`); a browser that signed in through a provider gets the MFA token in an HttpOnly
cookie instead (`set_mfa_cookie`), and `POST /mfa/verify` reads it from there when the body has none.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, model_validator

from fastauth.errors import MFARequired, NotAuthenticated
from fastauth.storage.base import User
from fastauth.web.csrf import refuse_cross_site
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import AUTH, BODY, answers, body, no_store
from fastauth.web.requests import client_ip, read_model, seen
from fastauth.web.schemas import TokenOut
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.config import FastAuthConfig
    from fastauth.web.auth import FastAuth

__all__ = [
    "CodeIn",
    "DisableIn",
    "MFARequiredOut",
    "MFAStatusOut",
    "MFATokenIn",
    "MFAVerifyIn",
    "RecoveryCodesOut",
    "TotpSetupOut",
    "build",
    "mfa_answer",
    "mfa_cookie_name",
    "set_mfa_cookie",
]


class MFARequiredOut(BaseModel):
    """A first factor was right; a second one completes the sign-in at `POST /mfa/verify`."""

    mfa_required: bool = True
    mfa_token: str
    methods: list[str]


class MFAVerifyIn(BaseModel):
    """The MFA token (or its cookie) and one second factor: a TOTP code or a recovery code (`code`),
    or a passkey's answer to `POST /mfa/passkey/options` (`credential`, `credential.toJSON()`)."""

    mfa_token: str | None = None
    code: str | None = None
    credential: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one_factor(self) -> MFAVerifyIn:
        if (self.code is None) == (self.credential is None):
            raise ValueError("give either code or credential")
        return self


class MFATokenIn(BaseModel):
    """The MFA token of the sign-in (left out when it is in its cookie)."""

    mfa_token: str | None = None


class CodeIn(BaseModel):
    """A TOTP code (or, where a fresh second factor confirms, a recovery code)."""

    code: str


class DisableIn(BaseModel):
    """Turning TOTP off: the password (left out by an account without one) and a current code."""

    password: str | None = None
    code: str


class TotpSetupOut(BaseModel):
    """A TOTP enrolment under way: enter the secret, or scan the QR code of the URI."""

    secret: str
    otpauth_uri: str
    qr_svg: str


class RecoveryCodesOut(BaseModel):
    """Single-use codes for when the authenticator is lost: shown this once, never again."""

    recovery_codes: list[str]


class MFAStatusOut(BaseModel):
    """The caller's second factors."""

    totp: bool
    recovery_codes_left: int


#: `MFAVerifyIn` as the document says it: exactly one of `code` and `credential` (pydantic's own
#: schema cannot say "one of two optional fields").
_VERIFY_SCHEMA = {
    "title": "MFAVerifyIn",
    "description": MFAVerifyIn.__doc__,
    "type": "object",
    "properties": {
        "mfa_token": {"type": "string", "description": "Left out when the MFA token is in its cookie."},
        "code": {"type": "string", "description": "A TOTP code or a recovery code."},
        "credential": {"type": "object", "description": "A passkey's `credential.toJSON()`."},
    },
    "oneOf": [{"required": ["code"]}, {"required": ["credential"]}],
}


def mfa_cookie_name(config: FastAuthConfig) -> str:
    """The MFA token's cookie (a provider sign-in in a browser)."""
    return f"{'__Secure-' if config.cookie_secure else ''}fastauth_mfa"


def set_mfa_cookie(response: Response, config: FastAuthConfig, token: str) -> None:
    """The MFA token in an HttpOnly cookie on the MFA routes only, for as long as it lives."""
    response.set_cookie(
        mfa_cookie_name(config), token, max_age=config.jwt.mfa_token_ttl,
        path=f"{config.route_prefix}/mfa", secure=config.cookie_secure, httponly=True, samesite="lax",
    )  # fmt: skip


def mfa_answer(required: MFARequired) -> Response:
    """The answer of a sign-in stopped at its second factor (200: the first factor was right)."""
    out = MFARequiredOut(mfa_token=required.mfa_token, methods=list(required.methods))
    return JSONResponse(out.model_dump(), 200, headers=NO_STORE)


def build(auth: FastAuth) -> APIRouter:
    """The second-factor routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    cfg = auth.config

    @router.post(
        "/mfa/verify",
        response_model=TokenOut,
        openapi_extra=body(_VERIFY_SCHEMA, example={"mfa_token": "eyJ...", "code": "123456"}),
        responses=answers(
            *BODY,
            "invalid_token",
            "invalid_code",
            "invalid_mfa_code",
            "invalid_passkey",
            "mfa_not_enabled",
            "cross_site_signin",
            "signin_not_allowed",
            "rate_limited",
            "store_unavailable",
            extra={200: no_store("Tokens")},
        ),
    )
    async def verify(request: Request) -> Response:
        """Complete a sign-in: the MFA token of its first factor and a TOTP code, a recovery code or a
        passkey."""
        await service.ensure_started()
        transport = auth.transports.for_request(request)
        if transport.name != "json":  # the answer sets sign-in cookies: no cross-site form may
            refuse_cross_site(request, auth.sign_in_origins)
        payload = await read_model(request, MFAVerifyIn)
        token = payload.mfa_token or request.cookies.get(mfa_cookie_name(cfg))
        if not token:
            raise NotAuthenticated("no MFA token")
        _, pair = await service.mfa_complete(
            token, payload.code, credential=payload.credential, **seen(request)
        )
        answer = transport.login_response(pair, 200, service.now())
        answer.delete_cookie(mfa_cookie_name(cfg), path=f"{cfg.route_prefix}/mfa")
        return answer

    @router.post(
        "/mfa/passkey/options",
        response_model=dict[str, Any],
        openapi_extra=body(MFATokenIn, required=False, example={"mfa_token": "eyJ..."}),
        responses=answers(
            *BODY, "invalid_token", "invalid_code", "mfa_not_enabled", "passkeys_off", "rate_limited",
            extra={200: no_store("WebAuthn options for the browser")},
        ),
    )  # fmt: skip
    async def passkey_options(request: Request) -> Response:
        """Options for `navigator.credentials.get()`: a passkey as the second factor of the sign-in
        whose MFA token (or its cookie) is given; the answer goes to `POST /mfa/verify {credential}`."""
        await service.ensure_started()
        payload = await read_model(request, MFATokenIn)
        token = payload.mfa_token or request.cookies.get(mfa_cookie_name(cfg))
        if not token:
            raise NotAuthenticated("no MFA token")
        options = await service.passkey_second_factor_options(token, ip=client_ip(request))
        return JSONResponse(options, headers=NO_STORE)

    @router.get("/mfa", response_model=MFAStatusOut, responses=answers(*AUTH))
    async def status(user: User = Depends(auth.signed_in_user)) -> MFAStatusOut:
        """Whether TOTP is on, and how many recovery codes are left."""
        totp, left = await service.mfa_status(user)
        return MFAStatusOut(totp=totp, recovery_codes_left=left)

    @router.post(
        "/mfa/totp/setup", response_model=TotpSetupOut, responses=answers(*AUTH, "mfa_already_enabled")
    )
    async def setup(user: User = Depends(auth.signed_in_user)) -> Response:
        """A new TOTP secret (not active until confirmed) with its `otpauth://` URI and QR code (SVG)."""
        made = await service.mfa_setup(user)
        out = TotpSetupOut(secret=made.secret, otpauth_uri=made.uri, qr_svg=made.qr_svg)
        return JSONResponse(out.model_dump(), headers=NO_STORE)

    @router.post(
        "/mfa/totp/confirm",
        response_model=RecoveryCodesOut,
        openapi_extra=body(CodeIn, example={"code": "123456"}),
        responses=answers(*AUTH, *BODY, "invalid_mfa_code", "mfa_not_enabled", "rate_limited"),
    )
    async def confirm(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Turn TOTP on with a code from the new secret: the recovery codes, shown once; every other
        session ends."""
        payload = await read_model(request, CodeIn)
        codes = await service.mfa_confirm(
            user, payload.code, keep_session=request.state.fastauth_token.sid, **seen(request)
        )
        return JSONResponse(RecoveryCodesOut(recovery_codes=codes).model_dump(), headers=NO_STORE)

    @router.post(
        "/mfa/recovery-codes",
        response_model=RecoveryCodesOut,
        openapi_extra=body(CodeIn, example={"code": "123456"}),
        responses=answers(*AUTH, *BODY, "invalid_mfa_code", "mfa_not_enabled", "rate_limited"),
    )
    async def regenerate(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """A new set of recovery codes (the old one void), confirmed by a current second factor."""
        payload = await read_model(request, CodeIn)
        codes = await service.mfa_regenerate_recovery_codes(user, payload.code, **seen(request))
        return JSONResponse(RecoveryCodesOut(recovery_codes=codes).model_dump(), headers=NO_STORE)

    @router.post(
        "/mfa/totp/disable",
        status_code=204,
        openapi_extra=body(DisableIn, example={"password": "correct horse", "code": "123456"}),
        responses=answers(
            *AUTH,
            *BODY,
            "current_password_wrong",
            "recent_sign_in_required",
            "invalid_mfa_code",
            "mfa_not_enabled",
            "rate_limited",
        ),
    )
    async def disable(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Turn TOTP off: the password (or, without one, a recent sign-in) and a current code."""
        payload = await read_model(request, DisableIn)
        await service.mfa_disable(
            user, payload.password, payload.code, session_id=request.state.fastauth_token.sid, **seen(request)
        )
        return Response(status_code=204, headers=NO_STORE)

    return router
