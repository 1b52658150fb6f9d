"""`db upgrade`, `db current`, `db check`: fastauth's schema in the configured database.

The database is the one `serve` uses (FASTAUTH_DATABASE_URL, or the development SQLite file). Only
the storage layer is imported: no FastAPI, no web layer, no signing keys loaded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import typer

from fastauth.cli import app
from fastauth.cli._common import EXIT_FAILED, fail, server_config

__all__ = ["check", "current", "describe", "upgrade"]

if TYPE_CHECKING:
    from fastauth.storage.sqlalchemy import SchemaState, SQLAlchemyAdapter

T = TypeVar("T")

db = typer.Typer(
    no_args_is_help=True,
    help="fastauth's database schema (FASTAUTH_DATABASE_URL): upgrade it, show or check its revision.",
)
app.add_typer(db, name="db")


def _run(action: Callable[[SQLAlchemyAdapter], Awaitable[T]]) -> T:
    """Run `action(store)` on the configured database; errors end the command with exit code 1."""
    import asyncio

    from fastauth.errors import ConfigError, StoreUnavailable
    from fastauth.storage.sqlalchemy import SQLAlchemyAdapter

    config, _ = server_config()

    async def run() -> T:
        store = SQLAlchemyAdapter(config.database_url)
        try:
            return await action(store)
        finally:
            await store.close()

    try:
        return asyncio.run(run())
    except StoreUnavailable as error:
        fail(f"error: the database is unavailable ({error})", EXIT_FAILED)
    except ConfigError as error:
        fail(f"error: {error}", EXIT_FAILED)


def describe(state: SchemaState) -> str:
    """One line on where the database stands."""
    status = state.status
    if status == "empty":
        return "empty: no fastauth tables yet"
    if status == "unversioned":
        return "unversioned: fastauth 0.1.0 tables without a revision"
    if status == "ahead":
        return f"{state.revision}: unknown to this fastauth (head {state.head}), a newer fastauth migrated it"
    if status == "behind":
        return f"{state.revision}: behind this fastauth's head {state.head}"
    return f"{state.revision} (head)"


@db.command("upgrade")
def upgrade() -> None:
    """Bring the database to this fastauth's head revision (creates it, or adopts 0.1.0 tables)."""
    before, after = _run(lambda store: store.upgrade())
    if before.status == "head":
        typer.echo(f"already at the head revision {after.revision}")
    elif before.status == "empty":
        typer.echo(f"created fastauth's tables at revision {after.revision}")
    elif before.status == "unversioned":
        typer.echo(f"adopted the fastauth 0.1.0 tables and upgraded them to revision {after.revision}")
    else:
        typer.echo(f"upgraded from revision {before.revision} to {after.revision}")


@db.command("current")
def current() -> None:
    """Print the database's revision (or that it is empty, or unversioned 0.1.0 tables)."""
    typer.echo(describe(_run(lambda store: store.schema_state())))


@db.command("check")
def check() -> None:
    """Exit 0 when the database is at the head revision, 1 (with the reason) when it is not."""
    state = _run(lambda store: store.schema_state())
    if state.status == "head":
        typer.echo(f"up to date: {describe(state)}")
        return
    if state.status == "ahead":
        fail(f"not usable: {describe(state)}; upgrade fastauth", EXIT_FAILED)
    fail(f"behind: {describe(state)}; run `fastauth db upgrade`", EXIT_FAILED)
