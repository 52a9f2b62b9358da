"""Run queue: queue_items (each station's queued, running and finished items).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
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
        "queue_items",
        sa.Column("uid", sa.String(36), primary_key=True),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("operator", sa.String(64), nullable=True),
        sa.Column("added_wall", sa.Float(), nullable=False),
        sa.Column("started_wall", sa.Float(), nullable=True),
        sa.Column("ended_wall", sa.Float(), nullable=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=True),
        sa.Column("message", sa.Text(), nullable=True),
    )
    op.create_index("ix_queue_items_station_state", "queue_items", ["station", "state"])


def downgrade() -> None:
    op.drop_index("ix_queue_items_station_state", table_name="queue_items")
    op.drop_table("queue_items")
