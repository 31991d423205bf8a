"""Paper embeddings for semantic matching (``bot/semantic.py``).

One row per paper and model: the vector as little-endian float32 bytes (BLOB on SQLite, bytea on
PostgreSQL), its dimension, and a hash of the text it was made from, so a changed title or
abstract is re-embedded. A re-embedded paper gets a new row (a new ``id``): ``id`` is the change
feed a search process follows to keep its in-memory matrix current.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "paper_embeddings",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "paper_pk",
            sa.Integer,
            sa.ForeignKey("papers.pk", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("arxiv_id", sa.String(64), nullable=False),
        sa.Column("model", sa.String(300), nullable=False),
        sa.Column("dim", sa.Integer, nullable=False),
        sa.Column("text_hash", sa.String(32), nullable=False),
        sa.Column("vector", sa.LargeBinary, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.UniqueConstraint("paper_pk", "model", name="uq_paper_embeddings_paper_model"),
    )
    op.create_index("ix_paper_embeddings_model_id", "paper_embeddings", ["model", "id"])


def downgrade() -> None:
    op.drop_index("ix_paper_embeddings_model_id", table_name="paper_embeddings")
    op.drop_table("paper_embeddings")
