"""The admin API: `GET /admin/audit`, the users (`/admin/users...`) and the roles (`/admin/roles...`).

Who may call it: an active superuser signed in with an access token, or anyone (or an API key with
the scope) holding `fastauth:admin`, read now from the store (`AuthService.admin_of`), so taking the
right away works at once. Everyone else gets 403 before anything is looked up, so the answer never
says whether an id exists. The rules on what an administrator may do (grant only what they hold,
leave superusers to superusers, never deactivate or demote themselves) are the service's, and so is
the audit of every change, with the acting administrator as `actor_id`. docs/admin.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool, create_model

from fastauth.authz import Principal
from fastauth.storage.base import RoleRecord, User
from fastauth.web.errors import AnsweringRoute, web_error
from fastauth.web.openapi import AUTH, BODY, answers, body, no_store
from fastauth.web.requests import read_model, seen
from fastauth.web.schemas import AuditOut, UserOut, user_read_model, utc
from fastauth.web.transports import NO_STORE

if TYPE_CHECKING:
    from fastauth.web.auth import FastAuth

__all__ = [
    "MAX_LIMIT",
    "MAX_PAGE",
    "Administrator",
    "EndedOut",
    "RoleIn",
    "RoleOut",
    "RolePatch",
    "UserPatch",
    "build",
]

#: The most records one request reads.
MAX_LIMIT = 500
#: The most users one page of `GET /admin/users` holds.
MAX_PAGE = 200
#: The largest `before` a database column (BIGINT) compares with.
_MAX_BIGINT = 2**63 - 1
#: The longest role description the table holds.
_DESCRIPTION = 200


@dataclass(frozen=True, slots=True)
class Administrator:
    """The caller of an admin route: the acting user and the permissions they may hand out (None: a
    superuser, all of them)."""

    user: User
    held: frozenset[str] | None


class UserPatch(BaseModel):
    """`PATCH /admin/users/{id}`: only what is given changes; any other key is refused (422)."""

    model_config = ConfigDict(extra="forbid")

    is_active: StrictBool | None = Field(None, description="False ends every session at once")
    is_verified: StrictBool | None = None
    is_superuser: StrictBool | None = Field(None, description="Only a superuser changes it")
    roles: list[str] | None = Field(
        None, max_length=100, description="The whole new list of role names (each a defined role)"
    )
    fields: dict[str, Any] | None = Field(None, description="The application's own user fields to set")
    end_sessions: StrictBool = Field(
        False, description="Also end every session now, so a change of roles reaches the tokens at once"
    )


class RoleIn(BaseModel):
    """`POST /admin/roles`: a new role."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="1 to 64 letters, digits or _ . : - (starting with a letter or digit)")
    permissions: list[str] = Field(default_factory=list, max_length=200)
    description: str = Field("", max_length=_DESCRIPTION)


class RolePatch(BaseModel):
    """`PATCH /admin/roles/{name}`: only what is given changes."""

    model_config = ConfigDict(extra="forbid")

    permissions: list[str] | None = Field(None, max_length=200, description="The whole new list")
    description: str | None = Field(None, max_length=_DESCRIPTION)


class RoleOut(BaseModel):
    """A role as the admin API shows it; `in_config` marks one the configuration declares (read-only)."""

    name: str
    permissions: list[str]
    description: str
    created_at: datetime
    updated_at: datetime
    in_config: bool

    @classmethod
    def of(cls, role: RoleRecord, configured: bool) -> RoleOut:
        """The public view of `role`."""
        return cls(
            name=role.name,
            permissions=list(role.permissions),
            description=role.description,
            created_at=utc(role.created_at),
            updated_at=utc(role.updated_at),
            in_config=configured,
        )


class EndedOut(BaseModel):
    """`DELETE /admin/users/{id}/sessions`: how many sessions were live and are ended now."""

    ended: int


def _given(model: BaseModel, *skip: str) -> dict[str, Any]:
    """The fields the body set (`null` for one of them is refused: it would mean nothing)."""
    given = {name: getattr(model, name) for name in model.model_fields_set if name not in skip}
    nulls = sorted(name for name, value in given.items() if value is None)
    if nulls:
        raise web_error("invalid_body", f"Missing or invalid fields: {', '.join(nulls)}")
    return given


