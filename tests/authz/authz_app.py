"""The app the authorization HTTP tests run: `make_app`'s app (tests/support/app.py) with configured
roles and routes behind every authorization dependency, and helpers that grant roles the way an
administrator does (`AuthService.admin_update_user`, actor a superuser)."""

from __future__ import annotations

from typing import Any

from fastapi import Depends

from fastauth.authz import Principal
from fastauth.storage.base import User
from support.app import AuthApp
from support.forge import claims
from support.http import bearer, login

PASSWORD = "correct horse"
ROOT = "root@example.com"
#: The configured roles (FASTAUTH_AUTHZ__ROLES).
ROLES: dict[str, list[str]] = {
    "editor": ["posts:read", "posts:write"],
    "viewer": ["posts:read"],
    "moderator": ["posts:delete", "posts:read"],
}
FORBIDDEN = {"detail": "Not enough permissions", "code": "permission_denied"}


def who(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.id,
        "kind": principal.kind,
        "roles": list(principal.roles),
        "scopes": sorted(principal.scopes),
    }


async def start(
    make_app: Any,
    *,
    hooks: Any = None,
    clock: Any = None,
    config: dict[str, Any] | None = None,
    **authz: Any,
) -> AuthApp:
    """An app with `ROLES` configured (unless `roles=` says otherwise), `authz` overrides, the other
    settings in `config`, and routes:
    `/perm/write`, `/perm/write-and-delete`, `/perm/write-or-delete`, `/scope/write`,
    `/scope/read-write`, `/role/editor`, `/role/editor-or-moderator`, `/role/editor-and-viewer`,
    `/role/editor/fresh`."""
    settings: dict[str, Any] = {"roles": ROLES, **authz}
    a: AuthApp = await make_app(hooks=hooks, clock=clock, authz=settings, **(config or {}))
    auth, app = a.auth, a.app

    @app.get("/perm/write")
    async def perm_write(p: Principal = Depends(auth.require_permissions("posts:write"))) -> dict[str, Any]:
        return who(p)

    @app.get("/perm/write-and-delete")
    async def perm_both(
        p: Principal = Depends(auth.require_permissions("posts:write", "posts:delete")),
    ) -> dict[str, Any]:
        return who(p)

    @app.get("/perm/write-or-delete")
    async def perm_any(
        p: Principal = Depends(auth.require_permissions("posts:write", "posts:delete", any_of=True)),
    ) -> dict[str, Any]:
        return who(p)

    @app.get("/scope/write")
    async def scope_write(p: Principal = Depends(auth.require_scope("posts:write"))) -> dict[str, Any]:
        return who(p)

    @app.get("/scope/read-write")
    async def scope_two(
        p: Principal = Depends(auth.require_scope("posts:read", "posts:write")),
    ) -> dict[str, Any]:
        return who(p)

    @app.get("/role/editor")
    async def role_editor(p: Principal = Depends(auth.require_roles("editor"))) -> dict[str, Any]:
        return who(p)

    @app.get("/role/editor-or-moderator")
    async def role_any(
        p: Principal = Depends(auth.require_roles("editor", "moderator", any_of=True)),
    ) -> dict[str, Any]:
        return who(p)

    @app.get("/role/editor-and-viewer")
    async def role_both(p: Principal = Depends(auth.require_roles("editor", "viewer"))) -> dict[str, Any]:
        return who(p)

    @app.get("/role/editor/fresh")
    async def role_fresh(user: User = Depends(auth.require_roles("editor", fresh=True))) -> dict[str, Any]:
        return {"id": user.id, "email": user.email, "roles": list(user.roles)}

    return a


async def root(a: AuthApp) -> User:
    """The superuser who grants roles (created on first use)."""
    service = a.auth.service
    found = await service.store.get_user_by_email(ROOT)
    if found is not None:
        return found
    return await service.create_user(ROOT, PASSWORD, is_superuser=True, is_verified=True)


async def grant(a: AuthApp, user_id: str, *roles: str, end_sessions: bool = False) -> User:
    """Set the user's roles as an administrator does (the roles must exist)."""
    actor = await root(a)
    return await a.auth.service.admin_update_user(
        actor, None, user_id, {"roles": list(roles)}, end_sessions=end_sessions
    )


async def member(a: AuthApp, email: str, *roles: str, superuser: bool = False) -> tuple[User, dict[str, Any]]:
    """A verified user holding `roles`, signed in: (user, the login answer)."""
    service = a.auth.service
    user = await service.create_user(email, PASSWORD, is_superuser=superuser, is_verified=True)
    if roles:
        user = await grant(a, user.id, *roles)
    return user, await login(a.client, email, PASSWORD)


def access_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    """The access token's claims, unverified."""
    return claims(tokens["access_token"])


async def get(a: AuthApp, path: str, token: str) -> Any:
    return await a.client.get(path, headers=bearer(token))
