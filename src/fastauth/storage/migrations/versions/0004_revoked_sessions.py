"""Revocations that outlive their session: the `fastauth_revoked_sessions` table.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 16:40:00.000000

Deleting an account deletes its sessions; their revocations move here (session id and when), so a
process that starts afterwards still refuses the access tokens of those sessions until they could
no longer verify anyway (`prune_sessions` then drops them). No foreign key: the account is gone.
Frozen, like every revision: later changes come as new ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_revoked_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("revoked_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_fastauth_revoked_sessions_revoked", "fastauth_revoked_sessions", ["revoked_at"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_revoked_sessions_revoked", table_name="fastauth_revoked_sessions")
    op.drop_table("fastauth_revoked_sessions")
