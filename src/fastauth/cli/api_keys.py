"""`api-keys create|list|revoke`: API keys of an account, for service accounts and operators.

The web route needs a recent sign-in because a person's browser may be someone else's by now; the
operator at this command line already holds the database, so no sign-in is asked for. Everything
else is as on the web: scopes within what the owner holds now, the lifetime within
`authz.api_key_max_ttl`, at most `authz.api_keys_per_user` live keys, the creation audited.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from fastauth.cli import app
from fastauth.cli._common import EXIT_FAILED, fail, run_service, server_config

__all__ = ["api_keys_create", "api_keys_list", "api_keys_revoke"]

api_keys_app = typer.Typer(no_args_is_help=True, help="API keys of accounts in the configured database.")
app.add_typer(api_keys_app, name="api-keys")

#: What `create` says on stderr about the key it printed on stdout.
_CREATED = (
    "created key {id} ({prefix}...) for {email}, scopes: {scopes}, expires: {expires}; shown only this once"
)


def _stamp(epoch: int | None) -> str:
    from datetime import UTC, datetime

    return "never" if epoch is None else datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S")


async def _owner(service: Any, email: str) -> Any:
    user = await service.account_by_email(email)
    if user is None:
        fail(f"error: no user {email}", EXIT_FAILED)
    return user


def _check_name(name: str) -> None:
    if not 1 <= len(name) <= 100 or any(ord(c) < 32 or ord(c) == 127 for c in name):
        fail("error: --name is 1 to 100 characters, no control characters", EXIT_FAILED)


@api_keys_app.command("create")
def api_keys_create(
    email: Annotated[str, typer.Option("--email", help="The owner's email (a service account's too).")],
    name: Annotated[str, typer.Option("--name", help="A name for people, 1 to 100 characters.")],
    scope: Annotated[
        list[str] | None,
        typer.Option("--scope", help="A permission the key may use (repeat); the owner must hold it."),
    ] = None,
    expires_in: Annotated[
        int | None,
        typer.Option("--expires-in", min=1, help="Lifetime in seconds (default: authz.api_key_default_ttl)."),
    ] = None,
) -> None:
    """Make an API key of the account EMAIL and print it on stdout (only its hash is kept: it is
    shown this once). For a service account, create the user first (`fastauth create-user`) and
    grant it a role (`fastauth roles grant`)."""
    config, _ = server_config()
    scopes = sorted(set(scope or []))
    _check_name(name)

    async def action(service: Any) -> tuple[str, Any, str]:
        user = await _owner(service, email)
        if not user.is_active:
            fail(f"error: {email} is deactivated: its keys would be refused", EXIT_FAILED)
        text, record = await service.issue_api_key(
            user, name=name, scopes=scopes, expires_in=expires_in, via="command line"
        )
        return text, record, user.email

    text, record, owner = run_service(config, action, email=email)
    typer.echo(text)
    typer.echo(
        _CREATED.format(
            id=record.id,
            prefix=record.prefix,
            email=owner,
            scopes=" ".join(record.scopes) or "(none)",
            expires=_stamp(record.expires_at) + (" UTC" if record.expires_at is not None else ""),
        ),
        err=True,
    )


@api_keys_app.command("list")
def api_keys_list(email: Annotated[str, typer.Option("--email", help="The owner's email.")]) -> None:
    """The account's live keys, newest first (never the keys themselves; times in UTC)."""
    config, _ = server_config()

    async def action(service: Any) -> list[Any]:
        return list(await service.list_api_keys(await _owner(service, email)))

    records = run_service(config, action, email=email)
    typer.echo(f"{'id':<24} {'prefix':<10} {'expires':<20} {'last used':<20} {'name':<20} scopes")
    for r in records:
        typer.echo(
            f"{r.id:<24} {r.prefix:<10} {_stamp(r.expires_at):<20} {_stamp(r.last_used_at):<20} "
            f"{r.name:<20} {' '.join(r.scopes) or '-'}"
        )


@api_keys_app.command("revoke", context_settings={"ignore_unknown_options": True})
def api_keys_revoke(
    key_id: Annotated[str, typer.Argument(help="The key's id (see `api-keys list`).")],
) -> None:
    """Revoke a key of any account (audited): refused at once by servers on the same Redis, within
    `authz.api_key_cache_ttl` seconds by those without."""
    import re

    config, _ = server_config()
    if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key_id):
        fail(f"error: no live key {key_id!r}", EXIT_FAILED)

    async def action(service: Any) -> Any:
        from fastauth.errors import ApiKeyNotFound

        try:
            return await service.revoke_api_key(key_id, user=None)
        except ApiKeyNotFound:
            return None

    record = run_service(config, action)
    if record is None:
        fail(f"error: no live key {key_id!r}", EXIT_FAILED)
    typer.echo(f"revoked {record.id} ({record.prefix}...)")
