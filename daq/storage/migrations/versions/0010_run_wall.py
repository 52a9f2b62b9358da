"""runs.started_wall: the real time a run started, for listing runs newest first.

Simulated time jumps (a campaign's runs are stamped weeks ahead), so ordering by
``started_ts`` hid a run made after a campaign. Runs stored before this revision have
no wall-clock start and are listed after those that do.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("started_wall", sa.Float(), nullable=True))
    op.create_index("ix_runs_started_wall", "runs", ["started_wall"])


def downgrade() -> None:
    op.drop_index("ix_runs_started_wall", table_name="runs")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("started_wall")
