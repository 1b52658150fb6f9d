"""A fastauth 0.1.0 database keeps working after the upgrade: adopted without loss, then served.

The 0.1.0 database is built from the DDL captured from 0.1.0 (`schema_0_1_0.sql`, commit 3b88d31) and
rows written as 0.1.0 wrote them (`old_release.py`): an argon2id hash made from a password, a live
session holding the `jti` of a refresh token 0.1.0 issued, and its RS256 signing key sealed in
`fastauth_keys`. Today's fastauth then starts on it (lifespan and real HTTP) and must let the old
password log in, rotate the old refresh token, and verify tokens signed by the old key.

Every later schema change adds an Alembic revision to `fastauth/storage/migrations/versions` and extends
this test: the same 0.1.0 rows must survive every revision up to the head, and whatever the revision
adds must hold for them (a new column's value for the old rows, a new table empty, ...). The
`later_revision` fixture stands for that next revision until one exists: it is how the start-up rules
for a database that is behind (SQLite upgrades itself, a server database waits for
`fastauth db upgrade`) are tested today.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import old_release
import pytest
from fastapi import Depends, FastAPI

from fastauth import FastAuth, FastAuthConfig, User
from fastauth.errors import ConfigError
from fastauth.storage.sqlalchemy import SchemaState, SQLAlchemyAdapter


def config(database_url: str, **overrides: object) -> FastAuthConfig:
    return FastAuthConfig(
        secret=old_release.SECRET,
        database_url=database_url,
        jwt={"algorithm": "RS256"},  # no PEM keys: the signing keys live in fastauth_keys
        rate_limit_enabled=False,
        **overrides,  # type: ignore[arg-type]
    )


@asynccontextmanager
async def serve(database_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """Today's fastauth on the database: mounted on an app whose lifespan runs, spoken to over HTTP."""
    auth = FastAuth(config(database_url))
    app = FastAPI()
    auth.mount(app)

    @app.get("/whoami")
    async def whoami(user: User = Depends(auth.get_current_user)) -> dict[str, str]:
        return {"email": user.email}

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


async def state(database_url: str) -> SchemaState:
    store = SQLAlchemyAdapter(database_url)
    try:
        return await store.schema_state()
    finally:
        await store.close()


async def assert_the_old_release_works(client: httpx.AsyncClient, old: old_release.OldRelease) -> None:
    # The old key still verifies what it signed before the upgrade.
    whoami = await client.get("/whoami", headers={"Authorization": f"Bearer {old.access_token}"})
    assert whoami.status_code == 200, whoami.text
    assert whoami.json() == {"email": old_release.EMAIL}
    jwks = await client.get("/.well-known/jwks.json")
    assert [key["kid"] for key in jwks.json()["keys"]] == [old.kid]
    # The old password logs in.
    login = await client.post(
        "/auth/login", data={"username": old_release.EMAIL, "password": old_release.PASSWORD}
    )
    assert login.status_code == 200, login.text
    assert login.json()["token_type"] == "bearer"
    # The old refresh token rotates once into a new pair, signed by the old key.
    refreshed = await client.post("/auth/refresh", json={"refresh_token": old.refresh_token})
    assert refreshed.status_code == 200, refreshed.text
    pair = refreshed.json()
    assert pair["refresh_token"] != old.refresh_token
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == old_release.EMAIL
    reused = await client.post("/auth/refresh", json={"refresh_token": old.refresh_token})
    assert reused.status_code == 401


async def test_a_0_1_0_database_is_adopted_at_start_and_keeps_working(database_url: str) -> None:
    old = await old_release.create_database(database_url)
    assert (await state(database_url)).status == "unversioned"
    async with serve(database_url) as client:
        after = await state(database_url)
        assert (after.revision, after.status) == ("0001", "head")
        assert after.tables == {"fastauth_users", "fastauth_sessions", "fastauth_keys"}
        await assert_the_old_release_works(client, old)
    # A second start finds it at the head and changes nothing.
    async with serve(database_url) as client:
        assert (await state(database_url)).revision == "0001"
        login = await client.post(
            "/auth/login", data={"username": old_release.EMAIL, "password": old_release.PASSWORD}
        )
        assert login.status_code == 200


async def test_sqlite_behind_the_head_upgrades_itself_at_start(sqlite_url: str, later_revision: Path) -> None:
    old = await old_release.create_database(sqlite_url)
    async with serve(sqlite_url) as client:
        after = await state(sqlite_url)
        assert (after.revision, after.status) == ("9999_test", "head")
        await assert_the_old_release_works(client, old)
    await old_release.execute(sqlite_url, "UPDATE fastauth_users SET test_note = 'kept'")  # the column exists


FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))


def fastauth_db(migrations: Path | None, database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`fastauth db ...` in a new process: the console script, or (with `migrations`, a script directory
    holding the test revision) its entry point `fastauth.cli:main` run with that directory."""
    program = (
        "import pathlib, sys\n"
        "from fastauth.storage.sqlalchemy import schema\n"
        "schema.MIGRATIONS = pathlib.Path(sys.argv.pop(1))\n"
        "from fastauth.cli import main\n"
        "sys.argv[0] = 'fastauth'\n"
        "main()\n"
    )
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("FASTAUTH_")}
    env.update(FASTAUTH_DATABASE_URL=database_url, FASTAUTH_SECRET=old_release.SECRET)
    assert FASTAUTH is not None, "console script not installed (pip install -e .)"
    command = [FASTAUTH] if migrations is None else [sys.executable, "-c", program, str(migrations)]
    return subprocess.run(
        [*command, "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
async def test_a_server_database_behind_is_refused_until_fastauth_db_upgrade(
    postgres_url: str, later_revision: Path
) -> None:
    old = await old_release.create_database(postgres_url)
    with pytest.raises(ConfigError) as refused:
        async with serve(postgres_url):
            pass
    assert str(refused.value) == (
        "the database schema is at revision 0001 and this fastauth needs 9999_test: run `fastauth db upgrade` "
        "(it migrates the database FASTAUTH_DATABASE_URL names), then start again"
    )
    # Adopted (stamped at the first revision) but not migrated: a server database waits for the operator.
    assert (await state(postgres_url)).revision == "0001"
    check = fastauth_db(later_revision, postgres_url, "check")
    assert (check.returncode, check.stdout) == (1, "")
    assert check.stderr == "behind: 0001: behind this fastauth's head 9999_test; run `fastauth db upgrade`\n"
    upgraded = fastauth_db(later_revision, postgres_url, "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == "upgraded from revision 0001 to 9999_test\n"
    async with serve(postgres_url) as client:
        assert (await state(postgres_url)).revision == "9999_test"
        await assert_the_old_release_works(client, old)


@pytest.mark.postgres
async def test_fastauth_db_upgrade_adopts_an_untouched_0_1_0_server_database(postgres_url: str) -> None:
    old = await old_release.create_database(postgres_url)
    upgraded = fastauth_db(None, postgres_url, "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == "adopted the fastauth 0.1.0 tables and upgraded them to revision 0001\n"
    async with serve(postgres_url) as client:
        await assert_the_old_release_works(client, old)
