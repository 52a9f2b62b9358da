"""Campaigns: campaigns and campaign_steps (the Table 1 workflow and its resume state).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | None = None
depends_on: str | None = None

BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "campaigns",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("title", sa.String(255), nullable=False),
        sa.Column("file_path", sa.Text(), nullable=False),
        sa.Column("file_sha256", sa.String(64), nullable=False),
        sa.Column("definition", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("ended_ts", sa.Float(), nullable=True),
        sa.Column("clock_sim_ts", sa.Float(), nullable=False),
        sa.Column("clock_wall_ts", sa.Float(), nullable=False),
        sa.Column("clock_scale", sa.Float(), nullable=False),
        sa.Column("sessions", sa.Integer(), nullable=False),
    )
    op.create_table(
        "campaign_steps",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("campaign_id", sa.String(64), sa.ForeignKey("campaigns.id"), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("sample_id", sa.String(64), nullable=True),
        sa.Column("specimen_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("tried_runs", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("started_ts", sa.Float(), nullable=True),
        sa.Column("ended_ts", sa.Float(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.UniqueConstraint("campaign_id", "key", name="uq_campaign_steps_key"),
    )
    op.create_index("ix_campaign_steps_campaign_id", "campaign_steps", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_campaign_steps_campaign_id", table_name="campaign_steps")
    op.drop_table("campaign_steps")
    op.drop_table("campaigns")
