"""Papers keep their title's words alone (``title_key``), indexed: a search for a paper's exact
title finds it first, however old it is and however common its words.

The key is `bot.words.text_key` of the title (lower-cased words, punctuation and accents
gone), so it is filled here for the papers already stored, in batches. On PostgreSQL that
rewrites every row once (and computes its search vector again): about as long as loading the
papers again.

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.words import text_key

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_BATCH = 5000


def upgrade() -> None:
    op.add_column("papers", sa.Column("title_key", sa.Text, nullable=True))
    bind = op.get_bind()
    papers = sa.table("papers", sa.column("pk", sa.Integer), sa.column("title", sa.Text))
    update = sa.text("UPDATE papers SET title_key = :key WHERE pk = :pk")
    last = 0
    while True:
        rows = bind.execute(
            sa.select(papers.c.pk, papers.c.title)
            .where(papers.c.pk > last)
            .order_by(papers.c.pk)
            .limit(_BATCH)
        ).all()
        if not rows:
            break
        bind.execute(update, [{"pk": pk, "key": text_key(title or "")} for pk, title in rows])
        last = rows[-1].pk
    # Only ever looked up by equality: on PostgreSQL a hash index, cheaper to add to than a
    # B-tree comparing texts by the database's collation.
    method = "hash" if bind.dialect.name == "postgresql" else None
    op.create_index("ix_papers_title_key", "papers", ["title_key"], postgresql_using=method)


def downgrade() -> None:
    op.drop_index("ix_papers_title_key", table_name="papers")
    op.execute("ALTER TABLE papers DROP COLUMN title_key")
