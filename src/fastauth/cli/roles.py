"""`roles list|create|delete|grant|revoke`: the role table and who holds a role, from the command line.

The operator holds the database, so nothing is checked against an administrator's own permissions
(the admin API does that); every change is audited like the API's, with no actor, and published on
the event bus so servers sharing Redis drop their cached roles at once (the others within
their role cache's 30 s). A change of a user's roles reaches their access tokens at the next refresh;
their API keys follow at once (a key's scopes are cut down to the owner's permissions at each use).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer

from fastauth.cli import app
from fastauth.cli._common import EXIT_FAILED, fail, run_service, server_config

__all__ = ["roles_create", "roles_delete", "roles_grant", "roles_list", "roles_revoke"]

T = TypeVar("T")

roles_app = typer.Typer(no_args_is_help=True, help="Roles and their permissions in the configured database.")
app.add_typer(roles_app, name="roles")


async def _changed(service: Any, message: str) -> None:
    """Tell the servers on the same Redis (the bus is None without Redis)."""
    if service.bus is not None:
        await service.bus.publish(message)


def _run(config: Any, action: Callable[[Any], Awaitable[T]], name: str, email: str = "") -> T:
    """`run_service`, with the role errors said in the operator's terms."""
    from fastauth.errors import RoleExists, RoleInConfig, RoleNotFound

    async def guarded(service: Any) -> T:
        try:
            return await action(service)
        except RoleNotFound:
            fail(f"error: no role {name!r}", EXIT_FAILED)
        except RoleExists:
            fail(f"error: a role {name!r} exists already", EXIT_FAILED)
        except RoleInConfig:
            fail(
                f"error: the role {name!r} is declared in FASTAUTH_AUTHZ__ROLES; change it there", EXIT_FAILED
            )

    return run_service(config, guarded, email=email)


async def _user(service: Any, email: str) -> Any:
    user = await service.account_by_email(email)
    if user is None:
        fail(f"error: no user {email}", EXIT_FAILED)
    return user


@roles_app.command("list")
def roles_list() -> None:
    """Every role with its permissions (`*` marks one declared in FASTAUTH_AUTHZ__ROLES)."""
    config, _ = server_config()

    async def action(service: Any) -> tuple[list[Any], set[str]]:
        return list(await service.roles.list()), set(service.roles.configured)

    roles, configured = run_service(config, action)
    typer.echo(f"{'role':<30} permissions")
    for role in roles:
        mark = "*" if role.name in configured else ""
        typer.echo(f"{role.name + mark:<30} {' '.join(role.permissions) or '-'}")


@roles_app.command("create")
def roles_create(
    name: Annotated[str, typer.Argument(help="The role's name: letters, digits, _ . : - (at most 64).")],
    permission: Annotated[
        list[str] | None, typer.Option("--permission", "-p", help="A permission it grants (repeat).")
    ] = None,
    description: Annotated[str, typer.Option(help="What the role is for.")] = "",
) -> None:
    """Create a role granting the permissions (e.g. `reports:read`)."""
    config, _ = server_config()

    async def action(service: Any) -> Any:
        role = await service.roles.create(name, permission or [], description)
        await service.audit.record(
            "role_created",
            user_id=None,
            detail=f"role {role.name}: {' '.join(role.permissions)} (command line)"[:200],
        )
        await _changed(service, "roles")
        return role

    role = _run(config, action, name)
    typer.echo(f"created role {role.name}: {' '.join(role.permissions) or '(no permissions)'}")


@roles_app.command("delete")
def roles_delete(name: Annotated[str, typer.Argument(help="The role's name.")]) -> None:
    """Delete a role and take it from everyone holding it."""
    config, _ = server_config()

    async def action(service: Any) -> int:
        count = int(await service.roles.delete(name))
        await service.audit.record(
            "role_deleted", user_id=None, detail=f"role {name} (held by {count}) (command line)"[:200]
        )
        await _changed(service, "roles")
        return count

    count = _run(config, action, name)
    typer.echo(f"deleted role {name}; {count} user(s) held it")


def _set_roles(email: str, role: str, grant: bool) -> None:
    config, _ = server_config()

    async def action(service: Any) -> tuple[bool, tuple[str, ...]]:
        user = await _user(service, email)
        wanted = [*user.roles, role] if grant else [r for r in user.roles if r != role]
        if not grant:
            from fastauth.authz import check_role_name

            check_role_name(role)
        roles = await service.roles.check_assignable(wanted) if grant else tuple(wanted)
        if tuple(roles) == tuple(user.roles):
            return False, tuple(user.roles)
        updated = await service.accounts.update(user.id, roles=roles)
        if updated is None:
            fail(f"error: no user {email}", EXIT_FAILED)
        await service.audit.record(
            "roles_changed", user_id=user.id, detail=f"roles: {' '.join(updated.roles)} (command line)"[:200]
        )
        return True, tuple(updated.roles)

    changed, roles = _run(config, action, role, email=email)
    held = " ".join(roles) or "(none)"
    if not changed:
        verb = "already holds" if grant else "does not hold"
        typer.echo(f"{email} {verb} {role}; roles: {held}")
        return
    typer.echo(f"{'granted' if grant else 'took'} {role} {'to' if grant else 'from'} {email}; roles: {held}")


@roles_app.command("grant")
def roles_grant(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Argument(help="A defined role's name.")],
) -> None:
    """Give a user a role (it must exist: a typo never grants a name that means nothing)."""
    _set_roles(email, role, grant=True)


@roles_app.command("revoke")
def roles_revoke(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    role: Annotated[str, typer.Argument(help="The role's name.")],
) -> None:
    """Take a role from a user: their API keys lose its permissions at once, their access tokens at
    the next refresh."""
    _set_roles(email, role, grant=False)
