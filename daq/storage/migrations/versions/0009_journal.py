"""The journal's applied-record ids (idempotent replay of the station's journal).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
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
        "journal_applied",
        sa.Column("id", sa.String(36), primary_key=True),
        sa.Column("op", sa.String(32), nullable=False),
        sa.Column("applied_wall_ts", sa.Float(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("journal_applied")
