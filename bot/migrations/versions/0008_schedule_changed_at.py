"""Channels remember when their schedule last changed, apart from any other change.

A digest due before a channel's schedule changed is not owed (the new time is the channel's
from the next one on). That was read from ``channels.updated_at``, which every change bumps: a
restart whose config adds a topic to a channel dropped the digest it was about to catch up.
``schedule_changed_at`` is set only when the time, time zone, weekdays or pause change;
existing channels start from ``updated_at``, the best that is known. Nullable, so SQLite adds
it in place instead of copying the table.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("channels", sa.Column("schedule_changed_at", UTCDateTime, nullable=True))
    op.execute("UPDATE channels SET schedule_changed_at = updated_at")


def downgrade() -> None:
    # A plain DROP COLUMN: PostgreSQL and SQLite (3.35 and later) both have it.
    op.execute("ALTER TABLE channels DROP COLUMN schedule_changed_at")
