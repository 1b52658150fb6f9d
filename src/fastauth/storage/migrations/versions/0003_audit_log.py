"""The audit log: the `fastauth_audit` table (one row per security event, account-security §9).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 14:16:45.859098

`user_id` has no foreign key, so the record of an account's deletion outlives the account; rows are
pruned by age (`audit_retention_days`). Frozen, like every revision: later changes come as new ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_audit",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("ip", sa.String(64), nullable=True),
        sa.Column("user_agent", sa.String(512), nullable=True),
        sa.Column("detail", sa.String(200), nullable=True),
    )
    op.create_index("ix_fastauth_audit_user_at", "fastauth_audit", ["user_id", "at"])
    op.create_index("ix_fastauth_audit_at", "fastauth_audit", ["at"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_audit_at", table_name="fastauth_audit")
    op.drop_index("ix_fastauth_audit_user_at", table_name="fastauth_audit")
    op.drop_table("fastauth_audit")
