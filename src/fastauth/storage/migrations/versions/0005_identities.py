"""Sign-in providers: the `fastauth_identities` and `fastauth_oauth_states` tables.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 16:10:00.000000

`fastauth_identities`: a provider account (issuer, subject; unique) linked to a user, deleted with
the user. `fastauth_oauth_states`: a provider sign-in under way, consumed once by its callback, no
foreign key (a sign-in that creates an account has no user yet). Frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "fastauth_identities",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "user_id",
            sa.String(64),
            sa.ForeignKey("fastauth_users.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("issuer", sa.String(255), nullable=False),
        sa.Column("subject", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("last_used_at", sa.BigInteger, nullable=False),
        sa.Column("tokens_sealed", sa.Text, nullable=True),
        sa.UniqueConstraint("issuer", "subject", name="uq_fastauth_identities_issuer_subject"),
    )
    op.create_index("ix_fastauth_identities_user", "fastauth_identities", ["user_id"])
    op.create_table(
        "fastauth_oauth_states",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("verifier", sa.String(128), nullable=False),
        sa.Column("nonce", sa.String(128), nullable=False),
        sa.Column("redirect_to", sa.String(2048), nullable=False),
        sa.Column("delivery", sa.String(16), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("link_user_id", sa.String(64), nullable=True),
        sa.Column("link_session_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_fastauth_oauth_states_expires", "fastauth_oauth_states", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_fastauth_oauth_states_expires", table_name="fastauth_oauth_states")
    op.drop_table("fastauth_oauth_states")
    op.drop_index("ix_fastauth_identities_user", table_name="fastauth_identities")
    op.drop_table("fastauth_identities")
