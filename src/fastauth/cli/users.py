"""`create-user` and `users set-password|verify|mfa-reset`: accounts, through the service (no web layer)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from fastauth.cli import app
from fastauth.cli._common import EXIT_FAILED, fail, run_service, server_config

__all__ = ["create_user", "mfa_reset", "set_password", "verify"]

users_app = typer.Typer(no_args_is_help=True, help="Accounts in the configured database.")
app.add_typer(users_app, name="users")


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


_STDIN = typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The new user's email.")],
    superuser: Annotated[bool, typer.Option("--superuser", help="Make the user a superuser.")] = False,
    verified: Annotated[
        bool,
        typer.Option("--verified/--unverified", help="Mark the address verified (the default, as in 0.1)."),
    ] = True,
    password_stdin: Annotated[bool, _STDIN] = False,
) -> None:
    """Add a user to the configured database (FASTAUTH_DATABASE_URL)."""
    config, _ = server_config()
    password = _read_password(password_stdin)

    async def action(service: Any) -> str:
        user = await service.create_user(email, password, is_superuser=superuser, is_verified=verified)
        return str(user.id)

    user_id = run_service(config, action, email=email)
    kind = "superuser" if superuser else "user"
    typer.echo(f"created {kind} {email} (id {user_id})")


@users_app.command("set-password")
def set_password(
    email: Annotated[str, typer.Argument(help="The user's email.")],
    password_stdin: Annotated[bool, _STDIN] = False,
) -> None:
    """Set a user's password; every session of theirs ends and pending reset codes are voided."""
    config, _ = server_config()
    password = _read_password(password_stdin)

    async def action(service: Any) -> bool:
        return bool(await service.set_password(email, password))

    if not run_service(config, action, email=email):
        fail(f"error: no user {email}", EXIT_FAILED)
    typer.echo(f"password set for {email}; its sessions have ended")


@users_app.command("verify")
def verify(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Mark a user's email address verified."""
    config, _ = server_config()

    async def action(service: Any) -> bool:
        return bool(await service.mark_verified(email))

    if not run_service(config, action, email=email):
        fail(f"error: no user {email}", EXIT_FAILED)
    typer.echo(f"{email} is verified")


@users_app.command("mfa-reset")
def mfa_reset(email: Annotated[str, typer.Argument(help="The user's email.")]) -> None:
    """Remove a locked-out user's second factors (TOTP, recovery codes and passkeys) and end their
    sessions (audited); they sign in with the password alone and can enrol again."""
    config, _ = server_config()

    async def action(service: Any) -> bool | None:
        if await service.account_by_email(email) is None:
            return None
        return bool(await service.mfa_reset(email))

    done = run_service(config, action, email=email)
    if done is None:
        fail(f"error: no user {email}", EXIT_FAILED)
    typer.echo(
        f"second factor removed for {email}; its sessions have ended"
        if done
        else f"{email} had no second factor"
    )
