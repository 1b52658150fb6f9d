"""One-time codes: the `fastauth_codes` table (email verification, password reset, email change).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01 13:50:30.403370

A code is stored as its hex SHA-256 only (unique), bound to one user (deleted with it) and one purpose;
`consumed_at` marks it used or voided. Frozen, like every revision: later changes come as new ones.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_codes",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("purpose", sa.String(32), nullable=False),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("consumed_at", sa.BigInteger, nullable=True),
        sa.Column("data", sa.Text, nullable=True),
    )
    op.create_index("ix_fastauth_codes_user_purpose", "fastauth_codes", ["user_id", "purpose"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_codes_user_purpose", table_name="fastauth_codes")
    op.drop_table("fastauth_codes")
