"""The search vocabulary's generation, and a saved copy of the vocabulary for new processes.

Reading a large index's vocabulary (``fts5vocab`` / ``ts_stat``) takes a few hundred
milliseconds at 100k papers, which a one-off ``papers-bot search`` paid on every start. One row:
``generation`` goes up with every write of papers (`Store.upsert_papers`, in the same
transaction); a searcher that read the vocabulary from the index saves it with the generation it
read, and a new process uses that copy while the two still match.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    table = op.create_table(
        "search_vocabulary",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("generation", sa.BigInteger, nullable=False),
        sa.Column("snapshot_generation", sa.BigInteger, nullable=True),
        sa.Column("documents", sa.Integer, nullable=True),
        sa.Column("words", sa.Text, nullable=True),
        sa.Column("counts", sa.LargeBinary, nullable=True),
    )
    op.bulk_insert(table, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("search_vocabulary")
