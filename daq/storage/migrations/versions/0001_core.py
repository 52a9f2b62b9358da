"""Core tables: instruments, samples, laminates, specimens, runs, run_events, readings,
mqtt_outbox, alarms, audit_log.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None

#: 64-bit autoincrement key on PostgreSQL (BIGSERIAL), rowid alias on SQLite.
BIG_PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "instruments",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("idn", sa.String(255), nullable=True),
        sa.Column("last_seen_ts", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    )
    op.create_table(
        "samples",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("material_key", sa.String(32), nullable=False),
        sa.Column("material_name", sa.String(128), nullable=False),
        sa.Column("adhesive_thickness_um", sa.Float(), nullable=False),
        sa.Column("film_forms", sa.Boolean(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_ts", sa.Float(), nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("recipe", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("operator", sa.String(64), nullable=True),
        sa.Column("sample_id", sa.String(64), nullable=True),
        sa.Column("station", sa.String(64), nullable=True),
        sa.Column("started_ts", sa.Float(), nullable=False),
        sa.Column("ended_ts", sa.Float(), nullable=True),
        sa.Column("readings_stored", sa.BigInteger(), nullable=False),
        sa.Column("last_reading_ts", sa.Float(), nullable=True),
    )
    op.create_index("ix_runs_kind", "runs", ["kind"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_index("ix_runs_started_ts", "runs", ["started_ts"])
    op.create_table(
        "laminates",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("press_run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=True),
        sa.Column("created_ts", sa.Float(), nullable=False),
    )
    op.create_index("ix_laminates_sample_id", "laminates", ["sample_id"])
    op.create_table(
        "specimens",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("laminate_id", sa.String(64), sa.ForeignKey("laminates.id"), nullable=True),
        sa.Column("sample_id", sa.String(64), sa.ForeignKey("samples.id"), nullable=False),
        sa.Column("width_mm", sa.Float(), nullable=False),
        sa.Column("aging_hours", sa.Float(), nullable=False),
        sa.Column("aging_run_id", sa.String(64), nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
    )
    op.create_index("ix_specimens_laminate_id", "specimens", ["laminate_id"])
    op.create_index("ix_specimens_sample_id", "specimens", ["sample_id"])
    op.create_table(
        "run_events",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), sa.ForeignKey("runs.id"), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_run_events_run_id", "run_events", ["run_id"])
    op.create_table(
        "readings",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("channel", sa.String(64), nullable=False),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("unit", sa.String(16), nullable=False),
        sa.Column("replayed", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_readings_run_id_ts", "readings", ["run_id", "ts"])
    op.create_table(
        "mqtt_outbox",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("message_id", sa.String(36), nullable=False, unique=True),
        sa.Column("topic", sa.String(255), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("qos", sa.Integer(), nullable=False),
        sa.Column("retain", sa.Boolean(), nullable=False),
        sa.Column("created_ts", sa.Float(), nullable=False),
        sa.Column("published_ts", sa.Float(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
    )
    op.create_index("ix_mqtt_outbox_unpublished", "mqtt_outbox", ["published_ts", "id"])
    op.create_table(
        "alarms",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("run_id", sa.String(64), nullable=True),
        sa.Column("data", sa.JSON(), nullable=False),
    )
    op.create_index("ix_alarms_ts", "alarms", ["ts"])
    op.create_index("ix_alarms_run_id", "alarms", ["run_id"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_PK, primary_key=True, autoincrement=True),
        sa.Column("ts", sa.Float(), nullable=False),
        sa.Column("wall_ts", sa.Float(), nullable=False),
        sa.Column("user", sa.String(64), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("target", sa.String(128), nullable=True),
        sa.Column("from_state", sa.String(32), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("result", sa.String(32), nullable=False),
    )
    op.create_index("ix_audit_log_ts", "audit_log", ["ts"])


def downgrade() -> None:
    for table in (
        "audit_log",
        "alarms",
        "mqtt_outbox",
        "readings",
        "run_events",
        "specimens",
        "laminates",
        "runs",
        "samples",
        "instruments",
    ):
        op.drop_table(table)
