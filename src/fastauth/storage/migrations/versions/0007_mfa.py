"""Second factors: the `fastauth_mfa` and `fastauth_recovery_codes` tables.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 16:55:00.000000

`fastauth_mfa`: one row per user with a TOTP secret (sealed), when enrolment was confirmed and the last
time step accepted (the replay guard of RFC 6238 §5.2). `fastauth_recovery_codes`: single-use codes kept
as keyed hashes. Both are deleted with their user. Frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_mfa",
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("totp_sealed", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("confirmed_at", sa.BigInteger, nullable=True),
        sa.Column("last_step", sa.BigInteger, nullable=True),
    )
    op.create_table(
        "fastauth_recovery_codes",
        sa.Column("code_hash", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("used_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_fastauth_recovery_codes_user", "fastauth_recovery_codes", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_recovery_codes_user", table_name="fastauth_recovery_codes")
    op.drop_table("fastauth_recovery_codes")
    op.drop_table("fastauth_mfa")
