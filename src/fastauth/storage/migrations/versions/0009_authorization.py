"""Authorization: the `fastauth_roles` and `fastauth_api_keys` tables, and who acted in the audit log.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 21:30:00.000000

`fastauth_roles`: each role's name, permissions (space-separated) and description; which users hold a
role stays in `fastauth_users.roles`. `fastauth_api_keys`: API keys by the SHA-256 of the key (never
the key), with their owner, scopes, expiry, last use and revocation, deleted with their user.
`fastauth_audit.actor_id`: the administrator who acted on an account. Frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_roles",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("permissions", sa.Text, nullable=False),
        sa.Column("description", sa.String(200), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "fastauth_api_keys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("scopes", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=True),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_fastauth_api_keys_user", "fastauth_api_keys", ["user_id"])
    op.add_column("fastauth_audit", sa.Column("actor_id", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fastauth_audit") as batch:  # SQLite drops a column by a copy
        batch.drop_column("actor_id")
    op.drop_index("ix_fastauth_api_keys_user", table_name="fastauth_api_keys")
    op.drop_table("fastauth_api_keys")
    op.drop_table("fastauth_roles")
