"""`create-user`."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from fastauth.cli import app
from fastauth.cli._common import (
    EXIT_FAILED,
    fail,
    server_config,
)


@app.command("create-user")
def create_user(
    email: Annotated[str, typer.Argument(help="The new user's email.")],
    superuser: Annotated[bool, typer.Option("--superuser", help="Make the user a superuser.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin instead of prompting.")
    ] = False,
) -> None:
    """Add a user to the configured database (FASTAUTH_DATABASE_URL)."""

    import asyncio

    from fastauth.errors import EmailTaken, InvalidEmail, PasswordPolicyError
    from fastauth.web.auth import FastAuth

    config, _ = server_config()
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)

    async def run() -> str:
        auth = FastAuth(config)
        try:
            await auth.startup()
            user = await auth.accounts.register(email, password, is_superuser=superuser, is_verified=True)
            return user.id
        finally:
            await auth.shutdown()

    try:
        user_id = asyncio.run(run())
    except EmailTaken:
        fail(f"error: {email} is already registered", EXIT_FAILED)
    except PasswordPolicyError as error:
        fail(f"error: {error}", EXIT_FAILED)
    except InvalidEmail as error:
        fail(f"error: not a valid email: {error}", EXIT_FAILED)
    kind = "superuser" if superuser else "user"
    typer.echo(f"created {kind} {email} (id {user_id})")
