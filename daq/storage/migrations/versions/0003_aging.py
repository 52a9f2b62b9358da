"""Aging runs: aging_runs (plan and hour accounting), aging_excursions, aging_pullouts.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

#: 64-bit autoincrement key on PostgreSQL (BIGSERIAL), rowid alias on SQLite.
BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "aging_runs",
        sa.Column("id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("oven", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("setpoint_c", sa.Float(), nullable=False),
        sa.Column("tolerance_c", sa.Float(), nullable=False),
        sa.Column("target_h", sa.Float(), nullable=False),
        sa.Column("specimen_plan", sa.JSON(), nullable=False),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("accounted_until_ts", sa.Float(), nullable=False),
        sa.Column("in_tolerance_s", sa.Float(), nullable=False),
        sa.Column("out_of_tolerance_s", sa.Float(), nullable=False),
        sa.Column("unmonitored_s", sa.Float(), nullable=False),
        sa.Column("rows_out_of_order", sa.Integer(), nullable=False),
        sa.Column("excursion_count", sa.Integer(), nullable=False),
        sa.Column("open_excursion_id", sa.Integer(), nullable=True),
        sa.Column("pullouts_announced", sa.JSON(), nullable=False),
        sa.Column("last_pv_c", sa.Float(), nullable=True),
        sa.Column("completed_ts", sa.Float(), nullable=True),
        sa.Column("checkpoint_wall_ts", sa.Float(), nullable=True),
        sa.Column("resumes", sa.Integer(), nullable=False),
    )
    op.create_index("ix_aging_runs_status", "aging_runs", ["status"])
    op.create_table(
        "aging_excursions",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("aging_runs.id"), nullable=False),
        sa.Column("start_ts", sa.Float(), nullable=False),
        sa.Column("end_ts", sa.Float(), nullable=True),
        sa.Column("last_out_ts", sa.Float(), nullable=False),
        sa.Column("peak_deviation_c", sa.Float(), nullable=False),
        sa.Column("peak_pv_c", sa.Float(), nullable=False),
        sa.Column("alarm_raised", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_aging_excursions_run_id", "aging_excursions", ["run_id"])
    op.create_table(
        "aging_pullouts",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("aging_runs.id"), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("planned_h", sa.Float(), nullable=True),
        sa.Column("in_tolerance_h", sa.Float(), nullable=False),
        sa.Column("specimen_ids", sa.JSON(), nullable=False),
        sa.Column("operator", sa.String(64), nullable=True),
    )
    op.create_index("ix_aging_pullouts_run_id", "aging_pullouts", ["run_id"])


def downgrade() -> None:
    op.drop_index("ix_aging_pullouts_run_id", table_name="aging_pullouts")
    op.drop_table("aging_pullouts")
    op.drop_index("ix_aging_excursions_run_id", table_name="aging_excursions")
    op.drop_table("aging_excursions")
    op.drop_index("ix_aging_runs_status", table_name="aging_runs")
    op.drop_table("aging_runs")
