"""API keys: `POST /api-keys` (signed in recently; the key is shown once), `GET /api-keys`,
`DELETE /api-keys/{id}`.

All three take a person's access token only (`auth.signed_in_user`): a key never makes, lists or
revokes keys, so a leaked key cannot mint itself a successor. With `authz.api_keys_enabled` off the
routes are not added at all (404), and no key is accepted anywhere. docs/api-keys.md.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, Strict, StrictStr

from fastauth.errors import ApiKeyNotFound
from fastauth.storage.base import ApiKeyRecord, User
from fastauth.web.errors import AnsweringRoute
from fastauth.web.openapi import AUTH, BODY, answers, body, no_store
from fastauth.web.requests import read_model, seen
from fastauth.web.schemas import utc
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["ApiKeyCreated", "ApiKeyIn", "ApiKeyOut", "build"]

#: A key's id as the service makes them (`new_token_id`): anything else is no key, and is answered
#: 404 before a database read (a NUL or a megabyte in the path never reaches the store).
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
#: The longest `expires_in` the body takes (100 years), so `now + expires_in` always fits the column
#: even with `authz.api_key_max_ttl` unset; the configured maximum is checked by the service.
MAX_EXPIRES_IN = 100 * 365 * 24 * 3600
#: The most scopes one key is given.
MAX_SCOPES = 100


def _whole(value: object) -> object:
    """`3600.0` as 3600: JSON (and JSON Schema's `integer`) does not tell them apart. Anything else is
    left to the strict check: `"3600"`, `true` and `3600.5` are refused."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


class ApiKeyIn(BaseModel):
    """A new key: a name for people (1 to 100 characters, no control characters), the scopes (each
    one the caller holds now), and its lifetime in seconds (omitted or null: `authz.api_key_default_ttl`)."""

    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f]+$")]
    scopes: Annotated[list[StrictStr], Field(max_length=MAX_SCOPES)] = []
    expires_in: Annotated[
        Annotated[int, Field(ge=1, le=MAX_EXPIRES_IN), Strict()] | None, BeforeValidator(_whole)
    ] = None


class ApiKeyOut(BaseModel):
    """One of the caller's keys, never the key itself: `prefix` is its first characters, to recognise it."""

    id: str
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None

    @classmethod
    def of(cls, record: ApiKeyRecord) -> ApiKeyOut:
        """The public view of `record`."""
        return cls(
            id=record.id,
            name=record.name,
            prefix=record.prefix,
            scopes=list(record.scopes),
            created_at=utc(record.created_at),
            expires_at=utc(record.expires_at) if record.expires_at is not None else None,
            last_used_at=utc(record.last_used_at) if record.last_used_at is not None else None,
        )


class ApiKeyCreated(BaseModel):
    """A key just made: `key` is shown this once (only its hash is kept)."""

    id: str
    name: str
    key: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None


def build(auth: FastAuth) -> APIRouter:
    """The API-key routes of `auth` (none with `authz.api_keys_enabled` off)."""
    router = APIRouter(route_class=AnsweringRoute)
    if not auth.config.authz.api_keys_enabled:
        return router
    service = auth.service

    @router.post(
        "/api-keys",
        response_model=ApiKeyCreated,
        status_code=201,
        openapi_extra=body(ApiKeyIn, example={"name": "nightly export", "scopes": ["reports:read"]}),
        responses=answers(
            *AUTH,
            *BODY,
            "recent_sign_in_required",
            "invalid_scope",
            extra={201: no_store("The new key, shown once")},
        ),
    )
    async def create(request: Request, user: User = Depends(auth.signed_in_user)) -> Response:
        """A new API key of the caller, for `Authorization: Bearer fa_...`. Needs a recent sign-in
        (with the second factor, when the account has one); 400 `invalid_scope` for a scope the caller
        does not hold, a lifetime over `authz.api_key_max_ttl`, or too many live keys."""
        payload = await read_model(request, ApiKeyIn)
        text, record = await service.create_api_key(
            user,
            str(request.state.fastauth_token.sid),
            name=payload.name,
            scopes=payload.scopes,
            expires_in=payload.expires_in,
            **seen(request),
        )
        created = ApiKeyCreated(key=text, **ApiKeyOut.of(record).model_dump(exclude={"last_used_at"}))
        return JSONResponse(created.model_dump(mode="json"), 201, headers=NO_STORE)

    @router.get(
        "/api-keys",
        response_model=list[ApiKeyOut],
        responses=answers(*AUTH, extra={200: no_store("The caller's live keys, newest first")}),
    )
    async def listed(response: Response, user: User = Depends(auth.signed_in_user)) -> list[ApiKeyOut]:
        """The caller's keys that are not revoked (expired ones too, until revoked), newest first.
        `last_used_at` is written in batches, so it may be up to a couple of minutes behind."""
        response.headers.update(NO_STORE)
        return [ApiKeyOut.of(record) for record in await service.list_api_keys(user)]

    @router.delete(
        "/api-keys/{key_id}",
        status_code=204,
        responses=answers(*AUTH, "api_key_not_found", "invalid_body", extra={204: no_store("Revoked")}),
    )
    async def revoke(request: Request, key_id: str, user: User = Depends(auth.signed_in_user)) -> Response:
        """Revoke one of the caller's keys: refused at once by this process, and by the others at once
        with Redis (within `authz.api_key_cache_ttl` without). 404 for any other id."""
        if not _KEY_ID.fullmatch(key_id):
            raise ApiKeyNotFound("no such key")
        await service.revoke_api_key(key_id, user=user, **seen(request))
        return Response(status_code=204, headers=NO_STORE)

    return router
