"""fastauth 0.1.0's schema: users, sessions, signing keys.

Revision ID: 0001
Revises:
Create Date: 2026-12-01

The tables exactly as 0.1.0's `Base.metadata.create_all` made them (commit 3b88d31), written out here
once and frozen: later revisions change them, this one never does. `SCHEMA` is also what an unversioned
0.1.0 database is checked against before it is stamped with this revision.
"""

from __future__ import annotations

from alembic import op
from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, MetaData, String, Table, Text

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

SCHEMA = MetaData()

Table(
    "fastauth_users",
    SCHEMA,
    Column("id", String(64), primary_key=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("hashed_password", Text, nullable=False),
    Column("is_active", Boolean, nullable=False),
    Column("is_verified", Boolean, nullable=False),
    Column("is_superuser", Boolean, nullable=False),
    Column("roles", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
)
Table(
    "fastauth_sessions",
    SCHEMA,
    Column("id", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("fastauth_users.id", ondelete="CASCADE"), nullable=False),
    Column("refresh_jti", String(64), nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Column("ip", String(64), nullable=True),
    Column("user_agent", String(512), nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
    Column("previous_jti", String(64), nullable=True),
    Column("rotated_at", BigInteger, nullable=True),
    Index("ix_fastauth_sessions_user", "user_id"),
    Index("ix_fastauth_sessions_expires", "expires_at"),
    Index("ix_fastauth_sessions_revoked", "revoked_at"),
)
Table(
    "fastauth_keys",
    SCHEMA,
    Column("kid", String(128), primary_key=True),
    Column("algorithm", String(16), nullable=False),
    Column("generation", BigInteger, nullable=False, unique=True),
    Column("public_pem", Text, nullable=False),
    Column("private_sealed", Text, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    Column("activate_at", BigInteger, nullable=False),
    Column("retired_at", BigInteger, nullable=True),
)


def upgrade() -> None:
    # `create_all` emits the same DDL as 0.1.0 did (tests/storage/schema_0_1_0.sql holds it).
    SCHEMA.create_all(op.get_bind())


def downgrade() -> None:
    SCHEMA.drop_all(op.get_bind())
