"""Passkeys: the `fastauth_passkeys` and `fastauth_passkey_challenges` tables.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 19:00:00.000000

`fastauth_passkeys`: one row per registered WebAuthn credential (its id, COSE public key, sign count,
the user's random handle, a name, transports and backup flags), deleted with its user.
`fastauth_passkey_challenges`: the ceremonies under way, by the SHA-256 of their challenge, single-use.
Frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_passkeys",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("credential_id", sa.String(1400), nullable=False, unique=True),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("sign_count", sa.BigInteger, nullable=False),
        sa.Column("user_handle", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("transports", sa.String(200), nullable=False),
        sa.Column("aaguid", sa.String(36), nullable=False),
        sa.Column("backup_eligible", sa.Boolean, nullable=False),
        sa.Column("backed_up", sa.Boolean, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=True),
    )
    op.create_index("ix_fastauth_passkeys_user", "fastauth_passkeys", ["user_id"])
    op.create_table(
        "fastauth_passkey_challenges",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("purpose", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("user_id", sa.String(64), nullable=True),
        sa.Column("data", sa.String(128), nullable=True),
    )
    op.create_index("ix_fastauth_passkey_challenges_expires", "fastauth_passkey_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_passkey_challenges_expires", table_name="fastauth_passkey_challenges")
    op.drop_table("fastauth_passkey_challenges")
    op.drop_index("ix_fastauth_passkeys_user", table_name="fastauth_passkeys")
    op.drop_table("fastauth_passkeys")
