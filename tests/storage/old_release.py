"""A fastauth 0.1.0 database, built without 0.1.0's code: its DDL as captured in `schema_0_1_0.sql`, and
rows as 0.1.0 wrote them (an argon2id hash, a session holding its refresh token's `jti`, a sealed key)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from fastauth.keys.sealing import seal
from fastauth.storage.sqlalchemy import async_url, schema
from fastauth.tokens import KeyRing, SigningKey, TokenEngine

DDL = Path(__file__).with_name("schema_0_1_0.sql")
SECRET = "old-release-secret-" + "s" * 45
EMAIL = "old@example.com"
PASSWORD = "the password from 0.1.0"
USER_ID = "u0old0release0user"
SESSION_ID = "s0old0release0session"


def ddl_statements() -> list[str]:
    """The CREATE statements of 0.1.0's schema, in order."""
    body = "\n".join(line for line in DDL.read_text().splitlines() if not line.startswith("--"))
    return [statement.strip() for statement in body.split(";") if statement.strip()]


async def execute(database_url: str, *statements: str, params: list[dict[str, object]] | None = None) -> None:
    """Run statements on the database in one transaction (with `params`, one statement per parameter set)."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            for index, statement in enumerate(statements):
                await conn.execute(text(statement), params[index] if params else None)
    finally:
        await engine.dispose()


async def upgrade_to(database_url: str, revision: str) -> None:
    """Run fastauth's revisions on the database up to `revision`: what an earlier fastauth left behind."""
    engine = create_async_engine(async_url(database_url))
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: schema.upgrade(sync, revision=revision))
    finally:
        await engine.dispose()


async def create_schema(database_url: str) -> None:
    """0.1.0's tables, no rows, no version table."""
    await execute(database_url, *ddl_statements())


@dataclass(frozen=True)
class OldRelease:
    """What a 0.1.0 server left behind: its key's id, a refresh token and an access token it issued."""

    kid: str
    refresh_token: str
    access_token: str


async def create_database(database_url: str) -> OldRelease:
    """A 0.1.0 database on RS256 with its key in `fastauth_keys`, one user with one live session."""
    await create_schema(database_url)
    now = int(time.time())
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = SigningKey.from_keys("RS256", private, private.public_key())
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode("ascii")
    public_pem = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    engine = TokenEngine(KeyRing([key], active_kid=key.kid))  # 0.1.0's defaults: iss/aud "fastauth"
    refresh = engine.issue_refresh(USER_ID, SESSION_ID, not_after=now + 30 * 24 * 3600)
    access = engine.issue_access(USER_ID, SESSION_ID)
    hashed = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=1024, parallelism=1),)).hash(PASSWORD)
    await execute(
        database_url,
        "INSERT INTO fastauth_users (id, email, hashed_password, is_active, is_verified, is_superuser, roles,"
        " created_at) VALUES (:id, :email, :hashed, :yes, :no, :no, :roles, :now)",
        "INSERT INTO fastauth_sessions (id, user_id, refresh_jti, created_at, last_used_at, expires_at, ip,"
        " user_agent, revoked_at, previous_jti, rotated_at) VALUES (:id, :user_id, :jti, :now, :now,"
        " :expires, :ip, :agent, NULL, NULL, NULL)",
        "INSERT INTO fastauth_keys (kid, algorithm, generation, public_pem, private_sealed, created_at,"
        " activate_at, retired_at) VALUES (:kid, 'RS256', 0, :public, :sealed, :now, :now, NULL)",
        params=[
            {
                "id": USER_ID,
                "email": EMAIL,
                "hashed": hashed,
                "yes": True,
                "no": False,
                "roles": "",
                "now": now,
            },
            {
                "id": SESSION_ID,
                "user_id": USER_ID,
                "jti": refresh.jti,
                "now": now - 60,
                "expires": now + 30 * 24 * 3600,
                "ip": "127.0.0.1",
                "agent": "fastauth 0.1.0 test",
            },
            {
                "kid": key.kid,
                "public": public_pem,
                "sealed": seal(SECRET, key.kid, private_pem),
                "now": now - 60,
            },
        ],
    )
    return OldRelease(kid=key.kid, refresh_token=refresh.token, access_token=access.token)
