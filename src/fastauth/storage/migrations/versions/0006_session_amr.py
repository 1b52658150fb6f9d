"""How a session signed in: the `amr` column of `fastauth_sessions`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 16:40:00.000000

RFC 8176 authentication method references (`pwd`, `fed`, ...), space-separated; the session's
`created_at` is its `auth_time`. Every access token of the session carries both, so a route can ask for
a recent or a stronger sign-in (RFC 9470). Nullable: sessions from before say nothing (and are treated
as not recent). Frozen, like every revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.add_column("fastauth_sessions", sa.Column("amr", sa.String(64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("fastauth_sessions") as batch:  # SQLite drops a column by a copy
        batch.drop_column("amr")
