"""Passkeys: `POST /passkeys/register/options` + `/register/verify` (signed in, recently),
`GET /passkeys`, `PATCH`/`DELETE /passkeys/{id}`, and the passwordless sign-in
`POST /passkeys/login/options` + `/login/verify`.

The options are WebAuthn's JSON forms (`PublicKeyCredentialCreationOptionsJSON`,
`PublicKeyCredentialRequestOptionsJSON`): a page passes them to
`PublicKeyCredential.parseCreationOptionsFromJSON` (or decodes the base64url fields itself) and posts
back `credential.toJSON()`. A passkey as the second
factor after a password lives with the other second factors: `POST /mfa/passkey/options` and
`POST /mfa/verify {credential}`.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from fastauth.storage.base import PasskeyRecord, User
from fastauth.web.csrf import refuse_cross_site
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import AUTH, BODY, answers, body, no_store
from fastauth.web.requests import client_ip, read_model, seen
from fastauth.web.schemas import TokenOut, utc
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["CredentialIn", "PasskeyOut", "RegisterIn", "RenameIn", "build"]

_CREDENTIAL_EXAMPLE = {
    "id": "lzv1...",
    "rawId": "lzv1...",
    "type": "public-key",
    "response": {"clientDataJSON": "eyJ0...", "authenticatorData": "SZYN...", "signature": "MEUC..."},
}


class PasskeyOut(BaseModel):
    """One of the caller's passkeys (never its key material)."""

    id: str
    name: str
    created_at: datetime
    last_used_at: datetime | None
    #: Whether the key may be synced between devices (a passkey manager's) or is bound to one.
    synced: bool
    transports: list[str]

    @classmethod
    def of(cls, record: PasskeyRecord) -> PasskeyOut:
        """The public view of `record`."""
        return cls(
            id=record.id,
            name=record.name,
            created_at=utc(record.created_at),
            last_used_at=utc(record.last_used_at) if record.last_used_at is not None else None,
            synced=record.backup_eligible,
            transports=list(record.transports),
        )


class RegisterIn(BaseModel):
    """What `navigator.credentials.create()` returned (`credential.toJSON()`), and a name for it."""

    credential: dict[str, Any]
    name: str | None = None


class CredentialIn(BaseModel):
    """What `navigator.credentials.get()` returned (`credential.toJSON()`)."""

    credential: dict[str, Any]


class RenameIn(BaseModel):
    """A passkey's new name (1 to 64 printable characters)."""

    name: str


_OPTIONS = {200: no_store("WebAuthn options for the browser")}
_REFUSED = ("invalid_passkey", "passkeys_off", "rate_limited")


def build(auth: FastAuth) -> APIRouter:
    """The passkey routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service

    def session_of(request: Request) -> str:
        return str(request.state.fastauth_token.sid)

    @router.post(
        "/passkeys/register/options",
        response_model=dict[str, Any],
        responses=answers(*AUTH, "recent_sign_in_required", "passkeys_off", "rate_limited", extra=_OPTIONS),
    )
    async def register_options(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Options for `navigator.credentials.create()`: a discoverable, user-verified passkey for the
        caller, their passkeys excluded. Needs a recent sign-in (with the second factor, when the
        account has one)."""
        options = await service.passkey_registration_options(
            user, session_id=session_of(request), ip=client_ip(request)
        )
        return JSONResponse(options, headers=NO_STORE)

    @router.post(
        "/passkeys/register/verify",
        response_model=PasskeyOut,
        status_code=201,
        openapi_extra=body(RegisterIn, example={"credential": _CREDENTIAL_EXAMPLE, "name": "Laptop"}),
        responses=answers(*AUTH, *BODY, "recent_sign_in_required", *_REFUSED),
    )
    async def register_verify(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """Store the passkey `navigator.credentials.create()` made for the options above."""
        payload = await read_model(request, RegisterIn)
        record = await service.passkey_register(
            user, payload.credential, payload.name, session_id=session_of(request), **seen(request)
        )
        return JSONResponse(PasskeyOut.of(record).model_dump(mode="json"), 201, headers=NO_STORE)

    @router.get("/passkeys", response_model=list[PasskeyOut], responses=answers(*AUTH))
    async def listed(user: User = Depends(auth.signed_in_user)) -> list[PasskeyOut]:
        """The caller's passkeys, oldest first."""
        return [PasskeyOut.of(record) for record in await service.list_passkeys(user)]

    @router.patch(
        "/passkeys/{passkey_id}",
        response_model=PasskeyOut,
        openapi_extra=body(RenameIn, example={"name": "Phone"}),
        responses=answers(*AUTH, *BODY, "passkey_not_found", "invalid_passkey"),
    )
    async def rename(
        request: Request, passkey_id: str, user: User = Depends(auth.signed_in_user)
    ) -> PasskeyOut:
        """Rename one of the caller's passkeys."""
        payload = await read_model(request, RenameIn)
        renamed = await service.rename_passkey(user, passkey_id, payload.name, **seen(request))
        return PasskeyOut.of(renamed)

    @router.delete(
        "/passkeys/{passkey_id}",
        status_code=204,
        responses=answers(
            *AUTH, "passkey_not_found", "last_sign_in_method", "recent_sign_in_required", "invalid_body"
        ),
    )
    async def remove(
        request: Request, passkey_id: str, user: User = Depends(auth.signed_in_user)
    ) -> Response:
        """Remove one of the caller's passkeys (a recent sign-in needed, as to add one; 409 when it is
        the account's last way in)."""
        await service.delete_passkey(user, passkey_id, session_id=session_of(request), **seen(request))
        return Response(status_code=204)

    @router.post(
        "/passkeys/login/options",
        response_model=dict[str, Any],
        responses=answers("passkeys_off", "rate_limited", "store_unavailable", extra=_OPTIONS),
    )
    async def login_options(request: Request) -> Response:
        """Options for `navigator.credentials.get()`: a passwordless sign-in with any passkey of this
        site (the browser offers the user's own)."""
        await service.ensure_started()
        options = await service.passkey_login_options(ip=client_ip(request))
        return JSONResponse(options, headers=NO_STORE)

    @router.post(
        "/passkeys/login/verify",
        response_model=TokenOut,
        openapi_extra=body(CredentialIn, example={"credential": _CREDENTIAL_EXAMPLE}),
        responses=answers(
            *BODY,
            *_REFUSED,
            "invalid_credentials",
            "signin_not_allowed",
            "email_not_verified",
            "cross_site_signin",
            "store_unavailable",
            extra={200: no_store("Tokens")},
        ),
    )
    async def login_verify(request: Request) -> Response:
        """Sign in with a passkey: tokens whose `amr` says `hwk` (or `swk`) and `mfa`."""
        await service.ensure_started()
        transport = auth.transports.for_request(request)
        if transport.name != "json":  # the answer sets sign-in cookies: no cross-site form may
            refuse_cross_site(request, auth.sign_in_origins)
        payload = await read_model(request, CredentialIn)
        _, pair = await service.passkey_sign_in(payload.credential, **seen(request))
        return transport.login_response(pair, 200, service.now())

    return router
