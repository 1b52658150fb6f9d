"""`create-user`."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from fastauth.cli import app
from fastauth.cli._common import run_service, server_config


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The new user's email.")],
    superuser: Annotated[bool, typer.Option("--superuser", help="Make the user a superuser.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")
    ] = False,
) -> None:
    """Add a user to the configured database (FASTAUTH_DATABASE_URL)."""
    config, _ = server_config()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def action(service: Any) -> str:
        user = await service.create_user(email, password, is_superuser=superuser, is_verified=True)
        return str(user.id)

    user_id = run_service(config, action, email=email)
    kind = "superuser" if superuser else "user"
    typer.echo(f"created {kind} {email} (id {user_id})")