def build(auth: FastAuth) -> APIRouter:
    """The administration routes of `auth`."""
    router = APIRouter(route_class=AnsweringRoute)
    service = auth.service
    read = user_read_model(service.user_fields)
    page: type[BaseModel] = create_model(
        "UserPage",
        __doc__="A page of users by email; `next_cursor` fetches the next one (null after the last).",
        items=(list[read], ...),  # type: ignore[valid-type]
        next_cursor=(str | None, None),
    )
    #: Every admin route can answer these (403: not an administrator, whatever the id).
    admin_codes = (*AUTH, "permission_denied", "rate_limited", "invalid_body")

    async def administrator(principal: Principal = Depends(auth.get_current_principal)) -> Administrator:
        """The acting administrator; 403 `permission_denied` for anyone else (nothing looked up)."""
        actor, held = await service.admin_of(principal)
        return Administrator(actor, held)

    def role_out(role: RoleRecord) -> RoleOut:
        return RoleOut.of(role, role.name in service.roles.configured)

    @router.get(
        "/admin/audit",
        response_model=list[AuditOut],
        responses=answers(*AUTH, "permission_denied", "invalid_body", extra={200: no_store("The records")}),
    )
    async def audit(
        response: Response,
        user_id: str | None = Query(None, description="Only this user's records."),
        before: int | None = Query(
            None, ge=0, le=_MAX_BIGINT, description="Only records older than this (epoch seconds)."
        ),
        limit: int = Query(100, ge=1, le=MAX_LIMIT, description="At most this many records."),
        _: User = Depends(auth.get_current_superuser),
    ) -> list[AuditOut]:
        """The audit log, newest first (401 without a token, 403 for anyone but a superuser)."""
        response.headers.update(NO_STORE)
        records = await service.audit.read(user_id=user_id, before=before, limit=limit)
        return [AuditOut.of(record) for record in records]

    # users

    @router.get(
        "/admin/users",
        response_model=page,
        responses=answers(*admin_codes, "invalid_cursor", extra={200: no_store("A page")}),
    )
    async def list_users(
        response: Response,
        query: str = Query(
            "", max_length=320, description="Only addresses starting with this (case-insensitive)."
        ),
        limit: int = Query(50, ge=1, le=MAX_PAGE, description="At most this many users."),
        cursor: str | None = Query(None, description="The `next_cursor` of the page before."),
        _: Administrator = Depends(administrator),
    ) -> dict[str, Any]:
        """Users by email address, a page at a time (keyset: as fast deep in the list as at its
        start); a cursor holds the query it was made for and is signed (400 `invalid_cursor` else)."""
        response.headers.update(NO_STORE)
        users, next_cursor = await service.admin_list_users(query=query, limit=limit, cursor=cursor)
        return {"items": [read.of(user) for user in users], "next_cursor": next_cursor}

    @router.get(
        "/admin/users/{user_id}",
        response_model=read,
        responses=answers(*admin_codes, "user_not_found", extra={200: no_store("The user")}),
    )
    async def get_user(
        response: Response, user_id: str, _: Administrator = Depends(administrator)
    ) -> UserOut:
        """One user (404 `user_not_found`)."""
        response.headers.update(NO_STORE)
        return read.of(await service.admin_get_user(user_id))

    @router.patch(
        "/admin/users/{user_id}",
        response_model=read,
        openapi_extra=body(UserPatch, required=False),
        responses=answers(
            *admin_codes,
            *BODY,
            "user_not_found",
            "role_not_found",
            "invalid_role",
            "invalid_user_fields",
            "field_taken",
            extra={200: no_store("The user as changed")},
        ),
    )
    async def update_user(
        request: Request, response: Response, user_id: str, admin: Administrator = Depends(administrator)
    ) -> UserOut:
        """Change flags, roles and the application's fields of an account (audited with the actor).
        Deactivation ends the sessions at once; new roles reach the tokens at their next refresh, or
        at once with `end_sessions`. 403 for a change beyond the administrator's rights."""
        patch = await read_model(request, UserPatch)
        changes = _given(patch, "end_sessions")
        fields = changes.pop("fields", None)
        user = await service.admin_update_user(
            admin.user,
            admin.held,
            user_id,
            changes,
            fields=fields,
            end_sessions=patch.end_sessions,
            **seen(request),
        )
        response.headers.update(NO_STORE)
        return read.of(user)

    @router.delete(
        "/admin/users/{user_id}",
        status_code=204,
        responses=answers(*admin_codes, "user_not_found", extra={204: no_store("Deleted")}),
    )
    async def delete_user(
        request: Request, user_id: str, admin: Administrator = Depends(administrator)
    ) -> Response:
        """Delete an account and end its sessions (not one's own: that is `DELETE /me`; a superuser's
        only by a superuser)."""
        await service.admin_delete_user(admin.user, admin.held, user_id, **seen(request))
        return Response(status_code=204, headers=NO_STORE)

    @router.delete(
        "/admin/users/{user_id}/sessions",
        response_model=EndedOut,
        responses=answers(*admin_codes, "user_not_found", extra={200: no_store("How many ended")}),
    )
    async def end_sessions(
        request: Request, response: Response, user_id: str, admin: Administrator = Depends(administrator)
    ) -> EndedOut:
        """Sign the user out everywhere now: their refresh tokens stop working and their access tokens
        are refused at once."""
        ended = await service.admin_end_sessions(admin.user, admin.held, user_id, **seen(request))
        response.headers.update(NO_STORE)
        return EndedOut(ended=ended)

    # roles

    @router.get(
        "/admin/roles",
        response_model=list[RoleOut],
        responses=answers(*admin_codes, extra={200: no_store("Every role")}),
    )
    async def list_roles(response: Response, _: Administrator = Depends(administrator)) -> list[RoleOut]:
        """Every role, by name."""
        response.headers.update(NO_STORE)
        return [role_out(role) for role in await service.roles.list()]

    @router.post(
        "/admin/roles",
        status_code=201,
        response_model=RoleOut,
        openapi_extra=body(RoleIn, example={"name": "editor", "permissions": ["posts:write"]}),
        responses=answers(
            *admin_codes, *BODY, "invalid_role", "role_exists", extra={201: no_store("Created")}
        ),
    )
    async def create_role(
        request: Request, response: Response, admin: Administrator = Depends(administrator)
    ) -> RoleOut:
        """A new role; an administrator who is not a superuser grants only permissions they hold."""
        new = await read_model(request, RoleIn)
        role = await service.create_role(admin.user, admin.held, new.name, new.permissions, new.description)
        response.headers.update(NO_STORE)
        return role_out(role)

    @router.get(
        "/admin/roles/{name}",
        response_model=RoleOut,
        responses=answers(*admin_codes, "invalid_role", "role_not_found", extra={200: no_store("The role")}),
    )
    async def get_role(response: Response, name: str, _: Administrator = Depends(administrator)) -> RoleOut:
        """One role (404 `role_not_found`)."""
        response.headers.update(NO_STORE)
        return role_out(await service.roles.get(name))

    @router.patch(
        "/admin/roles/{name}",
        response_model=RoleOut,
        openapi_extra=body(RolePatch, required=False),
        responses=answers(
            *admin_codes,
            *BODY,
            "invalid_role",
            "role_not_found",
            "role_in_config",
            extra={200: no_store("The role as changed")},
        ),
    )
    async def update_role(
        request: Request, response: Response, name: str, admin: Administrator = Depends(administrator)
    ) -> RoleOut:
        """Change a role's permissions or description; its holders' tokens change at their next
        refresh. A role the configuration declares is refused (409 `role_in_config`)."""
        patch = await read_model(request, RolePatch)
        given = _given(patch)
        role = await service.update_role(
            admin.user,
            admin.held,
            name,
            permissions=given.get("permissions"),
            description=given.get("description"),
        )
        response.headers.update(NO_STORE)
        return role_out(role)

    @router.delete(
        "/admin/roles/{name}",
        status_code=204,
        responses=answers(
            *admin_codes, "invalid_role", "role_not_found", "role_in_config", extra={204: no_store("Deleted")}
        ),
    )
    async def delete_role(name: str, admin: Administrator = Depends(administrator)) -> Response:
        """Delete a role and take it from every user holding it (their tokens lose it at their next
        refresh). A role the configuration declares is refused (409 `role_in_config`)."""
        await service.delete_role(admin.user, admin.held, name)
        return Response(status_code=204, headers=NO_STORE)

    return router
