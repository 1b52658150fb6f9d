"""A fastauth 0.1.0 database keeps working after the upgrade: adopted without loss, then served.

The 0.1.0 database is built from the DDL captured from 0.1.0 (`schema_0_1_0.sql`, commit 3b88d31) and
rows written as 0.1.0 wrote them (`old_release.py`): an argon2id hash made from a password, a live
session holding the `jti` of a refresh token 0.1.0 issued, and its RS256 signing key sealed in
`fastauth_keys`. Today's fastauth then starts on it (lifespan and real HTTP) and must let the old
password log in, rotate the old refresh token, and verify tokens signed by the old key.

Every later schema change adds an Alembic revision to `fastauth/storage/migrations/versions` and extends
this test: the same 0.1.0 rows must survive every revision up to the head, and whatever the revision
adds must hold for them (a new column's value for the old rows, a new table empty, ...). Revision 0002
adds `fastauth_codes`: the old user gets a one-time code, which is consumed once. Revision 0003 adds
`fastauth_audit`: empty after the upgrade, it then records the old user's sign-in. Revision 0004 adds
`fastauth_revoked_sessions`: empty after the upgrade; when the old user deletes the account, their
sessions' revocations land there and a restarted process still refuses their access token. Revision
0005 adds `fastauth_identities` and `fastauth_oauth_states`, empty (tests/oauth/ link identities to
accounts; the old user's rows are untouched by it). Revision 0009 adds `fastauth_roles` and
`fastauth_api_keys`, empty, and `fastauth_audit.actor_id`: the old user holds no role, and the access
token of the refresh says so (`roles: []`). A 0.1.0 database is
behind the head, so the start-up rules for a database that is behind (SQLite upgrades itself, a server
database waits for `fastauth db upgrade`) are tested on it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import old_release
import pytest
from fastapi import Depends, FastAPI
from sqlalchemy import text

from fastauth import FastAuth, FastAuthConfig, User
from fastauth.accounts.one_time import OneTimeCodes, code_hash
from fastauth.errors import ConfigError, InvalidCode
from fastauth.storage.sqlalchemy import SchemaState, SQLAlchemyAdapter
from support.forge import claims as unverified_claims

#: The head revision, and every fastauth table at it.
HEAD = "0009"
TABLES = {
    "fastauth_users",
    "fastauth_sessions",
    "fastauth_keys",
    "fastauth_codes",
    "fastauth_audit",
    "fastauth_revoked_sessions",
    "fastauth_identities",
    "fastauth_oauth_states",
    "fastauth_mfa",
    "fastauth_recovery_codes",
    "fastauth_passkeys",
    "fastauth_passkey_challenges",
    "fastauth_roles",
    "fastauth_api_keys",
}
#: The tables later revisions add: a database adopted from 0.1.0 lacks them until upgraded.
LATER_TABLES = TABLES - {"fastauth_users", "fastauth_sessions", "fastauth_keys"}


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

    @app.get("/claims")
    async def claims(claims: dict[str, object] = Depends(auth.get_current_claims)) -> dict[str, object]:
        return {"sub": claims["sub"]}

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
    # Revision 0009: the old token has no `roles` (checks read the user); the new one says none.
    assert "roles" not in unverified_claims(old.access_token)
    assert unverified_claims(pair["access_token"])["roles"] == []
    me = await client.get("/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"})
    assert me.status_code == 200
    assert me.json()["email"] == old_release.EMAIL
    reused = await client.post("/auth/refresh", json={"refresh_token": old.refresh_token})
    assert reused.status_code == 401


async def assert_the_old_user_gets_a_one_time_code(database_url: str) -> None:
    """A code for the 0.1.0 user is stored as its hash only, checked, consumed once; the table was empty."""
    store = SQLAlchemyAdapter(database_url)
    try:
        codes = OneTimeCodes(
            store, lifetimes={"verify_email": 86400, "reset_password": 1800, "change_email": 1800}
        )
        assert await codes.prune() == 0
        code = await codes.issue(old_release.USER_ID, "reset_password")
        async with store.engine.connect() as conn:
            rows = (await conn.execute(text("SELECT user_id, purpose, code_hash FROM fastauth_codes"))).all()
        assert [tuple(row) for row in rows] == [(old_release.USER_ID, "reset_password", code_hash(code))]
        assert (await codes.check(code, "reset_password")).user_id == old_release.USER_ID
        assert (await codes.consume(code, "reset_password")).user_id == old_release.USER_ID
        with pytest.raises(InvalidCode):
            await codes.consume(code, "reset_password")
    finally:
        await store.close()


async def assert_the_audit_log_recorded_the_old_user(database_url: str, old: old_release.OldRelease) -> None:
    """The audit table came empty with the upgrade; the old user's sign-in and the reuse of the old
    refresh token (`assert_the_old_release_works`) are its records, without a token in them."""
    store = SQLAlchemyAdapter(database_url)
    try:
        records = await store.list_audit()
    finally:
        await store.close()
    assert [(record.event, record.user_id) for record in reversed(records)] == [
        ("signin", old_release.USER_ID),
        ("refresh_reuse", old_release.USER_ID),
    ]
    text_of_records = repr(records)
    assert old.refresh_token not in text_of_records and old.access_token not in text_of_records
    assert old_release.PASSWORD not in text_of_records


async def test_a_0_1_0_sqlite_database_is_adopted_and_upgraded_at_start_and_keeps_working(
    sqlite_url: str,
) -> None:
    old = await old_release.create_database(sqlite_url)
    assert (await state(sqlite_url)).status == "unversioned"
    async with serve(sqlite_url) as client:
        after = await state(sqlite_url)
        assert (after.revision, after.status) == (HEAD, "head")
        assert after.tables == TABLES
        await assert_the_old_release_works(client, old)
        await assert_the_audit_log_recorded_the_old_user(sqlite_url, old)
        await assert_the_old_user_gets_a_one_time_code(sqlite_url)
    # A second start finds it at the head and changes nothing.
    async with serve(sqlite_url) as client:
        assert (await state(sqlite_url)).revision == HEAD
        login = await client.post(
            "/auth/login", data={"username": old_release.EMAIL, "password": old_release.PASSWORD}
        )
        assert login.status_code == 200
        access = {"Authorization": f"Bearer {login.json()['access_token']}"}
        assert await revoked_rows(sqlite_url) == 0  # the table came empty with the upgrade
        deleted = await client.request(
            "DELETE", "/auth/me", headers=access, json={"password": old_release.PASSWORD}
        )
        assert deleted.status_code == 204
        assert await revoked_rows(sqlite_url) == 3  # the old release's session and the two sign-ins since
    # A restart (nothing in memory) still refuses the deleted account's access token, without a user read.
    async with serve(sqlite_url) as client:
        refused = await client.get("/claims", headers=access)
        assert refused.status_code == 401


async def revoked_rows(database_url: str) -> int:
    store = SQLAlchemyAdapter(database_url)
    try:
        async with store.engine.connect() as conn:
            return int(
                (await conn.execute(text("SELECT count(*) FROM fastauth_revoked_sessions"))).scalar_one()
            )
    finally:
        await store.close()


FASTAUTH = shutil.which("fastauth", path=os.path.dirname(sys.executable))


def fastauth_db(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`fastauth db ...` in a new process (the console script)."""
    env = {key: value for key, value in os.environ.items() if not key.upper().startswith("FASTAUTH_")}
    env.update(FASTAUTH_DATABASE_URL=database_url, FASTAUTH_SECRET=old_release.SECRET)
    assert FASTAUTH is not None, "console script not installed (pip install -e .)"
    return subprocess.run(
        [FASTAUTH, "db", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.postgres
async def test_a_0_1_0_server_database_is_adopted_at_start_then_refused_until_fastauth_db_upgrade(
    postgres_url: str,
) -> None:
    old = await old_release.create_database(postgres_url)
    with pytest.raises(ConfigError) as refused:
        async with serve(postgres_url):
            pass
    assert str(refused.value) == (
        f"the database schema is at revision 0001 and this fastauth needs {HEAD}: run `fastauth db upgrade` "
        "(it migrates the database FASTAUTH_DATABASE_URL names), then start again"
    )
    # Adopted (stamped at the first revision) but not migrated: a server database waits for the operator.
    adopted = await state(postgres_url)
    assert (adopted.revision, adopted.tables) == ("0001", TABLES - LATER_TABLES)
    check = fastauth_db(postgres_url, "check")
    assert (check.returncode, check.stdout) == (1, "")
    assert check.stderr == f"behind: 0001: behind this fastauth's head {HEAD}; run `fastauth db upgrade`\n"
    upgraded = fastauth_db(postgres_url, "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == f"upgraded from revision 0001 to {HEAD}\n"
    async with serve(postgres_url) as client:
        after = await state(postgres_url)
        assert (after.revision, after.tables) == (HEAD, TABLES)
        await assert_the_old_release_works(client, old)
        await assert_the_audit_log_recorded_the_old_user(postgres_url, old)
        await assert_the_old_user_gets_a_one_time_code(postgres_url)


@pytest.mark.postgres
async def test_fastauth_db_upgrade_adopts_an_untouched_0_1_0_server_database(postgres_url: str) -> None:
    old = await old_release.create_database(postgres_url)
    upgraded = fastauth_db(postgres_url, "upgrade")
    assert (upgraded.returncode, upgraded.stderr) == (0, "")
    assert upgraded.stdout == f"adopted the fastauth 0.1.0 tables and upgraded them to revision {HEAD}\n"
    async with serve(postgres_url) as client:
        assert (await state(postgres_url)).tables == TABLES
        await assert_the_old_release_works(client, old)
        await assert_the_audit_log_recorded_the_old_user(postgres_url, old)
        await assert_the_old_user_gets_a_one_time_code(postgres_url)
