"""Alarm states (ISA-18.2): who acknowledged, shelved or cleared an alarm, and when; the
station that raised it.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | None = None
depends_on: str | None = None

COLUMNS = (
    ("station", sa.String(64)),
    ("cleared_ts", sa.Float()),
    ("cleared_by", sa.String(64)),
    ("acked_ts", sa.Float()),
    ("acked_by", sa.String(64)),
    ("shelved_until_wall", sa.Float()),
    ("shelved_by", sa.String(64)),
    ("shelve_reason", sa.Text()),
)


def upgrade() -> None:
    with op.batch_alter_table("alarms") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))
    op.create_index("ix_alarms_station", "alarms", ["station"])


def downgrade() -> None:
    op.drop_index("ix_alarms_station", table_name="alarms")
    with op.batch_alter_table("alarms") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
