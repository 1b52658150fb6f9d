"""fastapi-users' `get_users_router` paths, for `app.include_router(auth.users_router(), prefix="/users")`:
`GET /me`, `PATCH /me` (the caller's own account, as fastauth's `GET/PATCH {route_prefix}/me`) and
`GET /{id}`, `PATCH /{id}`, `DELETE /{id}` for superusers (403 for anyone else, 404 for an unknown id,
as fastapi-users answers). A client written for fastapi-users keeps its calls; what differs is in
docs/admin.md: nobody changes an email or a password here (fastauth's own routes do that, with their
confirmations), and a superuser deletes their own account at `DELETE {route_prefix}/me`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Request, Response

from fastauth.fields import UserFields
from fastauth.storage.base import User
from fastauth.web.errors import AnsweringRoute, share_allow, web_error
from fastauth.web.openapi import AUTH, BODY, answers, body, no_store, update_me_schema, with_properties
from fastauth.web.requests import read_body, seen
from fastauth.web.schemas import UserOut, user_read_model
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = ["FLAGS", "build"]

#: The account flags a superuser sets through `PATCH /{id}`; every other key is an application field.
FLAGS = ("is_active", "is_verified", "is_superuser")
#: fastapi-users' `UserUpdate` keys fastauth changes only through the user's own confirmed routes.
_NOT_HERE = ("email", "password")


def _superuser_patch_schema(fields: type[UserFields]) -> dict[str, Any]:
    """`PATCH /{id}`'s body: the flags and the application's fields, each optional."""
    schema = with_properties(fields, **{name: {"type": "boolean"} for name in FLAGS})
    schema.pop("required", None)
    return {**schema, "title": "UserAdminUpdate", "type": "object"}


def build(auth: FastAuth) -> APIRouter:
    """fastapi-users' users routes on `auth`."""
    router = APIRouter(route_class=AnsweringRoute, tags=["users"])
    service = auth.service
    read = user_read_model(service.user_fields)
    superuser_body = _superuser_patch_schema(service.user_fields)
    superuser_codes = (*AUTH, "permission_denied", "user_not_found", "invalid_body")

    @router.get("/me", response_model=read, responses=answers(*AUTH))
    async def me(user: User = Depends(auth.signed_in_user)) -> UserOut:
        """The signed-in user (as `GET {route_prefix}/me`)."""
        return read.of(user)

    @router.patch(
        "/me",
        response_model=read,
        openapi_extra=body(update_me_schema(service.user_fields), required=False),
        responses=answers(*AUTH, *BODY, "invalid_user_fields", "field_taken", "invalid_credentials"),
    )
    async def update_me(request: Request, user: User = Depends(auth.signed_in_user)) -> UserOut:
        """Change the application's `Writable` fields (as `PATCH {route_prefix}/me`); the email and
        the password change through `{route_prefix}/change-email` and `/change-password`."""
        changed = await service.update_fields(user, await read_body(request), by_user=True)
        return read.of(changed)

    @router.get(
        "/{id}",
        response_model=read,
        responses=answers(*superuser_codes, extra={200: no_store("The user")}),
    )
    async def get_user(response: Response, id: str, _: User = Depends(auth.get_current_superuser)) -> UserOut:
        """A user, for a superuser (403 for anyone else, 404 for an unknown id)."""
        response.headers.update(NO_STORE)
        return read.of(await service.admin_get_user(id))

    @router.patch(
        "/{id}",
        response_model=read,
        openapi_extra=body(superuser_body, required=False),
        responses=answers(
            *superuser_codes, *BODY, "invalid_user_fields", "field_taken", extra={200: no_store("The user")}
        ),
    )
    async def update_user(
        request: Request, response: Response, id: str, actor: User = Depends(auth.get_current_superuser)
    ) -> UserOut:
        """Set a user's flags and the application's fields, for a superuser (audited with them as the
        actor; deactivation ends the user's sessions at once). `email` and `password` are refused."""
        data = await read_body(request)
        refused = sorted(name for name in data if name in _NOT_HERE)
        if refused:
            raise web_error("invalid_body", f"Not changeable here: {', '.join(refused)}")
        flags = {name: data.pop(name) for name in FLAGS if name in data}
        wrong = sorted(name for name, value in flags.items() if type(value) is not bool)
        if wrong:
            raise web_error("invalid_body", f"Missing or invalid fields: {', '.join(wrong)}")
        user = await service.admin_update_user(
            actor, None, id, flags, fields=data, end_sessions=False, **seen(request)
        )
        response.headers.update(NO_STORE)
        return read.of(user)

    @router.delete(
        "/{id}", status_code=204, responses=answers(*superuser_codes, extra={204: no_store("Deleted")})
    )
    async def delete_user(
        request: Request, id: str, actor: User = Depends(auth.get_current_superuser)
    ) -> Response:
        """Delete a user and end their sessions, for a superuser (audited with them as the actor)."""
        await service.admin_delete_user(actor, None, id, **seen(request))
        return Response(status_code=204, headers=NO_STORE)

    share_allow(router.routes)
    return router
