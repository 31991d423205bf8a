"""Papers lose their index on the featured date alone (``ix_papers_featured_date``): the index
on (featured_date, upvotes) from 0001 serves every query by date as its first column (a day's
papers, a range of days, the latest day), so each new or moved paper was written into two
indexes for the use of one.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_papers_featured_date", table_name="papers")


def downgrade() -> None:
    op.create_index("ix_papers_featured_date", "papers", ["featured_date"])
