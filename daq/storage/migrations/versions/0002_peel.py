"""Peel testing: peel_tests (settings, outcome, packed force curve) and peel_results.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "peel_tests",
        sa.Column("id", sa.String(64), sa.ForeignKey("runs.id"), primary_key=True),
        sa.Column("specimen_id", sa.String(64), sa.ForeignKey("specimens.id"), nullable=True),
        sa.Column("specimen_label", sa.String(64), nullable=False),
        sa.Column("sample_id", sa.String(64), nullable=True),
        sa.Column("laminate_id", sa.String(64), nullable=True),
        sa.Column("aging_hours", sa.Float(), nullable=True),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("width_mm", sa.Float(), nullable=False),
        sa.Column("speed_mm_per_min", sa.Float(), nullable=False),
        sa.Column("angle_deg", sa.Float(), nullable=False),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("end_reason", sa.String(32), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("ended_ts", sa.Float(), nullable=True),
        sa.Column("n_points", sa.Integer(), nullable=False),
        sa.Column("garbled_lines", sa.Integer(), nullable=False),
        sa.Column("curve_format", sa.String(16), nullable=False),
        sa.Column("curve", sa.LargeBinary(), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Packed floats do not compress: store the curve out of line, uncompressed.
        op.execute("ALTER TABLE peel_tests ALTER COLUMN curve SET STORAGE EXTERNAL")
    op.create_index("ix_peel_tests_specimen_id", "peel_tests", ["specimen_id"])
    op.create_index("ix_peel_tests_sample_id", "peel_tests", ["sample_id"])
    op.create_index("ix_peel_tests_started_ts", "peel_tests", ["started_ts"])
    op.create_table(
        "peel_results",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("peel_test_id", sa.String(64), sa.ForeignKey("peel_tests.id"), nullable=False),
        sa.Column("specimen_id", sa.String(64), nullable=True),
        sa.Column("sample_id", sa.String(64), nullable=True),
        sa.Column("aging_hours", sa.Float(), nullable=True),
        sa.Column("peel_strength_n_per_cm", sa.Float(), nullable=False),
        sa.Column("mean_force_n", sa.Float(), nullable=False),
        sa.Column("min_force_n", sa.Float(), nullable=False),
        sa.Column("max_force_n", sa.Float(), nullable=False),
        sa.Column("sd_force_n", sa.Float(), nullable=False),
        sa.Column("n_samples", sa.Integer(), nullable=False),
        sa.Column("garbled_lines", sa.Integer(), nullable=False),
        sa.Column("steady_start_mm", sa.Float(), nullable=False),
        sa.Column("steady_end_mm", sa.Float(), nullable=False),
        sa.Column("width_mm", sa.Float(), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.Column("computed_ts", sa.Float(), nullable=False),
    )
    op.create_index("ix_peel_results_peel_test_id", "peel_results", ["peel_test_id"], unique=True)
    op.create_index("ix_peel_results_specimen_id", "peel_results", ["specimen_id"])
    op.create_index("ix_peel_results_sample_id", "peel_results", ["sample_id"])


def downgrade() -> None:
    op.drop_table("peel_results")
    op.drop_table("peel_tests")
