"""Laser drilling: laser_jobs and laser_holes.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "laser_jobs",
        sa.Column("id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("job_name", sa.String(64), nullable=False),
        sa.Column("n_holes", sa.Integer(), nullable=False),
        sa.Column("holes_done", sa.Integer(), nullable=False),
        sa.Column("diameter_um", sa.Float(), nullable=False),
        sa.Column("pulse_frequency_hz", sa.Float(), nullable=False),
        sa.Column("hole_rate_hz", sa.Float(), nullable=False),
        sa.Column("power_w", sa.Float(), nullable=False),
        sa.Column("wavelength_nm", sa.Float(), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("stop_cause", sa.String(16), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("grade", sa.String(4), nullable=True),
        sa.Column("holes_inspected", sa.Integer(), nullable=False),
        sa.Column("holes_open", sa.Integer(), nullable=False),
        sa.Column("holes_with_dross", sa.Integer(), nullable=False),
        sa.Column("open_share", sa.Float(), nullable=True),
        sa.Column("dross_share", sa.Float(), nullable=True),
        sa.Column("median_taper", sa.Float(), nullable=True),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("ended_ts", sa.Float(), nullable=False),
    )
    op.create_index("ix_laser_jobs_sample_id", "laser_jobs", ["sample_id"])
    op.create_index("ix_laser_jobs_grade", "laser_jobs", ["grade"])
    op.create_table(
        "laser_holes",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("job_id", sa.String(64), sa.ForeignKey("laser_jobs.id"), nullable=False),
        sa.Column("hole_index", sa.Integer(), nullable=False),
        sa.Column("top_um", sa.Float(), nullable=False),
        sa.Column("bottom_um", sa.Float(), nullable=False),
        sa.Column("dross", sa.Boolean(), nullable=False),
        sa.Column("grade", sa.String(4), nullable=False),
        sa.UniqueConstraint("job_id", "hole_index", name="uq_laser_holes_job_hole"),
    )
    op.create_index("ix_laser_holes_job_id", "laser_holes", ["job_id"])


def downgrade() -> None:
    op.drop_index("ix_laser_holes_job_id", table_name="laser_holes")
    op.drop_table("laser_holes")
    op.drop_index("ix_laser_jobs_grade", table_name="laser_jobs")
    op.drop_index("ix_laser_jobs_sample_id", table_name="laser_jobs")
    op.drop_table("laser_jobs")
