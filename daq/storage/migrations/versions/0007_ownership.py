"""Ownership: instrument_claims (one controller per instrument) and instruments keyed by
(station, name), so that two stations on one database keep their own rows.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | None = None
depends_on: str | None = None


def _instruments(keyed_by_station: bool) -> sa.Table:
    """The instruments table as it is after (or before) this revision."""
    columns: list[sa.Column[object]] = [
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("driver", sa.String(64), nullable=False),
        sa.Column("resource", sa.String(255), nullable=False),
        sa.Column("idn", sa.String(255), nullable=True),
        sa.Column("last_seen_ts", sa.Float(), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
    ]
    key = ["name"]
    if keyed_by_station:
        columns.insert(0, sa.Column("station", sa.String(64), nullable=False))
        key = ["station", "name"]
    return sa.Table("instruments", sa.MetaData(), *columns,
                    sa.PrimaryKeyConstraint(*key, name="instruments_pkey"))


def _rekey_instruments(keyed_by_station: bool) -> None:
    """Move the primary key of ``instruments`` to (station, name) or back to (name)."""
    if op.get_bind().dialect.name == "sqlite":
        # SQLite cannot alter a primary key: re-create the table from its new definition.
        with op.batch_alter_table("instruments", recreate="always",
                                  copy_from=_instruments(keyed_by_station)):
            pass
        return
    op.drop_constraint("instruments_pkey", "instruments", type_="primary")
    op.create_primary_key("instruments_pkey", "instruments",
                          ["station", "name"] if keyed_by_station else ["name"])


def upgrade() -> None:
    op.create_table(
        "instrument_claims",
        sa.Column("resource", sa.String(255), primary_key=True),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("instrument", sa.String(64), nullable=False),
        sa.Column("host", sa.String(255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("instance", sa.String(36), nullable=False),
        sa.Column("claimed_since", sa.Float(), nullable=False),
        sa.Column("heartbeat", sa.Float(), nullable=False),
    )
    op.create_index("ix_instrument_claims_station", "instrument_claims", ["station"])
    op.create_index("ix_instrument_claims_instance", "instrument_claims", ["instance"])
    # Rows of before carry no station: "" says unknown (the station that wrote them
    # rewrites its own rows under its id on its next start).
    op.add_column("instruments", sa.Column("station", sa.String(64), nullable=False,
                                           server_default=""))
    if op.get_bind().dialect.name != "sqlite":  # SQLite's re-created table has no default
        op.alter_column("instruments", "station", server_default=None)
    _rekey_instruments(keyed_by_station=True)


def downgrade() -> None:
    # Back to one row per name: keep, of each name, the row of the smallest station id.
    op.execute(
        "DELETE FROM instruments WHERE EXISTS (SELECT 1 FROM instruments AS other "
        "WHERE other.name = instruments.name AND other.station < instruments.station)"
    )
    _rekey_instruments(keyed_by_station=False)  # on SQLite the re-created table drops it
    if op.get_bind().dialect.name != "sqlite":
        op.drop_column("instruments", "station")
    op.drop_index("ix_instrument_claims_instance", table_name="instrument_claims")
    op.drop_index("ix_instrument_claims_station", table_name="instrument_claims")
    op.drop_table("instrument_claims")
